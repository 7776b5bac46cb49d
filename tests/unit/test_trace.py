"""Trace: the numbers on screen ARE the model's own outputs (both bundled models, within 1e-4)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models.tokens import MAX_TOKENS
from models.trace import Trace, analysed, compute_trace, token_embedding
from tests.unit.conftest import reference_outputs

TEXT = "The capital of France is Paris, and the capital of Italy is"
CLS, SEP = 101, 102


@pytest.fixture(params=["smollm2", "minilm"])
def lm(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def traces(smollm2, minilm):
    """One trace per bundled model for TEXT, shared by the read-only checks below."""
    return {"smollm2": compute_trace(smollm2, TEXT), "minilm": compute_trace(minilm, TEXT)}


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_trace_equals_the_models_own_outputs(request, traces, name, check_trace):
    lm = request.getfixturevalue(name)
    tr = traces[name]
    assert tr.model_id == lm.spec.id and tr.text == TEXT
    check_trace(lm, tr)


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_what_the_tokens_page_reads_without_a_trace_equals_the_trace(request, traces, name):
    """The Tokens page tokenizes and looks up embedding rows only (no forward pass): the same tokens and the same
    vectors as the trace."""
    lm = request.getfixturevalue(name)
    tr = traces[name]
    enc = analysed(lm, TEXT)
    assert enc.ids.tolist() == tr.ids.tolist() and enc.n_total == tr.n_total
    np.testing.assert_array_equal(enc.offsets, tr.offsets)
    np.testing.assert_array_equal(enc.special, tr.special)
    for i, token_id in enumerate(tr.ids):
        np.testing.assert_array_equal(token_embedding(lm, token_id), tr.token_embeddings[i])


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_an_embedding_row_fires_no_hook_of_a_trace_being_computed(request, traces, name):
    """The Tokens page reads a row without lm.lock while another session's trace may have its capture hook on
    the embedding module: the hook must not see that row (a load run once got a 1-row trace that way)."""
    lm = request.getfixturevalue(name)
    seen = []
    handle = lm.model.get_input_embeddings().register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    try:
        row = token_embedding(lm, int(traces[name].ids[0]))
    finally:
        handle.remove()
    assert seen == []
    np.testing.assert_array_equal(row, traces[name].token_embeddings[0])


def test_shapes_follow_the_facts(traces, smollm2, minilm):
    s, m = traces["smollm2"], traces["minilm"]
    # SmolLM2: 30 layers x 9 heads, d=576; MiniLM: 6 layers x 12 heads, d=384 (facts come from the config)
    assert s.hidden_states.shape[0] == smollm2.facts.n_layers + 1 == 31
    assert s.attentions.shape[:2] == (30, 9) and s.hidden_states.shape[-1] == 576
    assert m.hidden_states.shape[0] == minilm.facts.n_layers + 1 == 7
    assert m.attentions.shape[:2] == (6, 12) and m.hidden_states.shape[-1] == 384
    assert s.last_logits.shape == (49152,)
    assert m.last_logits is None  # an encoder has no next-token logits
    for tr in (s, m):
        assert tr.ids.dtype == np.int64
        assert tr.offsets.shape == (tr.n_tokens, 2)
        assert tr.special.shape == (tr.n_tokens,) and tr.special.dtype == bool
        for arr in (tr.hidden_states, tr.attentions, tr.token_embeddings):
            assert arr.dtype == np.float32
            assert np.isfinite(arr).all()


def test_minilm_wraps_the_text_in_cls_sep(traces):
    tr = traces["minilm"]
    assert tr.ids[0] == CLS and tr.ids[-1] == SEP
    assert tr.tokens[0] == "[CLS]" and tr.tokens[-1] == "[SEP]"
    assert tr.special.tolist() == [True] + [False] * (tr.n_tokens - 2) + [True]


def test_smollm2_adds_no_special_token(traces, smollm2):
    tr = traces["smollm2"]
    assert not tr.special.any()
    assert tr.ids.tolist() == smollm2.tokenizer(TEXT).input_ids
    assert "".join(TEXT[s:e] for s, e in tr.offsets.tolist()) == TEXT


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_attention_rows_sum_to_one(traces, name):
    attn = traces[name].attentions
    assert (attn >= 0).all()
    np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)


def _upper(attn: np.ndarray) -> np.ndarray:
    return np.triu(np.ones(attn.shape[-2:], dtype=bool), k=1)  # (i, j) with j > i: the future


def test_decoder_attention_is_causal_encoder_is_not(traces):
    s = traces["smollm2"].attentions
    assert (s[..., _upper(s)] == 0).all()  # exactly zero: no token sees the future
    assert (s[..., ~_upper(s)] > 0).any()
    m = traces["minilm"].attentions
    future = m[..., _upper(m)]
    assert (future > 1e-6).sum() > 0.5 * future.size  # bidirectional: most future weights are > 0


def test_smollm2_has_no_position_vectors_rope(traces):
    tr = traces["smollm2"]
    assert tr.position_embeddings is None  # RoPE rotates q/k; nothing is added to the residual stream
    # so the residual stream starts as the token embeddings themselves
    np.testing.assert_allclose(tr.hidden_states[0], tr.token_embeddings, atol=1e-6, rtol=0)


def test_minilm_position_vectors_are_the_learned_table(traces, minilm):
    tr = traces["minilm"]
    emb = minilm.model.embeddings
    T = tr.n_tokens
    table = emb.position_embeddings.weight.detach().numpy()
    assert tr.position_embeddings is not None and tr.position_embeddings.shape == (T, 384)
    np.testing.assert_allclose(tr.position_embeddings, table[:T], atol=1e-6, rtol=0)
    # hidden_states[0] = LayerNorm(token + position + segment-0): the parts shown ARE the embedding output
    seg = emb.token_type_embeddings.weight.detach()[0]
    with torch.no_grad():
        rebuilt = emb.LayerNorm(torch.from_numpy(tr.token_embeddings + tr.position_embeddings) + seg)
    np.testing.assert_allclose(tr.hidden_states[0], rebuilt.numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_arrays_are_read_only_and_trace_is_frozen(traces, name):
    tr = traces[name]
    arrays = [tr.ids, tr.offsets, tr.special, tr.token_embeddings, tr.hidden_states, tr.attentions]
    arrays += [a for a in (tr.position_embeddings, tr.last_logits) if a is not None]
    for arr in arrays:
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr.flat[0] = arr.flat[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.text = "something else"  # type: ignore[misc]


def test_same_text_gives_the_same_trace_and_leaves_no_hooks(lm):
    def hooks():  # transformers installs output-recording hooks of its own: compare before/after
        return {name: (list(m._forward_hooks), list(m._forward_pre_hooks)) for name, m in lm.model.named_modules()}

    before = hooks()
    a = compute_trace(lm, "Attention is all you need")
    b = compute_trace(lm, "Attention is all you need")
    np.testing.assert_array_equal(a.hidden_states, b.hidden_states)
    np.testing.assert_array_equal(a.attentions, b.attentions)
    np.testing.assert_array_equal(a.token_embeddings, b.token_embeddings)
    assert hooks() == before


def test_decoder_last_logits_predict_the_next_token(smollm2):
    tr = compute_trace(smollm2, "The capital of France is")
    top = smollm2.tokenizer.decode([int(np.argmax(tr.last_logits))])
    assert top.strip() == "Paris"


# ------------------------------------------------------------------------------------- truncation
def test_smollm2_long_text_is_truncated_to_512(smollm2):
    text = " hello" * 600  # one token per " hello"
    full = smollm2.tokenizer(text).input_ids
    assert len(full) == 600
    tr = compute_trace(smollm2, text)
    assert tr.n_tokens == MAX_TOKENS == 512
    assert analysed(smollm2, text).ids.tolist() == tr.ids.tolist()  # what captions count without a trace
    assert tr.truncated and tr.n_total == 600
    assert tr.ids.tolist() == full[:512]  # the first 512 tokens, nothing added
    assert tr.attentions.shape == (30, 9, 512, 512) and tr.hidden_states.shape == (31, 512, 576)
    assert (tr.attentions[..., _upper(tr.attentions)] == 0).all()
    np.testing.assert_allclose(tr.attentions.sum(-1), 1.0, atol=1e-5)
    emb = smollm2.model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(tr.token_embeddings, emb[tr.ids])
    # (no second 512-token reference pass here: ~10 s on this machine; short texts cover the numbers)


def test_minilm_long_text_keeps_cls_and_sep(minilm, check_trace):
    text = "hello " * 600
    full = minilm.tokenizer(text).input_ids
    assert len(full) == 602  # [CLS] + 600 + [SEP]
    tr = compute_trace(minilm, text)
    assert tr.n_tokens == 512 and tr.truncated and tr.n_total == 602
    assert analysed(minilm, text).ids.tolist() == tr.ids.tolist()
    assert tr.ids[0] == CLS and tr.ids[-1] == SEP  # still a well-formed BERT input
    assert tr.ids[1:-1].tolist() == full[1:511]
    assert tr.special.tolist() == [True] + [False] * 510 + [True]
    np.testing.assert_allclose(
        tr.position_embeddings, minilm.model.embeddings.position_embeddings.weight.detach().numpy()[:512], atol=1e-6
    )
    check_trace(minilm, tr)


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_short_text_is_not_truncated(traces, name):
    tr = traces[name]
    assert not tr.truncated and tr.n_total == tr.n_tokens


# ----------------------------------------------------------------------------------------- empty
def test_empty_text_on_a_decoder_raises_a_clear_error(smollm2):
    assert smollm2.tokenizer("").input_ids == []  # SmolLM2 adds no BOS: "" has zero tokens
    with pytest.raises(ValueError, match="no token") as info:
        compute_trace(smollm2, "")
    assert str(info.value).endswith(".")


def test_empty_text_on_an_encoder_is_cls_sep(minilm, check_trace):
    tr = compute_trace(minilm, "")
    assert tr.ids.tolist() == [CLS, SEP]
    assert tr.tokens == ["[CLS]", "[SEP]"]
    assert tr.hidden_states.shape == (7, 2, 384) and tr.attentions.shape == (6, 12, 2, 2)
    check_trace(minilm, tr)


# ---------------------------------------------------------------------------------- odd input text
@pytest.mark.parametrize("text", ["a\x00b\x07c\x1b", "שלום עולם", "I love 😀 and 中文", "\ud800 lone surrogate"])
def test_odd_text_traces_like_any_other(lm, text, check_trace):
    tr = compute_trace(lm, text)
    assert isinstance(tr, Trace) and tr.text == text
    check_trace(lm, tr)


@pytest.mark.parametrize("lm", ["smollm2", "minilm"])
def test_the_last_layer_is_the_last_blocks_output_before_any_final_norm(request, lm):
    """Layer L is block L's own output on every page. transformers' last hidden state is taken after a decoder's
    final norm (SmolLM2: RMSNorm): that norm applied to the trace's layer L gives it back; an encoder has no
    final norm, so there the two are the same array."""
    import torch

    lm = request.getfixturevalue(lm)
    tr = compute_trace(lm, "The capital of France is")
    out = reference_outputs(lm, tr.ids)
    np.testing.assert_allclose(tr.hidden_states[-1], out.last_block[0].numpy(), atol=1e-4, rtol=0)
    transformers_last = out.hidden_states[-1][0].numpy()
    if lm.facts.family == "decoder":
        norm = lm.model.model.norm
        with torch.inference_mode():
            renormed = norm(torch.from_numpy(np.array(tr.hidden_states[-1]))).numpy()
        np.testing.assert_allclose(renormed, transformers_last, atol=1e-4, rtol=0)
        assert np.linalg.norm(tr.hidden_states[-1], axis=-1).mean() > 10 * np.linalg.norm(transformers_last,
                                                                                         axis=-1).mean()
    else:
        np.testing.assert_allclose(tr.hidden_states[-1], transformers_last, atol=1e-5, rtol=0)
