"""A hundred samples of the next few tokens: sampling is random, but it follows the probabilities.

Sample i uses the seed ``seed + i``: it is exactly what ``torch.manual_seed(seed + i)`` followed by
``model.generate(do_sample=True, temperature=..., top_k=..., top_p=...)`` returns (tests/unit/test_many_samples.py).
All of them go to the generation engine together (``Engine.submit_many``): one prefill of the prompt, then one
batch of up to 100 rows, each with its own random generator.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.generation import MAX_GROUP, Settings

N_SAMPLES = 100
DEFAULT_NEW_TOKENS = 8
MAX_NEW_TOKENS = 16


@dataclass(frozen=True)
class Sample:
    seed: int
    token_ids: tuple[int, ...]  # the new tokens (fewer than asked when the model ended its text)
    first_prob: float  # probability the first token had in the distribution it was drawn from


@dataclass(frozen=True)
class Summary:
    n: int
    first_ids: np.ndarray  # [k] distinct first tokens, most frequent first (ties: smaller id first)
    first_counts: np.ndarray  # [k]
    continuations: tuple[tuple[tuple[int, ...], int, tuple[int, ...]], ...]  # (tokens, count, seeds), most first

    @property
    def distinct_first(self) -> int:
        return len(self.first_ids)

    @property
    def distinct_continuations(self) -> int:
        return len(self.continuations)


def settings_for(temperature: float, top_k: int, top_p: float, new_tokens: int, seed: int,
                 n: int = N_SAMPLES) -> list[Settings]:
    """The engine settings of the n samples: the same reshaping, seeds seed, seed + 1, ... (temperature 0 is greedy
    decoding, as everywhere in the app)."""
    return [Settings(greedy=False, temperature=float(temperature), top_k=int(top_k), top_p=float(top_p),
                     seed=int(seed) + i, max_new_tokens=int(new_tokens)) for i in range(n)]


def draw(engine: Any, prompt_ids: list[int], settings: list[Settings], timeout: float = 300) -> list[Sample]:
    """Submit the samples to the engine as one group and wait for all of them."""
    if len(settings) > MAX_GROUP:
        raise ValueError(f"at most {MAX_GROUP} samples at once")
    reqs = engine.submit_many(list(prompt_ids), settings)
    out = []
    try:
        for s, r in zip(settings, reqs):
            r.result(timeout)
            if r.state == "error":
                raise RuntimeError(r.finish_reason or "generation failed")
            out.append(Sample(s.seed, tuple(r.token_ids), r.steps[0].chosen_prob if r.steps else math.nan))
    finally:
        for r in reqs:  # on a timeout or an error, free the engine's rows
            if not r.done:
                r.cancel()
    return out


def summarize(samples: list[Sample]) -> Summary:
    first = Counter(s.token_ids[0] for s in samples if s.token_ids)
    order = sorted(first.items(), key=lambda kv: (-kv[1], kv[0]))
    seeds: dict[tuple[int, ...], list[int]] = {}
    for s in samples:
        seeds.setdefault(s.token_ids, []).append(s.seed)
    conts = sorted(((ids, len(ss), tuple(ss)) for ids, ss in seeds.items()), key=lambda c: (-c[1], c[2][0]))
    return Summary(len(samples), np.array([i for i, _ in order], dtype=np.int64),
                   np.array([c for _, c in order], dtype=np.int64), tuple(conts))


def spread(p: np.ndarray, n: int) -> np.ndarray:
    """Two standard deviations of the share of n independent draws that land on a token of probability p: the
    share is within p ± this about 95% of the time."""
    p = np.asarray(p, dtype=np.float64)
    return 2 * np.sqrt(p * (1 - p) / n)
