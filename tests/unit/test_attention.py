"""models/attention.py: q·k recomputation equals the model's own attention, GQA, RoPE, head statistics, words.

Real bundled models (SmolLM2: RoPE + grouped-query attention; MiniLM: BERT encoder) and tiny random GPT-2
(fused Conv1D, with the per-layer 1/(layer+1) scaling switched on), BERT and DistilBERT built here. The
reference for every weight is the Trace (= the model's ``output_attentions``); the reference for every head
output is the input of the model's output projection, captured by a hook written here.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from models.attention import (
    HEAD_STATS_ROWS,
    STATS,
    attention_modules,
    capture_qkv,
    head_stats,
    kv_groups,
    kv_of_heads,
    word_attention,
    word_ids,
    word_labels,
)
from models.loading import LoadedModel
from models.registry import ModelSpec
from models.tokens import encode
from models.trace import compute_trace

TEXT = "The quick brown fox jumps over the lazy dog. The quick brown fox jumps"
ATOL = 1e-4


# ------------------------------------------------------------------------------------------ helpers
def wrap(model, tokenizer, family: str, head: str, model_id: str) -> LoadedModel:
    from models.facts import model_facts

    spec = ModelSpec(id=model_id, label=f"Tiny {model_id}", family=family, source="local", head=head)
    model.set_attn_implementation("eager")  # attention weights come back, as models/loading.load does
    model.eval().requires_grad_(False)
    return LoadedModel(spec=spec, model=model, tokenizer=tokenizer, facts=model_facts(spec, model, tokenizer))


OUTPUT_PROJECTIONS = ("self_attn.o_proj", "attn.c_proj", "attention.output.dense", "attention.out_lin")


def head_outputs(lm: LoadedModel, ids: np.ndarray) -> np.ndarray:
    """[L, T, H*dh] what each layer's output projection receives: the heads' outputs side by side."""
    projs = [m for name, m in lm.model.named_modules() if name.endswith(OUTPUT_PROJECTIONS)]
    assert len(projs) == lm.model.config.num_hidden_layers
    seen: list[torch.Tensor] = []
    handles = [p.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0][0].detach())) for p in projs]
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.array(ids, np.int64))[None]  # a writable copy
            lm.model(input_ids=x, attention_mask=torch.ones_like(x))
    finally:
        for h in handles:
            h.remove()
    return torch.stack(seen).float().numpy()


@dataclasses.dataclass
class Case:
    lm: LoadedModel
    trace: object
    outputs: np.ndarray  # [L, T, H*dh]


def make_case(lm: LoadedModel, text: str = TEXT) -> Case:
    tr = compute_trace(lm, text)
    return Case(lm, tr, head_outputs(lm, tr.ids))


@pytest.fixture(scope="module")
def smol(smollm2) -> Case:
    return make_case(smollm2)


@pytest.fixture(scope="module")
def mini(minilm) -> Case:
    return make_case(minilm)


@pytest.fixture(scope="module")
def tiny_gpt2_case(smollm2_tok) -> Case:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=3, n_head=4, n_embd=32, vocab_size=49152, n_positions=128,
                        scale_attn_by_inverse_layer_idx=True)  # layer l also divides scores by l + 1
    return make_case(wrap(GPT2LMHeadModel(config), smollm2_tok.tokenizer, "decoder", "causal-lm", "gpt2"))


@pytest.fixture(scope="module")
def tiny_bert_case(minilm_tok) -> Case:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=30522)
    return make_case(wrap(BertForMaskedLM(config), minilm_tok.tokenizer, "encoder", "masked-lm", "bert"))


@pytest.fixture(scope="module")
def tiny_distilbert_case(minilm_tok) -> Case:
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(0)
    config = DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, vocab_size=30522)
    return make_case(wrap(DistilBertForMaskedLM(config), minilm_tok.tokenizer, "encoder", "masked-lm", "distilbert"))


CASES = {  # fixture -> layers to check (first and last always)
    "smol": (0, 13, 29),
    "mini": (0, 2, 5),
    "tiny_gpt2_case": (0, 1, 2),
    "tiny_bert_case": (0, 1),
    "tiny_distilbert_case": (0, 1),
}


def max_diff(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# --------------------------------------------------------------------- recomputation = the model's own
@pytest.mark.parametrize("case_name", CASES)
def test_recomputed_attention_equals_the_models_own(case_name, request):
    case: Case = request.getfixturevalue(case_name)
    lm, tr = case.lm, case.trace
    config = lm.model.config
    n_heads = config.num_attention_heads
    T = tr.n_tokens
    for layer in CASES[case_name]:
        c = capture_qkv(lm, tr.ids, layer)
        assert c.layer == layer and c.n_heads == n_heads and c.n_tokens == T
        assert c.q.shape == (n_heads, T, c.d_head) and c.v.shape == c.k.shape == (c.n_kv_heads, T, c.d_head)
        w = c.weights()
        assert max_diff(w, tr.attentions[layer]) <= ATOL, f"layer {layer}"
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
        # every head, every query: the step-through output is what the output projection receives
        heads_out = case.outputs[layer].reshape(T, n_heads, c.d_head)  # [T, H, dh]
        for head in range(n_heads):
            for query in range(T):
                s = c.step(head, query)
                assert max_diff(s.output, heads_out[query, head]) <= ATOL, (layer, head, query)
                assert max_diff(s.weights, tr.attentions[layer, head, query]) <= ATOL
                np.testing.assert_allclose(s.scores, s.k @ s.q)
                np.testing.assert_allclose(s.scaled[s.mask], s.scores[s.mask] * s.scale)


def test_the_scale_is_the_models_own(tiny_gpt2_case, smol, mini):
    d_head = 32 // 4
    for layer in range(3):  # GPT-2 with scale_attn_by_inverse_layer_idx: 1/sqrt(dh)/(layer+1)
        c = capture_qkv(tiny_gpt2_case.lm, tiny_gpt2_case.trace.ids, layer)
        assert c.scale == pytest.approx(1 / math.sqrt(d_head) / (layer + 1))
    assert capture_qkv(smol.lm, smol.trace.ids, 0).scale == pytest.approx(1 / math.sqrt(64))
    assert capture_qkv(mini.lm, mini.trace.ids, 0).scale == pytest.approx(1 / math.sqrt(384 // 12))


# ------------------------------------------------------------------------------------------- masks
def test_decoder_mask_is_causal_and_hides_the_future_exactly(smol, tiny_gpt2_case):
    for case in (smol, tiny_gpt2_case):
        c = capture_qkv(case.lm, case.trace.ids, 1)
        T = c.n_tokens
        assert c.causal
        np.testing.assert_array_equal(c.mask, np.tril(np.ones((T, T), dtype=bool)))
        w = c.weights()
        assert (w[:, ~c.mask] == 0).all()  # exactly 0, not just small
        assert (case.trace.attentions[1][:, ~c.mask] == 0).all()
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
        s = c.step(0, 3)
        assert s.mask.tolist() == [True] * 4 + [False] * (T - 4)
        assert np.isneginf(s.scaled[4:]).all() and np.isfinite(s.scaled[:4]).all()
        assert (s.weights[4:] == 0).all() and s.weights.sum() == pytest.approx(1.0)
        assert c.step(0, 0).weights[0] == 1.0  # the first token can only see itself


def test_encoder_mask_lets_every_token_see_every_token(mini, tiny_distilbert_case):
    for case in (mini, tiny_distilbert_case):
        c = capture_qkv(case.lm, case.trace.ids, 0)
        assert not c.causal and c.mask.all() and c.mask.shape == (c.n_tokens,) * 2
        assert (c.weights() > 0).all()


# --------------------------------------------------------------------------------------------- GQA
def test_gqa_mapping_follows_the_config(smol, mini):
    config = smol.lm.model.config
    n_heads, n_kv = config.num_attention_heads, config.num_key_value_heads
    assert (n_heads, n_kv) == (9, 3)
    group = n_heads // n_kv
    expected = [h // group for h in range(n_heads)]
    assert kv_of_heads(config).tolist() == expected
    assert kv_groups(config) == [[h for h in range(n_heads) if h // group == j] for j in range(n_kv)]
    assert kv_groups(config) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    # the model really has only 3 key/value heads: k_proj makes 3 * d_head numbers per token
    attn = attention_modules(smol.lm.model)[0]
    assert attn.k_proj.out_features == n_kv * 64 and attn.q_proj.out_features == n_heads * 64
    # multi-head attention: every query head has its own key/value head
    assert kv_of_heads(mini.lm.model.config).tolist() == list(range(12))
    assert kv_groups(mini.lm.model.config) == [[h] for h in range(12)]
    with pytest.raises(ValueError, match="cannot share"):
        kv_of_heads(dataclasses.make_dataclass("C", [("num_attention_heads", int), ("num_key_value_heads", int)])(9, 4))


def test_query_heads_of_one_group_read_the_same_keys_and_values(smol):
    c = capture_qkv(smol.lm, smol.trace.ids, 5)
    assert c.k.shape[0] == 3 and c.q.shape[0] == 9
    for group in kv_groups(smol.lm.model.config):
        steps = [c.step(h, 7) for h in group]
        for s in steps[1:]:
            np.testing.assert_array_equal(s.k, steps[0].k)
            np.testing.assert_array_equal(s.v, steps[0].v)
            assert s.kv_head == steps[0].kv_head
            assert not np.array_equal(s.q, steps[0].q)  # ...but each asks its own question
    assert not np.allclose(c.step(0, 7).k, c.step(3, 7).k)  # other groups: other keys
    # a wrong mapping (h % Hkv instead of h // group) does NOT reproduce the model's attention
    wrong = dataclasses.replace(c, kv_of_head=np.arange(9) % 3)
    assert max_diff(wrong.weights(), smol.trace.attentions[5]) > 1e-2
    assert max_diff(c.weights(), smol.trace.attentions[5]) <= ATOL


# -------------------------------------------------------------------------------------------- RoPE
def test_rope_rotates_q_and_k_by_position_and_keeps_pair_lengths(smol):
    from models.positions import rope_inv_freq

    c = capture_qkv(smol.lm, smol.trace.ids, 3)
    assert c.rope and c.q_raw is not None and c.k_raw is not None
    # position 0 is not rotated; every later position is
    np.testing.assert_allclose(c.k[:, 0], c.k_raw[:, 0], atol=1e-6)
    np.testing.assert_allclose(c.q[:, 0], c.q_raw[:, 0], atol=1e-6)
    for pos in range(1, c.n_tokens):
        assert not np.allclose(c.k[:, pos], c.k_raw[:, pos], atol=1e-3), pos
    # a rotation keeps the length of every 2-D pair (i, i + dh/2)
    half = c.d_head // 2  # the pairs Llama's rotate_half rotates together: (i, i + dh/2), not adjacent dimensions
    pairs = np.stack([np.arange(half), np.arange(half) + half], axis=1)
    for rot, raw in ((c.q, c.q_raw), (c.k, c.k_raw)):
        np.testing.assert_allclose(np.hypot(rot[..., pairs[:, 0]], rot[..., pairs[:, 1]]),
                                   np.hypot(raw[..., pairs[:, 0]], raw[..., pairs[:, 1]]), rtol=1e-5, atol=1e-6)
    # ...and the angle is position * inv_freq, by the formula (independent of transformers' code)
    theta = np.arange(c.n_tokens)[:, None] * rope_inv_freq(smol.lm)[None]  # [T, dh/2]
    cos, sin = np.cos(theta), np.sin(theta)
    a, b = c.k_raw[..., pairs[:, 0]], c.k_raw[..., pairs[:, 1]]
    np.testing.assert_allclose(c.k[..., pairs[:, 0]], a * cos - b * sin, atol=1e-4)
    np.testing.assert_allclose(c.k[..., pairs[:, 1]], b * cos + a * sin, atol=1e-4)
    np.testing.assert_allclose(c.cos, np.concatenate([cos, cos], -1), atol=1e-5)
    np.testing.assert_allclose(c.sin, np.concatenate([sin, sin], -1), atol=1e-5)
    s = c.step(4, 6)
    np.testing.assert_array_equal(s.q_raw, c.q_raw[4, 6])
    np.testing.assert_array_equal(s.k_raw, c.k_raw[1])


def test_models_without_rope_have_no_raw_vectors(mini, tiny_gpt2_case):
    for case in (mini, tiny_gpt2_case):
        c = capture_qkv(case.lm, case.trace.ids, 0)
        assert not c.rope and c.q_raw is None and c.k_raw is None and c.cos is None
        s = c.step(0, 1)
        assert s.q_raw is None and s.k_raw is None


# --------------------------------------------------------------------------- the pass, its hooks
def hook_counts(lm: LoadedModel) -> list[int]:
    return [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in lm.model.modules()]


def test_early_stop_gives_the_same_numbers_and_leaves_no_hook(smol):
    before = hook_counts(smol.lm)
    early = capture_qkv(smol.lm, smol.trace.ids, 29)
    full = capture_qkv(smol.lm, smol.trace.ids, 29, stop_early=False)
    assert hook_counts(smol.lm) == before
    for f in ("q", "k", "v", "q_raw", "k_raw", "mask", "cos", "sin"):
        np.testing.assert_array_equal(getattr(early, f), getattr(full, f))
    # and the model still works normally afterwards
    assert max_diff(compute_trace(smol.lm, TEXT).attentions, smol.trace.attentions) <= 1e-6


def test_hooks_are_removed_when_the_forward_pass_fails(tiny_gpt2_case, monkeypatch):
    lm = tiny_gpt2_case.lm
    before = hook_counts(lm)

    def boom(*args, **kwargs):
        raise RuntimeError("forward failed")

    monkeypatch.setattr(lm.model.transformer.h[1].mlp, "forward", boom)
    with pytest.raises(RuntimeError, match="forward failed"):
        capture_qkv(lm, tiny_gpt2_case.trace.ids, 2)
    assert hook_counts(lm) == before
    capture_qkv(lm, tiny_gpt2_case.trace.ids, 0)  # layer 0's attention runs before the failing MLP: stops there
    monkeypatch.undo()
    assert max_diff(capture_qkv(lm, tiny_gpt2_case.trace.ids, 2).weights(), tiny_gpt2_case.trace.attentions[2]) <= ATOL


@pytest.mark.parametrize("layer", [30, -1, 2.0, True, "3"])
def test_a_layer_out_of_range_is_a_clear_error(smol, layer):
    with pytest.raises(ValueError, match=r"Block index .* does not exist: .*SmolLM2.* has block indices 0 to 29 "
                                         r"\(layers 1 to 30\)\."):
        capture_qkv(smol.lm, smol.trace.ids, layer)


def test_bad_ids_heads_and_queries_are_clear_errors(smol):
    with pytest.raises(ValueError, match="non-empty 1-D"):
        capture_qkv(smol.lm, np.array([], dtype=np.int64), 0)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        capture_qkv(smol.lm, np.array([[1, 2]]), 0)
    with pytest.raises(ValueError, match="between 0 and 49151"):
        capture_qkv(smol.lm, np.array([1, 49152]), 0)
    c = capture_qkv(smol.lm, smol.trace.ids[:4], 0)
    for head, query, what in ((9, 0, "Head index 9"), (-1, 0, "Head index -1"), (0, 4, "Query token 4")):
        with pytest.raises(ValueError, match=f"{what} does not exist: choose 0 to"):
            c.step(head, query)


def test_a_decoder_without_a_mask_tensor_is_still_causal():
    from models.attention import _bool_mask

    np.testing.assert_array_equal(_bool_mask(None, 3, causal=True), np.tril(np.ones((3, 3), bool)))
    assert _bool_mask(None, 3, causal=False).all()
    padded = torch.tensor([[[[0.0, 0.0, torch.finfo(torch.float32).min]]]])  # [1, 1, 1, T] padding mask
    assert _bool_mask(padded, 3, causal=False).tolist() == [[True, True, False]] * 3


# --------------------------------------------------------------------------------- head statistics
def as_layers(pattern: np.ndarray) -> np.ndarray:
    return pattern[None, None]  # [T, T] -> [1, 1, T, T]


T6 = 6
NO_SPECIAL = np.zeros(T6, dtype=bool)


def test_stats_of_a_previous_token_head():
    a = np.zeros((T6, T6))
    a[0, 0] = 1.0
    a[np.arange(1, T6), np.arange(T6 - 1)] = 1.0
    s = {k: float(v[0, 0]) for k, v in head_stats(as_layers(a), NO_SPECIAL, causal=True).items()}
    assert s == {"prev": 1.0, "distance": 1.0, "self": 0.0, "entropy": 0.0, "first": pytest.approx(1 / 5)}


def test_stats_of_uniform_causal_attention():
    a = np.tril(np.ones((T6, T6))) / np.arange(1, T6 + 1)[:, None]  # row i: 1/(i+1) on tokens 0..i
    s = head_stats(as_layers(a), NO_SPECIAL, causal=True)
    rows = np.arange(1, T6)  # decoders leave out row 0
    assert s["entropy"][0, 0] == pytest.approx(np.mean(np.log2(rows + 1)))
    assert s["first"][0, 0] == pytest.approx(np.mean(1 / (rows + 1)))
    assert s["self"][0, 0] == pytest.approx(np.mean(1 / (rows + 1)))
    assert s["prev"][0, 0] == pytest.approx(np.mean(1 / (rows + 1)))
    assert s["distance"][0, 0] == pytest.approx(np.mean(rows / 2))  # mean of 0..i is i/2
    assert "special" not in s


def test_stats_of_an_attention_sink_and_of_uniform_encoder_attention():
    sink = np.zeros((T6, T6))
    sink[:, 0] = 1.0
    s = head_stats(as_layers(sink), NO_SPECIAL, causal=True)
    assert (s["first"] == 1).all() and (s["self"] == 0).all() and (s["entropy"] == 0).all()
    assert s["distance"][0, 0] == pytest.approx(np.mean(np.arange(1, T6)))

    special = np.array([True, False, False, False, False, True])  # [CLS] ... [SEP]
    uniform = np.full((T6, T6), 1 / T6)
    s = head_stats(as_layers(uniform), special, causal=False)  # encoders use every row
    assert s["entropy"][0, 0] == pytest.approx(math.log2(T6))
    assert s["special"][0, 0] == pytest.approx(2 / T6)
    assert s["first"][0, 0] == pytest.approx(1 / T6) and s["prev"][0, 0] == pytest.approx(1 / T6)
    i = np.arange(T6)
    assert s["distance"][0, 0] == pytest.approx(np.abs(i[:, None] - i[None]).mean())


def test_stats_edge_cases_and_bad_shapes():
    one = head_stats(np.ones((2, 3, 1, 1)), np.zeros(1, bool), causal=True)
    assert all(v.shape == (2, 3) and np.isnan(v).all() for v in one.values())  # nothing to average
    enc = head_stats(np.ones((1, 1, 1, 1)), np.zeros(1, bool), causal=False)
    assert enc["self"][0, 0] == 1.0 and np.isnan(enc["prev"][0, 0])
    with pytest.raises(ValueError, match="layers, heads, T, T"):
        head_stats(np.ones((3, 3)), np.zeros(3, bool), causal=True)
    with pytest.raises(ValueError, match="one flag per token"):
        head_stats(np.ones((1, 1, 3, 3)) / 3, np.zeros(2, bool), causal=True)


def brute_force_stats(att: np.ndarray, special: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    L, H, T, _ = att.shape
    out = {k: np.zeros((L, H)) for k in ("entropy", "prev", "first", "self", "special", "distance")}
    for l in range(L):
        for h in range(H):
            acc = {k: [] for k in out}
            for i in range(T):
                p = att[l, h, i].astype(np.float64)
                if i >= 1:
                    acc["prev"].append(p[i - 1])
                if causal and i == 0:
                    continue
                acc["entropy"].append(-sum(x * math.log2(x) for x in p if x > 0))
                acc["first"].append(p[0])
                acc["self"].append(p[i])
                acc["special"].append(sum(p[j] for j in range(T) if special[j]))
                acc["distance"].append(sum(p[j] * abs(i - j) for j in range(T)))
            for k in out:
                out[k][l, h] = np.mean(acc[k])
    return out


@pytest.mark.parametrize("case_name,causal", [("smol", True), ("mini", False)])
def test_stats_equal_a_brute_force_loop_on_a_real_trace(case_name, causal, request):
    tr = request.getfixturevalue(case_name).trace
    att = tr.attentions[:2, :, :12, :12]  # a corner is enough for a loop (rows renormalised below)
    att = att / att.sum(-1, keepdims=True)
    special = np.asarray(tr.special[:12])
    got = head_stats(att, special, causal)
    want = brute_force_stats(att, special, causal)
    assert set(got) == set(STATS) - ({"special"} if not special.any() else set())
    for k in got:
        np.testing.assert_allclose(got[k], want[k], atol=1e-9, err_msg=k)
    assert set(STATS) == {"entropy", "prev", "first", "self", "special", "distance"}
    assert all(label and meaning.endswith(".") for label, meaning in STATS.values())
    assert "first row" in HEAD_STATS_ROWS


# ------------------------------------------------------------------------------------ words
WORD_TEXT = "Unbelievable results, said Émile 🦒 twice."  # SmolLM2 cuts 🦒 into 3 byte pieces


@pytest.mark.parametrize("tok_name,wrapped", [("smollm2_tok", False), ("minilm_tok", True)])
def test_words_are_whitespace_separated_runs_of_pieces(tok_name, wrapped, request):
    tok = request.getfixturevalue(tok_name).tokenizer
    enc = encode(tok, WORD_TEXT)
    tokens = tok.convert_ids_to_tokens(enc.ids.tolist())
    words = word_ids(enc.offsets, enc.special, WORD_TEXT)
    assert len(tokens) > len(WORD_TEXT.split()) + 2 * wrapped  # some words really are split into pieces
    assert (np.diff(words) >= 0).all() and words[0] == 0
    labels = word_labels(WORD_TEXT, enc.offsets, words, tokens)
    if wrapped:  # [CLS] and [SEP] are words of their own; MiniLM has no 🦒 in its vocabulary: [UNK] keeps it
        assert labels == ["[CLS]", *WORD_TEXT.split(), "[SEP]"]
    else:
        assert labels == WORD_TEXT.split()
        starts, ends = enc.offsets[1:, 0], np.maximum.accumulate(enc.offsets[:-1, 1])
        assert (starts < ends).any()  # byte pieces of one character share their characters: same word


@pytest.mark.parametrize("text, labels", [
    ("中文 你好世界", ["中", "文", "你", "好", "世", "界"]),  # "中文" "Ġ" then byte pieces: the space joins 你
    ("Hello 世界!", ["Hello", "世", "界", "!"]),
    ("我喜欢 New York 的披萨", ["我", "喜", "欢", "New", "York", "的", "披", "萨"]),
])
def test_a_lone_space_piece_joins_the_word_after_it(smollm2_tok, text, labels):
    enc = encode(smollm2_tok.tokenizer, text)
    pieces = [text[a:b] for a, b in enc.offsets.tolist()]
    assert any(p.isspace() for p in pieces)  # the tokenizer really makes a space-only piece here
    words = word_ids(enc.offsets, enc.special, text)
    assert word_labels(text, enc.offsets, words) == labels


def test_whitespace_only_pieces_and_special_tokens_in_the_middle():
    text = "ab cd\n\nef"
    offsets = np.array([[0, 1], [1, 2], [2, 5], [0, 0], [5, 7], [7, 9]])  # "a" "b" " cd" [X] "\n\n" "ef"
    special = np.array([False, False, False, True, False, False])
    words = word_ids(offsets, special, text)
    assert words.tolist() == [0, 0, 1, 2, 3, 3]  # the blank piece "\n\n" joins "ef"
    assert word_labels(text, offsets, words, ["a", "b", "Ġcd", "[X]", "ĊĊ", "ef"]) == ["ab", "cd", "[X]", "ef"]


def test_word_attention_sums_key_pieces_and_averages_query_pieces(mini):
    tr = mini.trace
    words = word_ids(tr.offsets, tr.special, tr.text)
    att = tr.attentions  # [L, H, T, T]
    got = word_attention(att, words)
    W = int(words.max()) + 1
    assert got.shape == att.shape[:2] + (W, W)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    want = np.zeros_like(got)
    for a in range(W):
        qs = [i for i in range(len(words)) if words[i] == a]
        for b in range(W):
            ks = [j for j in range(len(words)) if words[j] == b]
            want[..., a, b] = np.mean([att[..., i, ks].sum(-1) for i in qs], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # a known small case: words [0, 0, 1]
    small = np.array([[1.0, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(word_attention(small, np.array([0, 0, 1])), [[1.0, 0.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="word ids must count"):
        word_attention(small, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="there are 2 word ids"):
        word_attention(small, np.array([0, 1]))
