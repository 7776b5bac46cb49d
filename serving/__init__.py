"""The serving layer: what makes generation fast for a class, kept apart from the teaching core.

models/ holds the model exactly as transformers builds it, and the maths the pages teach; every page's forward
pass runs on that stock model. This package owns the generation engine (engine.py: continuous batching, its own
KV cache, and for Llama-shaped decoders the lean decode step of lean_step.py, which reads the model's own weight
tensors). Which step runs is one switch, ``TX_ENGINE`` (config.py): ``fast`` (default: the lean step where the
model allows it, else transformers' forward, with the reason logged once) or ``hf`` (transformers' forward always).

The lean step multiplies by the model's own weights with MKL's kernel (the one ``nn.Linear`` calls) or oneDNN's,
whichever the engine measures faster on this CPU when it starts (``TX_LINEAR``; the ranking turns over between an
Intel Xeon and an AMD EPYC: docs/generation.md). No copy of the weights is made for it, except the output
layer's blocked copy.
"""
