"""One numbering of layers and heads for the whole app (pages, tour, glossary, exports, URLs).

Layer 0 is the embeddings: ``hidden_states[0]``, what the first block reads. The blocks are layers 1..L:
layer l is ``model.layers[l - 1]``, its attention weights are ``attentions[l - 1]`` and its output is
``hidden_states[l]`` (so a hidden-state index already IS the layer number). Heads are numbered 1..H within a
layer, key/value heads 1..n_kv.

Arrays stay 0-based everywhere in the code: a block or head is converted to the number a person sees only
where it meets one (labels, widgets, URL parameters, file names), with the two helpers below, so the rule
lives in one place. Links made before 2026-12-06 counted the Attention page's layers and heads from 0
(:data:`CHANGED`).
"""
from __future__ import annotations

CHANGED = "2026-12-06"  # the day the Attention page's layer/head numbers moved from 0-based to this numbering


def number(index: int) -> int:
    """The number shown for a 0-based block or head index: block ``i`` (``model.layers[i]``) is layer i + 1,
    head index ``h`` is head h + 1."""
    return int(index) + 1


def index(shown: int) -> int:
    """The 0-based array index of a shown layer (1..L, a block) or head number (1..H)."""
    return int(shown) - 1
