"""The KV cache: what a decoder keeps between generation steps, how big it gets, and what it saves.

At every layer, each token's key and value vectors depend only on that token and the ones before it (the causal
mask), so once computed they never change. Generating token t therefore needs only ONE new row of keys and values
per layer and key/value head (its own); the rows of tokens 1..t-1 are read from the cache. Without the cache every
step would run the whole prefix through the model again.

Size: layers × key/value heads × head dimension × 2 (keys and values) × bytes per number, per token. Grouped-query
attention (GQA) lets several query heads share one key/value head, so the cache shrinks by heads / kv heads.

Everything here is measured on the model's own forward (transformers, ``use_cache=True``): the cache tensors are
the real ones, the times are wall-clock times on this machine.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

MAX_STEP_TOKENS = 64  # tokens of the text shown and timed step by step


@dataclass(frozen=True)
class CacheShape:
    """What one token costs in the cache, from the model's config."""

    n_layers: int
    n_heads: int  # query heads
    n_kv_heads: int  # key/value heads (= n_heads without grouped-query attention)
    head_dim: int
    bytes_per_value: int  # 4 for float32 (how the app loads every model)
    dtype: str

    @property
    def values_per_token(self) -> int:
        """Numbers stored per token: keys and values of every layer and key/value head."""
        return self.n_layers * self.n_kv_heads * self.head_dim * 2

    @property
    def bytes_per_token(self) -> int:
        return self.values_per_token * self.bytes_per_value

    @property
    def bytes_per_token_without_gqa(self) -> int:
        """The same if every query head had its own key/value head (multi-head attention)."""
        return self.n_layers * self.n_heads * self.head_dim * 2 * self.bytes_per_value

    @property
    def gqa(self) -> bool:
        return self.n_kv_heads != self.n_heads

    def bytes_for(self, tokens: int) -> int:
        return self.bytes_per_token * tokens

    def new_per_step(self) -> int:
        """Numbers computed and written to the cache for one new token, in one layer."""
        return self.n_kv_heads * self.head_dim * 2


def cache_shape(lm: Any) -> CacheShape:
    f = lm.facts
    dtype = next(lm.model.parameters()).dtype
    return CacheShape(n_layers=f.n_layers, n_heads=f.n_heads, n_kv_heads=f.n_kv_heads, head_dim=f.d_head,
                      bytes_per_value=dtype.itemsize, dtype=str(dtype).removeprefix("torch."))


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) of every layer of a transformers cache, each [batch, kv heads, tokens, head dim]."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def cache_nbytes(cache: Any) -> int:
    """Bytes held by the cache's key and value tensors."""
    return sum(k.nbytes + v.nbytes for k, v in _cache_layers(cache))


@dataclass(frozen=True)
class Snapshot:
    """The cache after one forward pass over the text (what generation continues from)."""

    keys: np.ndarray  # [L, n_kv, T, D] float32, as cached (after RoPE for RoPE models)
    values: np.ndarray  # [L, n_kv, T, D]
    nbytes: int  # bytes of the real cache tensors
    tensor_shape: tuple[int, ...]  # shape of one layer's key tensor, [1, n_kv, T, D]
    dtype: str


def snapshot(lm: Any, ids: list[int]) -> Snapshot:
    """One forward pass with ``use_cache=True``; the cache's keys and values of every layer."""
    x = torch.tensor([list(ids)])
    with lm.lock, torch.inference_mode():
        out = lm.model(input_ids=x, use_cache=True, logits_to_keep=1)
    layers = _cache_layers(out.past_key_values)
    keys = np.stack([k[0].float().numpy() for k, _ in layers])
    values = np.stack([v[0].float().numpy() for _, v in layers])
    return Snapshot(keys, values, cache_nbytes(out.past_key_values), tuple(layers[0][0].shape),
                    str(layers[0][0].dtype).removeprefix("torch."))


@dataclass(frozen=True)
class StepTimes:
    """Step t (1..T) of a generation over the text's tokens, timed both ways, interleaved."""

    cached_s: np.ndarray  # [T] one token with the cache of tokens 1..t-1
    recompute_s: np.ndarray  # [T] tokens 1..t run again without a cache (NaN: step not timed this way)
    cache_bytes: np.ndarray  # [T] bytes of the real cache tensors after step t
    max_abs_diff: float  # largest difference between the cache built step by step and one full forward's
    same_prediction: bool  # both ways give the same next-token logits at every step timed both ways (1e-3)

    @property
    def total_cached(self) -> float:
        return float(self.cached_s.sum())

    @property
    def timed_both(self) -> np.ndarray:
        """1-based steps timed both ways."""
        return np.flatnonzero(~np.isnan(self.recompute_s)) + 1


def recompute_steps(T: int, most: int = 16) -> list[int]:
    """The steps (1-based) at which recomputing the prefix is timed: all of them for a short text, else about
    ``most`` evenly spread ones and the last (each costs a whole forward pass of its prefix)."""
    if T <= most:
        return list(range(1, T + 1))
    every = -(-T // most)
    return sorted({*range(1, T + 1, every), T})


def time_steps(lm: Any, ids: list[int], recompute_at: list[int] | None = None) -> StepTimes:
    """Feed the tokens one at a time with a cache, and at the steps ``recompute_at`` (1-based; default all) also
    run the whole prefix without one (NaN elsewhere). ``logits_to_keep=1`` both ways (only the last position's
    prediction is needed to generate). Each forward pass holds the model's lock (other pages install hooks on the
    same modules) and is timed inside it; between passes other pages get their turn.

    On one torch thread, as the generation engine's worker runs (models/generation.py): on a busy 2-core server two
    OpenMP threads spin at their barriers while the other is descheduled (seen here: a one-token step took over a
    second instead of a tenth of one). The setting is this thread's own and is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            return _time_steps(lm, list(ids), recompute_at)
    finally:
        torch.set_num_threads(threads)


def _forward(lm: Any, **kw: Any) -> tuple[Any, float]:
    """The model's output and the seconds the pass took (the lock is held, and not counted)."""
    with lm.lock:
        t0 = time.perf_counter()
        out = lm.model(**kw, logits_to_keep=1)
        return out, time.perf_counter() - t0


def _time_steps(lm: Any, ids: list[int], recompute_at: list[int] | None) -> StepTimes:
    T = len(ids)
    at = set(range(1, T + 1) if recompute_at is None else recompute_at)
    cached, recompute, sizes = np.zeros(T), np.full(T, np.nan), np.zeros(T, dtype=np.int64)
    same = True
    _forward(lm, input_ids=torch.tensor([ids[:1]]), use_cache=False)  # warm-up, untimed
    cache = None
    for t in range(T):
        out, cached[t] = _forward(lm, input_ids=torch.tensor([[ids[t]]]), past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        sizes[t] = cache_nbytes(cache)
        if t + 1 in at:
            full, recompute[t] = _forward(lm, input_ids=torch.tensor([ids[: t + 1]]), use_cache=False)
            same = same and bool(torch.allclose(out.logits[0, -1], full.logits[0, -1], atol=1e-3, rtol=0))
    whole = _forward(lm, input_ids=torch.tensor([ids]), use_cache=True)[0].past_key_values
    diff = max(float((a - b).abs().max()) for pair in zip(_cache_layers(cache), _cache_layers(whole))
               for a, b in zip(*pair))
    return StepTimes(cached, recompute, sizes, diff, same)
