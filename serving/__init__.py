"""The serving layer: what makes generation fast for a class, kept apart from the teaching core.

models/ holds the model exactly as transformers builds it, and the maths the pages teach; every page's forward
pass runs on that stock model. This package owns the generation engine (engine.py: continuous batching, its own
KV cache, and for Llama-shaped decoders the lean decode step of lean_step.py, which reads the model's own weight
tensors). Which step runs is one switch, ``TX_ENGINE`` (config.py): ``fast`` (default: the lean step where the
model allows it, else transformers' forward, with the reason logged once) or ``hf`` (transformers' forward always).

An earlier version also routed every ``nn.Linear`` through oneDNN-packed weight copies. Measured against plain
``nn.Linear`` (MKL) on the same machine, with torch's OpenMP threads set up as the engine now sets them, the
packed products were slower at every batch size, so they are gone (docs/generation.md).
"""
