"""`python -m bench.run --only kv_cache,samples`: the two timed lessons of issue #24, on SmolLM2-135M (fp32, this CPU).

kv_cache: a generation step with the KV cache against recomputing the whole prefix, on a text of exactly
   STEP_TOKENS tokens (models/kv_cache.time_steps: transformers' forward, ``logits_to_keep=1`` both ways, interleaved
   at every step): the last step both ways (median of ROUNDS runs) and the whole run of STEP_TOKENS steps both ways.
   The cache's real tensors are checked against the formula after every step (it must hold exactly).
samples: "Sample 100 times": 100 seeded samples of 8 tokens of one prompt, submitted to the generation engine as
   one group (``Engine.submit_many``) on an idle engine, wall time from submit to the last token (median of ROUNDS;
   target <= 5 s); the same 100 submitted one by one with ``submit`` (ordinary turns of up to max_batch rows) as the
   baseline.
"""
from __future__ import annotations

import statistics
import time

from bench.common import entry, served, text_with_tokens

MODEL = "smollm2-135m"
STEP_TOKENS = 64
ROUNDS = 3
PROMPT = "Once upon a time, there was a"


def bench_kv_cache(results: list[dict]) -> None:
    import numpy as np

    from models import kv_cache

    lm = served(MODEL)
    text = text_with_tokens(lm.tokenizer, STEP_TOKENS)
    ids = lm.tokenizer(text)["input_ids"]
    assert len(ids) == STEP_TOKENS
    shape = kv_cache.cache_shape(lm)
    last_cached, last_recompute, runs = [], [], []
    for _ in range(ROUNDS):
        t = kv_cache.time_steps(lm, ids)
        assert np.array_equal(t.cache_bytes, shape.bytes_per_token * np.arange(1, STEP_TOKENS + 1))
        assert t.same_prediction and t.max_abs_diff < 1e-3
        last_cached.append(t.cached_s[-1])
        last_recompute.append(t.recompute_s[-1])
        runs.append((t.total_cached, float(np.nansum(t.recompute_s))))
    results.append(entry(f"kv_cache/step_{STEP_TOKENS}_with_cache_vs_recompute", statistics.median(last_cached), "s",
                         baseline=statistics.median(last_recompute)))
    results.append(entry(f"kv_cache/{STEP_TOKENS}_steps_with_cache_vs_recompute",
                         statistics.median(r[0] for r in runs), "s", baseline=statistics.median(r[1] for r in runs)))
    results.append(entry("kv_cache/bytes_per_token", shape.bytes_per_token, "B",
                         baseline=shape.bytes_per_token_without_gqa))


def bench_samples(results: list[dict]) -> None:
    from models import many_samples as ms
    from models.generation import prompt_ids
    from serving.engine import Engine

    lm = served(MODEL)
    ids, _ = prompt_ids(lm.tokenizer, PROMPT)
    settings = ms.settings_for(1.0, 0, 1.0, ms.DEFAULT_NEW_TOKENS, 0)
    engine = Engine(lm)
    engine.warm()

    def group() -> float:
        t = time.perf_counter()
        samples = ms.draw(engine, ids, settings)
        assert len(samples) == ms.N_SAMPLES
        return time.perf_counter() - t

    def one_by_one() -> float:
        t = time.perf_counter()
        reqs = [engine.submit(ids, s) for s in settings]
        for r in reqs:
            r.result(600)
        return time.perf_counter() - t

    group()  # warm
    grouped, separate = [], []
    for r in range(ROUNDS):
        for name in (("group", "separate") if r % 2 == 0 else ("separate", "group")):
            (grouped if name == "group" else separate).append(group() if name == "group" else one_by_one())
    results.append(entry(f"samples/{ms.N_SAMPLES}x{ms.DEFAULT_NEW_TOKENS}_tokens_one_group", statistics.median(grouped),
                         "s", target=5.0))
    results.append(entry(f"samples/{ms.N_SAMPLES}x{ms.DEFAULT_NEW_TOKENS}_tokens_group_vs_one_by_one",
                         statistics.median(grouped), "s", baseline=statistics.median(separate)))
    engine.close()

