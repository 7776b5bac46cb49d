"""models/sampling.py equals transformers' own warpers, in the order and with the semantics `generate` uses.

The reference is ``model._get_logits_processor(GenerationConfig(do_sample=True, ...))``: the very list of
processors ``generate`` builds (TemperatureLogitsWarper -> TopKLogitsWarper -> TopPLogitsWarper, each only
when it changes something), applied to the real SmolLM2 logits and to hand-made edge cases.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import GenerationConfig, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from models.sampling import adjust, check_settings, entropy_bits, ranking, softmax, token_texts, top_ranked, warp

PROMPTS = ("The capital of France is", "students celebrate the graduation with a big party")


@pytest.fixture(scope="module")
def real_logits(smollm2) -> dict[str, torch.Tensor]:
    """The model's own last-position logits [V] for a peaked and a flat next-token distribution."""
    out = {}
    for text in PROMPTS:
        ids = smollm2.tokenizer(text, return_tensors="pt").input_ids
        with torch.inference_mode():
            out[text] = smollm2.model(input_ids=ids).logits[0, -1].float()
    return out


def reference(model, logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """What generate(do_sample=True, temperature, top_k, top_p) samples from: its own processor list."""
    config = GenerationConfig(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
    processors = model._get_logits_processor(config, input_ids_seq_length=1, device="cpu")
    return processors(torch.zeros((1, 1), dtype=torch.long), logits[None].clone())[0]


def hf_chain(scores: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """The three warpers by hand, in generate's order, each only when generate would add it. [B, V]"""
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(float(temperature))(None, scores)
    if top_k != 0:
        scores = TopKLogitsWarper(top_k=top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p=top_p)(None, scores)
    return scores


def assert_same(adj, ref: torch.Tensor) -> None:
    kept = torch.isfinite(ref).numpy()
    np.testing.assert_array_equal(adj.kept, kept)
    np.testing.assert_allclose(adj.probs, ref.softmax(-1).numpy(), rtol=0, atol=1e-7)
    assert adj.n_kept == int(kept.sum())
    assert (adj.probs[~adj.kept] == 0).all()
    assert math.isclose(float(adj.probs.astype(np.float64).sum()), 1.0, abs_tol=1e-5)


def test_generate_builds_temperature_then_top_k_then_top_p(smollm2):
    config = GenerationConfig(do_sample=True, temperature=0.7, top_k=50, top_p=0.9)
    names = [type(p).__name__ for p in smollm2.model._get_logits_processor(config, 1, device="cpu")]
    assert names == ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"]


@pytest.mark.parametrize("text", PROMPTS)
@pytest.mark.parametrize("temperature", [1e-3, 0.5, 1.0, 1.37, 2.0])
@pytest.mark.parametrize("top_k, top_p", [
    (0, 1.0), (1, 1.0), (5, 1.0), (50, 1.0), (100_000, 1.0),  # k > vocabulary: capped, nothing cut
    (0, 0.0), (0, 1e-6), (0, 0.5), (0, 0.9), (0, 0.999), (50, 0.9), (3, 0.999), (200, 0.2),
])
def test_adjust_equals_generates_warpers_on_real_logits(smollm2, real_logits, text, temperature, top_k, top_p):
    logits = real_logits[text]
    adj = adjust(logits.numpy(), temperature, top_k, top_p)
    assert_same(adj, reference(smollm2.model, logits, temperature, top_k, top_p))
    np.testing.assert_array_equal(warp(logits, temperature, top_k, top_p).numpy(),
                                  reference(smollm2.model, logits, temperature, top_k, top_p).numpy())


def test_every_stage_is_the_stage_transformers_computes(real_logits):
    logits = real_logits[PROMPTS[1]][None]  # [1, V]
    adj = adjust(logits[0].numpy(), 0.8, 40, 0.7)
    scaled = TemperatureLogitsWarper(0.8)(None, logits.clone())
    after_k = TopKLogitsWarper(40)(None, scaled.clone())
    np.testing.assert_array_equal(adj.scaled, scaled[0].numpy())
    np.testing.assert_allclose(adj.probs_scaled, scaled.softmax(-1)[0].numpy(), atol=1e-7, rtol=0)
    np.testing.assert_array_equal(adj.kept_top_k, torch.isfinite(after_k)[0].numpy())
    assert adj.n_kept_top_k == 40
    np.testing.assert_allclose(adj.probs_top_p_sees, after_k.softmax(-1)[0].numpy(), atol=1e-7, rtol=0)
    np.testing.assert_allclose(adj.probs_original, logits.softmax(-1)[0].numpy(), atol=1e-7, rtol=0)
    # renormalising: the final probabilities are the scaled ones divided by the mass they kept
    np.testing.assert_allclose(adj.probs[adj.kept], adj.probs_scaled[adj.kept] / adj.kept_mass, rtol=1e-4)


def test_nucleus_is_the_smallest_prefix_reaching_p(real_logits):
    for p in (0.3, 0.6, 0.9, 0.95):
        adj = adjust(real_logits[PROMPTS[1]].numpy(), 1.0, 0, p)
        cum = adj.nucleus_curve()
        n = adj.n_kept
        assert n >= 2
        assert cum[n - 1] >= p - 1e-6 and cum[n - 2] < p + 1e-6
        assert math.isclose(cum[-1], 1.0, abs_tol=1e-5) and (np.diff(cum) >= 0).all()
        kept_ids = set(np.flatnonzero(adj.kept).tolist())
        assert kept_ids == set(ranking(adj.logits)[:n].tolist())  # the n most likely tokens


def test_temperature_zero_is_greedy(smollm2, real_logits):
    for text, logits in real_logits.items():
        adj = adjust(logits.numpy(), 0.0, top_k=7, top_p=0.3)
        greedy_id = int(torch.argmax(logits))
        assert adj.greedy and adj.n_kept == 1 and adj.probs[greedy_id] == 1.0 and adj.probs.sum() == 1.0
        assert adj.entropy_final == 0.0 and np.isfinite(adj.scaled).all()  # no division by zero
        ids = smollm2.tokenizer(text, return_tensors="pt").input_ids
        with torch.inference_mode():
            out = smollm2.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=1,
                                         pad_token_id=smollm2.tokenizer.eos_token_id)
        assert int(out[0, -1]) == greedy_id


def test_greedy_takes_the_first_of_tied_maxima():
    adj = adjust(np.array([1.0, 5.0, 2.0, 5.0, 5.0], dtype=np.float32), 0)
    assert adj.probs.tolist() == [0, 1, 0, 0, 0]
    assert int(torch.argmax(torch.tensor([1.0, 5.0, 2.0, 5.0, 5.0]))) == 1


def test_ties_at_the_top_k_cut_are_all_kept_like_transformers():
    logits = np.array([3.0, 2.0, 2.0, 2.0, 1.0, 0.5], dtype=np.float32)
    adj = adjust(logits, 1.0, top_k=2)
    assert adj.kept.tolist() == [True, True, True, True, False, False]
    assert_same(adj, hf_chain(torch.from_numpy(logits)[None], 1.0, 2, 1.0)[0])


@pytest.mark.parametrize("top_p", [0.1, 0.25, 0.5, 0.55, 0.8, 0.999])
def test_ties_at_the_top_p_cut_are_broken_like_transformers(top_p):
    rng = np.random.default_rng(1)
    logits = rng.choice(np.array([0.0, 1.0, 2.0], dtype=np.float32), size=3000)  # thousands of exact ties
    ref = hf_chain(torch.from_numpy(logits)[None], 1.0, 0, top_p)[0]
    assert_same(adjust(logits, 1.0, 0, top_p), ref)


def test_minus_infinity_entries_stay_out_and_k_beyond_the_finite_ones():
    logits = np.array([2.0, -np.inf, 1.0, -np.inf, 0.5, -np.inf], dtype=np.float32)
    for T, k, p in [(1.0, 0, 1.0), (0.5, 5, 1.0), (2.0, 0, 0.9), (1.0, 2, 0.5), (1e-3, 6, 0.99), (1.0, 100, 0.0)]:
        adj = adjust(logits, T, k, p)
        assert not adj.kept[np.isneginf(logits)].any()
        assert_same(adj, hf_chain(torch.from_numpy(logits)[None], T, k, p)[0])
    assert adjust(logits, 0).probs.tolist() == [1, 0, 0, 0, 0, 0]


def test_batched_warp_equals_transformers(real_logits):
    batch = torch.stack(list(real_logits.values()))  # [2, V]
    for T, k, p in [(0.7, 50, 0.9), (1.3, 0, 0.5), (1.0, 10, 1.0)]:
        np.testing.assert_array_equal(warp(batch, T, k, p).numpy(), hf_chain(batch.clone(), T, k, p).numpy())
    with pytest.raises(ValueError, match="greedy"):
        warp(batch, 0.0)


@settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-30, 30, width=32) | st.just(-math.inf), min_size=2, max_size=40)
    .filter(lambda xs: any(math.isfinite(x) for x in xs)),
    temperature=st.floats(0.01, 2.0), top_k=st.integers(0, 50), top_p=st.floats(0.0, 1.0),
)
def test_adjust_equals_transformers_on_random_logits(logits, temperature, top_k, top_p):
    x = np.array(logits, dtype=np.float32)
    assert_same(adjust(x, temperature, top_k, top_p), hf_chain(torch.from_numpy(x)[None], temperature, top_k, top_p)[0])


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.lists(st.sampled_from([-2.0, 0.0, 0.5, 1.0, 3.0, -math.inf, math.inf, math.nan]) |
                           st.floats(-5, 5, width=32), min_size=6, max_size=6), min_size=1, max_size=4),
    k=st.integers(0, 7),
)
def test_top_ranked_is_the_head_of_the_full_ranking_ties_and_nans_included(rows, k):
    values = np.array(rows, dtype=np.float32)  # [R, 6]: many ties, infinities and NaNs
    got = top_ranked(values, k)
    assert got.shape == (len(rows), min(k, 6))
    for row, ids in zip(values, got):
        np.testing.assert_array_equal(ids, ranking(row)[:k])


def test_top_ranked_on_real_logits(real_logits):
    for logits in real_logits.values():
        x = logits.numpy()
        np.testing.assert_array_equal(top_ranked(x, 20), ranking(x)[:20])
        np.testing.assert_array_equal(top_ranked(np.stack([x, -x]), 5), np.stack([ranking(x)[:5], ranking(-x)[:5]]))


@pytest.mark.parametrize("bad", [
    dict(temperature=-0.1), dict(temperature=float("nan")), dict(temperature=float("inf")),
    dict(top_k=-1), dict(top_k=2.5), dict(top_k=True), dict(top_p=1.01), dict(top_p=-0.01), dict(top_p=float("nan")),
])
def test_bad_settings_are_refused_in_one_sentence(bad):
    kwargs = dict(temperature=1.0, top_k=0, top_p=1.0) | bad
    with pytest.raises(ValueError, match=r"\.$"):
        check_settings(**kwargs)
    with pytest.raises(ValueError):
        adjust(np.zeros(4, dtype=np.float32), **kwargs)


def test_bad_logits_and_a_temperature_too_small_for_float32():
    for bad in (np.array([np.nan, 1.0]), np.array([-np.inf, -np.inf]), np.array([np.inf, 0.0]), np.zeros((2, 3)),
                np.array([])):
        with pytest.raises(ValueError):
            adjust(bad)
    with pytest.raises(ValueError, match="use 0 for greedy"):
        adjust(np.array([1.0, 2.0], dtype=np.float32), 1e-40)


def test_entropy_in_bits():
    assert entropy_bits(np.full(8, 1 / 8)) == pytest.approx(3.0)
    assert entropy_bits(np.array([1.0, 0.0, 0.0])) == 0.0
    p = softmax(np.array([2.0, 1.0, 0.0], dtype=np.float32))
    assert entropy_bits(p) == pytest.approx(float(-(p * np.log2(p)).sum()), rel=1e-6)
    flat, sharp = adjust(np.array([2.0, 1.0, 0.0], dtype=np.float32), 2.0), adjust(np.array([2.0, 1.0, 0.0]), 0.5)
    assert flat.entropy_final > flat.entropy_original > sharp.entropy_final  # T > 1 flattens, T < 1 sharpens


def test_token_texts_show_what_the_token_adds(smollm2):
    tok = smollm2.tokenizer
    paris = tok.convert_tokens_to_ids("ĠParis")
    newline = tok.convert_tokens_to_ids("Ċ")
    byte_f0 = tok.convert_tokens_to_ids("ð")  # byte 0xF0 alone: the first of 4 bytes of an emoji
    eos = tok.eos_token_id
    assert token_texts(tok, [paris, newline, byte_f0, eos], "byte-level BPE") == [" Paris", "\n", "<F0>", "<|im_end|>"]


# ------------------------------------------------------------------------------ the page's figure builders
def test_probability_bars_show_both_distributions_and_mark_cut_tokens():
    from components.sampling_plots import probability_bars

    labels = ["␣Paris", "<b>x</b>", "&amp;"]
    fig = probability_bars(labels, np.array([7042, 5, 6]), np.array([0.7, 0.2, 0.1]), np.array([0.8, 0.2, 0.0]),
                           np.array([True, True, False]), "title <i>", "Adjusted: T = 0.5")
    model, adjusted, cut = fig.data
    assert list(model.x) == [0.7, 0.2, 0.1] and list(adjusted.x) == [0.8, 0.2, 0.0]
    assert model.y == adjusted.y and model.y[0] == "1. ␣Paris  (id 7042)"
    assert model.y[1] == "2. &lt;b&gt;x&lt;/b&gt;  (id 5)" and model.y[2] == "3. &amp;amp;  (id 6)"  # escaped
    assert list(cut.y) == [model.y[2]] and list(cut.text) == ["cut"] and adjusted.text[2] == ""
    assert fig.layout.title.text == "title &lt;i&gt;"
    assert [a.text.replace("<br>", " ") for a in fig.layout.annotations] == ["Model (T = 1, nothing cut)", "Adjusted: T = 0.5"]


def test_nucleus_curve_spans_the_vocabulary_and_marks_the_cut(real_logits):
    from components.sampling_plots import nucleus_curve

    adj = adjust(real_logits[PROMPTS[1]].numpy(), 1.0, 0, 0.9)
    cum = adj.nucleus_curve()
    fig = nucleus_curve(cum, 0.9, adj.n_kept, "t")
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert x[0] == 1 and x[-1] == len(cum) and adj.n_kept in x
    np.testing.assert_allclose(y, cum[x - 1])
    lines = {(s.x0, s.y0) for s in fig.layout.shapes}
    assert (adj.n_kept, 0) in lines and (0, 0.9) in lines
    assert len(nucleus_curve(cum, 1.0, len(cum), "t").layout.shapes) == 1  # top-p off: no p line


def test_steps_table_escapes_text_and_formats_numbers():
    from components.sampling_plots import steps_table_html

    out = steps_table_html({"token": ["<script>", "␣a"], "p": [0.5, 0.25], "after": ["kept", "cut"]},
                           formats={"p": ".3f", "after": ""})
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<td>0.500</td>" in out and '<td class="tx-cut">cut</td>' in out


def test_lens_heatmap_is_layers_by_ranks():
    from components.sampling_plots import lens_heatmap

    z = np.array([[0.5, 0.1], [0.9, 0.05]])
    fig = lens_heatmap([["a", "<b>"], ["c", "d"]], z, ["embeddings", "after layer 1"], "t")
    assert np.asarray(fig.data[0].z).shape == (2, 2) and list(fig.data[0].x) == ["#1", "#2"]
    assert fig.data[0].text[0][1] == "&lt;b&gt;"
