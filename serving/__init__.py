"""The serving layer: what makes the app fast for a class, applied on top of the teaching core.

models/ holds the model exactly as transformers builds it, and the maths the pages teach. This package owns the
generation engine (engine.py: continuous batching, its own KV cache, the lean Llama step of lean_step.py) and the
packed linear layers (packed.py) that make page forwards and decode steps fast on a CPU. Which path runs is one
switch, ``TX_ENGINE`` (config.py): ``fast`` (default) or ``hf`` (the stock model and transformers' forward
everywhere). When the fast path cannot be built (a torch without oneDNN, a decoder that is not Llama-shaped) the
plain transformers path runs instead, and the reason is logged once.
"""
from __future__ import annotations

import logging
from typing import Any

import config

log = logging.getLogger(__name__)


def accelerate(lm: Any, engine: str | None = None) -> Any:
    """Give a loaded model (models.loading.load) the fast path's packed linear layers, unless the engine switch
    says ``hf``; returns ``lm``. The layers keep nn.Linear's meaning (serving/packed.py)."""
    from serving.packed import AVAILABLE, pack_linears, release_dense

    engine = engine or config.get().engine
    if engine != "fast":
        return lm
    if not AVAILABLE:
        log.info("%s: this torch has no oneDNN linear kernels; its layers run as transformers built them",
                 lm.spec.id)
        return lm
    pack_linears(lm.model)
    release_dense(lm.model)
    return lm
