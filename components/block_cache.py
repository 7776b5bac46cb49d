"""Caching for /block (inside a block), on components.cache's pieces: one process-wide BudgetCache bounded by bytes.

Everything here is derived from one forward pass per (model, text, position) (models.block.capture) and is shared
by all sessions: the run itself (~3.5 MB for SmolLM2), ablated runs (~0.2 MB: the logits at one position), the
batched single-component ranking and the neurons' read-outs (a few KB). TX_BLOCK_CACHE_MB, default 96 MB, one
hour at most. Kept apart from the traces' budget so that a class exploring /block never pushes traces out.
"""
from __future__ import annotations

from typing import Any

import config
from components.cache import BudgetCache, _model, _trace, get_model
from models import block

BLOCK_CACHE_MB = config.get().block_cache_mb


def _size(value: Any) -> int:
    if isinstance(value, list):
        return sum(block.nbytes(v) for v in value) + 1024
    return block.nbytes(value)


BLOCKS = BudgetCache(BLOCK_CACHE_MB * 2**20, ttl=3600, size_of=_size)


def get_block_run(model_id: str, text: str, position: int) -> block.BlockRun:
    """The forward pass of the text's analysed tokens with every block's parts kept at ``position`` (an index
    into the trace's tokens). BlockError when the architecture cannot be taken apart."""
    get_model(model_id)
    return BLOCKS.get(("run", model_id, text, position),
                      lambda: block.capture(_model(model_id), _trace(model_id, text).ids, position))


def get_ablated(model_id: str, text: str, position: int, components: tuple, mode: str) -> block.Ablated:
    """The same run with ``components`` (models.block.Component, sorted) switched off."""
    run = get_block_run(model_id, text, position)
    return BLOCKS.get(("ablated", model_id, text, position, tuple(components), mode),
                      lambda: block.ablate(_model(model_id), run, components, mode))


def get_ranking(model_id: str, text: str, position: int, target: int, mode: str) -> block.Ranking:
    """Every head and every MLP switched off one at a time (batched)."""
    run = get_block_run(model_id, text, position)
    return BLOCKS.get(("ranking", model_id, text, position, int(target), mode),
                      lambda: block.rank_single(_model(model_id), run, target, mode))


def has_ranking(model_id: str, text: str, position: int, target: int, mode: str) -> bool:
    return ("ranking", model_id, text, position, int(target), mode) in BLOCKS


def get_neurons(model_id: str, text: str, position: int, layer: int, n: int = 8) -> list[block.Neuron]:
    """The most active neurons of block ``layer``'s MLP at the position and the tokens their writes push."""
    run = get_block_run(model_id, text, position)
    return BLOCKS.get(("neurons", model_id, text, position, int(layer), n),
                      lambda: block.top_neurons(_model(model_id), run, layer, n=n))
