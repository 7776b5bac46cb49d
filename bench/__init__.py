"""`make bench`: load, conversion, trace-overhead, memory and browser-render measurements (see bench/run.py)."""
