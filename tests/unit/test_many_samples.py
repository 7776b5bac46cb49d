"""models/many_samples.py and Engine.submit_many: 100 seeded samples drawn as one group equal, one by one,
transformers' ``generate(do_sample=True)`` after ``torch.manual_seed(seed + i)`` on a STOCK model (from_pretrained,
loaded separately); temperature 0 gives one answer 100 times; the group runs as one batch on an idle engine with a
small cache; the summary counts what was drawn."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import many_samples as ms
from models.generation import MAX_GROUP, Refused, Settings, prompt_ids
from serving.engine import Engine, KVCache

PROMPT = "Once upon a time, there was a"



@pytest.fixture(scope="module")
def drawn(smollm2):
    """Two groups of 100 on a fresh engine, with the shapes its KV cache took."""
    shapes = []
    ensure = KVCache.ensure

    def spy(self, rows, length):
        ensure(self, rows, length)
        shapes.append((self.rows, self.length))

    e = Engine(smollm2)
    ids = prompt_ids(smollm2.tokenizer, PROMPT)[0]
    KVCache.ensure = spy
    try:
        sampled = ms.draw(e, ids, ms.settings_for(0.8, 50, 0.9, 6, seed=11))
        batch = e.stats.max_batch_seen
        greedy = ms.draw(e, ids, ms.settings_for(0.0, 50, 0.9, 6, seed=11))
    finally:
        KVCache.ensure = ensure
        e.close()
    return ids, sampled, greedy, batch, shapes


def generate_sample(model, ids: list[int], seed: int, n: int, **kw) -> list[int]:
    x = torch.tensor([ids])
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, max_new_tokens=n,
                             pad_token_id=model.config.eos_token_id, **kw)
    return out[0, len(ids):].tolist()


def test_each_sample_equals_generate_with_its_seed(drawn, stock_smollm2):
    ids, sampled, _, _, _ = drawn
    assert [s.seed for s in sampled] == list(range(11, 11 + ms.N_SAMPLES))
    for i in (0, 37, 99):
        ref = generate_sample(stock_smollm2, ids, 11 + i, 6, temperature=0.8, top_k=50, top_p=0.9)
        assert list(sampled[i].token_ids) == ref, i


def test_samples_without_cuts_equal_generate_too(smollm2, stock_smollm2):
    """T = 1.3, top-k off (0), top-p off (1): generate must be told top_k=0 (its default is 50)."""
    ids = prompt_ids(smollm2.tokenizer, "The capital of France is")[0]
    e = Engine(smollm2)
    try:
        samples = ms.draw(e, ids, ms.settings_for(1.3, 0, 1.0, 4, seed=5, n=12))
    finally:
        e.close()
    for i in (0, 7):
        assert list(samples[i].token_ids) == generate_sample(stock_smollm2, ids, 5 + i, 4, temperature=1.3, top_k=0,
                                                             top_p=1.0)
    assert len({s.token_ids for s in samples}) > 1  # different seeds, different draws (checked, not assumed)


def test_temperature_zero_gives_one_answer_a_hundred_times(drawn, stock_smollm2):
    ids, _, greedy, _, _ = drawn
    summary = ms.summarize(greedy)
    assert summary.distinct_continuations == 1 and summary.continuations[0][1] == ms.N_SAMPLES
    with torch.inference_mode():
        ref = stock_smollm2.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=6,
                                     pad_token_id=stock_smollm2.config.eos_token_id)[0, len(ids):].tolist()
    assert list(greedy[0].token_ids) == ref


def test_the_group_runs_as_one_batch_with_a_small_cache(drawn):
    _, _, _, batch, shapes = drawn
    assert batch == ms.N_SAMPLES  # one batch of 100 rows, past max_batch (32), on an idle engine
    wide = [(r, t) for r, t in shapes if r >= ms.N_SAMPLES]
    assert wide and max(r * t for r, t in wide) <= 128 * 32  # not 128 rows x 128 positions


def test_the_summary_counts_what_was_drawn(drawn, smollm2):
    ids, sampled, _, _, _ = drawn
    summary = ms.summarize(sampled)
    assert summary.n == ms.N_SAMPLES and summary.first_counts.sum() == ms.N_SAMPLES
    assert list(summary.first_counts) == sorted(summary.first_counts, reverse=True)
    firsts = [s.token_ids[0] for s in sampled]
    for t, c in zip(summary.first_ids, summary.first_counts):
        assert firsts.count(int(t)) == c
    assert sum(c for _, c, _ in summary.continuations) == ms.N_SAMPLES
    assert all(len(seeds) == c for _, c, seeds in summary.continuations)
    assert summary.distinct_first > 1
    # every first token was drawn from the reshaped distribution: its probability there is positive
    from models.sampling import adjust

    with torch.inference_mode():
        logits = smollm2.model(input_ids=torch.tensor([ids])).logits[0, -1].float().numpy()
    probs = adjust(logits, 0.8, 50, 0.9).probs
    assert all(probs[t] > 0 for t in summary.first_ids)
    np.testing.assert_allclose([s.first_prob for s in sampled], probs[firsts], atol=1e-4)


def test_spread_is_two_binomial_standard_deviations():
    p = np.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(ms.spread(p, 100), [0.0, 2 * np.sqrt(0.25 * 0.75 / 100), 0.1, 0.0])
    rng = np.random.default_rng(0)
    shares = rng.binomial(100, 0.3, size=20_000) / 100
    inside = np.mean(np.abs(shares - 0.3) <= ms.spread(np.array([0.3]), 100)[0])
    assert 0.93 < inside < 0.98


def test_too_many_samples_are_refused(smollm2):
    e = Engine(smollm2)
    try:
        with pytest.raises(Refused):
            e.submit_many([1, 2, 3], [Settings()] * (MAX_GROUP + 1))
    finally:
        e.close()


def test_sample_100_preset_describes_the_model(drawn, smollm2):
    """At T = 0 one continuation; at T = 1 the first tokens spread over several candidates."""
    from components import presets

    p = presets.get("sample-100")
    assert presets.parse_url(p.links()[0][1])[1]["text"] == PROMPT
    e = Engine(smollm2)
    try:
        ids = drawn[0]
        t1 = ms.summarize(ms.draw(e, ids, ms.settings_for(1.0, 0, 1.0, ms.DEFAULT_NEW_TOKENS, 0)))
        t0 = ms.summarize(ms.draw(e, ids, ms.settings_for(0.0, 0, 1.0, ms.DEFAULT_NEW_TOKENS, 0)))
    finally:
        e.close()
    assert t0.distinct_continuations == 1 and t1.distinct_first >= 3
