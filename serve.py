"""Start the explainer with both bundled models already loaded: `python serve.py [streamlit flags]`.

`make run` uses this. Loading torch, transformers and the models before the server accepts connections
means the first class of students does not wait for (or race on) those imports, and the first page
renders in about a second. Any `streamlit run` flag works, e.g. `python serve.py --server.port 8600`.

`--local-model DIR` (repeatable) adds a local checkpoint folder (causal LM or masked LM / BERT-style encoder,
safetensors weights and tokenizer files) to the model picker; so does TX_LOCAL_MODELS=DIR1:DIR2.
"""
import gc
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def take_local_models(argv: list[str]) -> list[str]:
    """Remove ``--local-model DIR`` / ``--local-model=DIR`` from argv; return the directories."""
    dirs, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--local-model" and i + 1 < len(argv):
            dirs.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--local-model="):
            dirs.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        i += 1
    argv[:] = rest
    return dirs


def main() -> None:
    args = sys.argv[1:]
    local = take_local_models(args)
    if local:  # config.py reads TX_LOCAL_MODELS when the registry registers them (below)
        dirs = [os.path.abspath(d) for d in local]
        os.environ["TX_LOCAL_MODELS"] = os.pathsep.join(filter(None, [os.environ.get("TX_LOCAL_MODELS"), *dirs]))
    os.chdir(HERE)
    sys.path.insert(0, HERE)
    t0 = time.perf_counter()
    # Outside a script run Streamlit warns that there is no ScriptRunContext; that is expected here.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    from models.registry import register_configured

    register_configured()
    from components.cache import warm_up
    from components.state import DEFAULT_TEXT
    from models.registry import DEFAULT_DECODER, DEFAULT_ENCODER, LOCAL_ERRORS, REGISTRY

    for error in LOCAL_ERRORS:
        print(f"Local model not added: {error}", flush=True)
    for spec in REGISTRY.values():
        if spec.source == "local":
            print(f"Local model added: {spec.id} ({spec.family}) from {spec.path}", flush=True)

    warm_up((DEFAULT_DECODER, DEFAULT_ENCODER), DEFAULT_TEXT)
    from components.cache import get_model_cached
    from components.engine import _engine

    _engine(DEFAULT_DECODER, get_model_cached(DEFAULT_DECODER))  # the generation worker, warmed before any student
    import components.plots  # noqa: F401  (pandas, plotly: the first page run would import them)
    import components.widgets  # noqa: F401
    print(f"Models loaded in {time.perf_counter() - t0:.1f} s; starting the server...", flush=True)
    from streamlit.web import cli

    # Streamlit runs a full gc.collect() after every script run (runner.postScriptGC). With torch, transformers,
    # pandas, plotly and both models loaded that walks hundreds of thousands of long-lived objects on every click.
    # They live as long as the process: freezing them moves them out of the collector's sight (gc.freeze), and
    # the collection after each run only walks what the run made.
    gc.collect()
    gc.freeze()
    # Each torch call gives the GIL back; under a class's load, winning it again waits for the switch interval
    # (5 ms by default) while page threads run Python. A forward pass makes hundreds of calls, so with several
    # busy page threads it would wait that interval hundreds of times: a 1 ms interval bounds the wait (the
    # load bench, `make load`, measures a class with it).
    sys.setswitchinterval(0.001)
    sys.argv = ["streamlit", "run", os.path.join(HERE, "app.py"), *args]
    cli.main()


if __name__ == "__main__":
    main()
