"""bertviz's OWN output for the same attention, to compare the offline views with (components/bertviz_offline.py):
its real ``html_action='return'`` HTML and a cheap estimate of that HTML's size. Tests and the benchmark use it
(tests/unit/test_bertviz_offline.py, bench/bertviz.py, bench/attention.py); no page does. It lives beside the
module it measures, not in tests/ or bench/, because both use it and those two never import each other.
"""
from __future__ import annotations

import importlib.resources
import json
from typing import Sequence

import numpy as np

from components.bertviz_offline import VIEWS
from models.trace import Trace


def _selection(trace: Trace, layers: Sequence[int] | None, heads: Sequence[int] | None,
               n_tokens: int | None) -> np.ndarray:
    L, H, T = trace.attentions.shape[:3]
    n = T if n_tokens is None else min(int(n_tokens), T)
    layers = list(range(L)) if layers is None else list(layers)
    heads = list(range(H)) if heads is None else list(heads)
    return trace.attentions[layers][:, heads, :n, :n]


def bertviz_reference_html(trace: Trace, view: str, layers: Sequence[int] | None = None,
                           heads: Sequence[int] | None = None, n_tokens: int | None = None) -> str:
    """bertviz's OWN HTML (``html_action='return'``) for the same tokens, layers and heads. Slow and large
    (tens of MB from ~100 tokens): for tests and the benchmark only."""
    import torch
    from bertviz import head_view as bv_head_view, model_view as bv_model_view

    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    att = _selection(trace, layers, heads, n_tokens)
    n = att.shape[-1]
    tokens = list(trace.tokens[:n])
    attention = [torch.from_numpy(np.ascontiguousarray(a))[None] for a in att]  # L' × [1, H', n, n]
    if view == "head":
        return bv_head_view(attention, tokens, html_action="return").data
    return bv_model_view(attention, tokens, html_action="return").data


def bertviz_reference_bytes(trace: Trace, view: str, layers: Sequence[int] | None = None,
                            heads: Sequence[int] | None = None, n_tokens: int | None = None) -> int:
    """UTF-8 bytes of bertviz's own HTML for the same input (generates it: slow for long texts)."""
    return len(bertviz_reference_html(trace, view, layers, heads, n_tokens).encode("utf-8"))


def bertviz_bytes_estimate(trace: Trace, view: str, layers: Sequence[int] | None = None,
                           heads: Sequence[int] | None = None, n_tokens: int | None = None,
                           sample: int = 20_000) -> int:
    """Estimated bytes of bertviz's own HTML without building it: its JSON writes each float32 weight as a
    Python float ("0.0123456789..."), so the size is (mean length of a sampled weight + 2 for ", ") times
    the number of weights, plus the tokens and bertviz's script. bertviz 1.4.1 replaces the marker
    ``PYTHON_PARAMS`` everywhere in its script, and the marker also stands in a comment, so its HTML holds
    that JSON TWICE. Within ~3% of the real size (tested)."""
    att = _selection(trace, layers, heads, n_tokens)
    flat = att.reshape(-1)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, flat.size, min(sample, flat.size))
    mean_len = float(np.mean([len(json.dumps(float(x))) for x in flat[idx]])) if flat.size else 0.0
    L, H, n = att.shape[0], att.shape[1], att.shape[-1]
    weights = flat.size * (mean_len + 2)  # "x, "
    brackets = 2 * (1 + L + L * H + L * H * n)  # "[" "]" of every list (the ", " between lists is ~the same)
    tokens = len(json.dumps(list(trace.tokens[:n]))) * 2  # left_text and right_text
    js = importlib.resources.files("bertviz").joinpath(f"{view}_view.js").read_text("utf-8")
    copies = js.count("PYTHON_PARAMS")
    return int(copies * (weights + brackets + tokens) + len(js) + 800)
