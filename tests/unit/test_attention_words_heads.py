"""Word level in Chinese and Japanese (one word per character, byte pieces merged), and the heads'
concatenation mixed by W^O (models/attention.py; the diagram in components/multihead_plots.py).

References are independent of the code under test: the expected words are the characters of the text; the
tokenizers' own pre-tokenization shows why a fallback is needed; the merged matrix is recomputed here with
loops; the attention sub-layer's output and the residual sum are captured with hooks written here, and the
per-head outputs are the model's own attention weights (output_attentions) times the values.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.attention import (
    capture_qkv,
    concat_heads,
    has_spaceless,
    head_contributions,
    is_spaceless,
    mix_heads,
    output_projection,
    output_projection_shape,
    word_attention,
    word_ids,
    word_labels,
)
from models.loading import LoadedModel
from models.registry import ModelSpec
from models.tokens import encode
from models.trace import compute_trace

ZH = "今天天气很好，我们去公园散步吧。"  # 31 SmolLM2 tokens, all byte pieces but "，" and "。"
MIXED = "I like 北京烤鸭 a lot, GPT-2模型!"
EMOJI = "我家👩‍👩‍👧很好🦒。"  # a ZWJ family (5 code points) and a giraffe, each several byte pieces in SmolLM2


def words_of(tok, text: str) -> tuple[list[str], np.ndarray, object]:
    enc = encode(tok, text)
    words = word_ids(enc.offsets, enc.special, text)
    return word_labels(text, enc.offsets, words, tok.convert_ids_to_tokens(enc.ids.tolist())), words, enc


# ------------------------------------------------------------------------------------- Chinese words
@pytest.mark.parametrize("tok_name,wrapped", [("smollm2_tok", False), ("minilm_tok", True)])
def test_a_chinese_sentence_gives_one_word_per_character(tok_name, wrapped, request):
    tok = request.getfixturevalue(tok_name).tokenizer
    labels, words, enc = words_of(tok, ZH)
    chars = list(ZH)
    assert labels == (["[CLS]", *chars, "[SEP]"] if wrapped else chars)
    assert int(words.max()) + 1 == len(chars) + 2 * wrapped > 1
    assert (np.diff(words) >= 0).all()
    if not wrapped:
        assert len(enc.ids) == 31  # the count: several byte pieces per character, merged back


def test_the_tokenizers_own_pre_tokenization_and_why_characters_are_the_fallback(smollm2_tok, minilm_tok):
    """BERT's pipeline (its normalizer puts spaces around every Han character, then its pre-tokenizer splits)
    makes one pre-token per character: the words above are exactly those. Byte-level BPE's pre-tokenizer keeps
    runs of Chinese characters together: its pre-tokens hold several of our words each, never part of one."""
    bert = minilm_tok.tokenizer.backend_tokenizer
    pieces = [s for s, _span in bert.pre_tokenizer.pre_tokenize_str(bert.normalizer.normalize_str(ZH))]
    assert pieces == list(ZH)
    bpe = smollm2_tok.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(ZH)
    spans = [span for _s, span in bpe]
    assert len(spans) < len(ZH) and max(e - s for s, e in spans) >= 6  # "今天天气很好" is one pre-token
    labels, words, enc = words_of(smollm2_tok.tokenizer, ZH)
    for w in range(int(words.max()) + 1):
        start, end = enc.offsets[words == w, 0].min(), enc.offsets[words == w, 1].max()
        assert any(s <= start and end <= e for s, e in spans), labels[w]


@pytest.mark.parametrize("tok_name,wrapped", [("smollm2_tok", False), ("minilm_tok", True)])
def test_mixed_english_and_chinese(tok_name, wrapped, request):
    labels, _w, _e = words_of(request.getfixturevalue(tok_name).tokenizer, MIXED)
    expected = ["I", "like", "北", "京", "烤", "鸭", "a", "lot,", "GPT-2", "模", "型", "!"]  # spaces for English
    assert labels == (["[CLS]", *expected, "[SEP]"] if wrapped else expected)


def test_an_emoji_of_several_byte_pieces_stays_one_word(smollm2_tok, minilm_tok):
    tok = smollm2_tok.tokenizer
    labels, words, enc = words_of(tok, EMOJI)
    assert labels == ["我", "家", "👩\u200d👩\u200d👧", "很", "好", "🦒", "。"]
    family = labels.index("👩\u200d👩\u200d👧")
    giraffe = labels.index("🦒")
    assert (words == family).sum() >= 5 and (words == giraffe).sum() >= 2  # really several byte pieces each
    labels, _w, _e = words_of(minilm_tok.tokenizer, EMOJI)
    assert labels == ["[CLS]", "我", "家", "👩\u200d👩\u200d👧", "很", "好", "🦒", "。", "[SEP]"]


def test_japanese_kana_and_a_variation_selector(smollm2_tok):
    text = "これはテストです。葛\U000E0100飾"  # 葛 + an ideographic variation selector: one character
    labels, _w, _e = words_of(smollm2_tok.tokenizer, text)
    assert labels == ["こ", "れ", "は", "テ", "ス", "ト", "で", "す", "。", "葛\U000E0100", "飾"]


def test_which_characters_are_written_without_spaces():
    assert all(is_spaceless(c) for c in "今天。，！？、「」こテｶ\U00020000")
    assert not any(is_spaceless(c) for c in "aZ9 .,!-éЖ한🦒\u3000"[:-1] + "\u200d")
    assert has_spaceless("GPT-2模型") and not has_spaceless("Unbelievable results, said Émile 🦒 twice.")


def independent_word_matrix(att: np.ndarray, words: np.ndarray) -> np.ndarray:
    """The page's stated rule, with loops: a word's row is the MEAN over its query pieces of the SUM over the
    key pieces of each other word."""
    W = int(words.max()) + 1
    out = np.zeros(att.shape[:-2] + (W, W))
    for a in range(W):
        qs = np.flatnonzero(words == a)
        for b in range(W):
            ks = np.flatnonzero(words == b)
            out[..., a, b] = sum(att[..., i, ks].sum(-1) for i in qs) / len(qs)
    return out


@pytest.mark.parametrize("model_name", ["smollm2", "minilm"])
def test_chinese_word_matrix_follows_the_stated_rule(model_name, request):
    lm = request.getfixturevalue(model_name)
    tr = compute_trace(lm, ZH + " The weather is nice today.")
    words = word_ids(tr.offsets, tr.special, tr.text)
    labels = word_labels(tr.text, tr.offsets, words, tr.tokens)
    plain = [w for w, special in zip(labels, [bool(tr.special[words == i].all()) for i in range(len(labels))])
             if not special]
    assert plain == [*ZH, "The", "weather", "is", "nice", "today."]
    got = word_attention(tr.attentions[:, :2], words)  # two heads of every layer
    W = int(words.max()) + 1
    assert got.shape == (lm.facts.n_layers, 2, W, W) and W > 1
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, independent_word_matrix(tr.attentions[:, :2].astype(np.float64), words),
                               atol=1e-6)
    if lm.facts.family == "decoder":  # a word never reads a later word
        assert (np.triu(got, k=1) == 0).all()


# ------------------------------------------------------------------------------- heads -> W^O
OUTPUT_PROJECTIONS = {"llama": "self_attn.o_proj", "gpt2": "attn.c_proj", "bert": "attention.output.dense",
                      "distilbert": "attention.out_lin"}
# the module whose INPUT is x + attention output (pre-norm: the norm before the MLP; post-norm: the LayerNorm
# that normalises the sum)
RESIDUAL_SUM = {"llama": "post_attention_layernorm", "gpt2": "ln_2", "bert": "attention.output.LayerNorm",
                "distilbert": "sa_layer_norm"}


def wrap(model, tokenizer, family: str, head: str, model_id: str) -> LoadedModel:
    from models.facts import model_facts

    spec = ModelSpec(id=model_id, label=f"Tiny {model_id}", family=family, source="local", head=head)
    model.set_attn_implementation("eager")
    model.eval().requires_grad_(False)
    return LoadedModel(spec=spec, model=model, tokenizer=tokenizer, facts=model_facts(spec, model, tokenizer))


@pytest.fixture(scope="module")
def tiny_gpt2_lm(smollm2_tok) -> LoadedModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=3, n_head=4, n_embd=32, vocab_size=49152, n_positions=128)
    return wrap(GPT2LMHeadModel(config), smollm2_tok.tokenizer, "decoder", "causal-lm", "gpt2")


@pytest.fixture(scope="module")
def tiny_distilbert_lm(minilm_tok) -> LoadedModel:
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(0)
    config = DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, vocab_size=30522)
    return wrap(DistilBertForMaskedLM(config), minilm_tok.tokenizer, "encoder", "masked-lm", "distilbert")


def block_of(model, layer: int):
    """Block index ``layer`` of a Llama / GPT-2 / BERT / DistilBERT model, found here by name."""
    for path in ("model.layers", "transformer.h", "bert.encoder.layer", "encoder.layer", "distilbert.transformer.layer"):
        try:
            return model.get_submodule(path)[layer]
        except AttributeError:
            continue
    raise AssertionError(f"no blocks found in {type(model).__name__}")


def sublayer_io(lm: LoadedModel, ids: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """(the output projection's output [T, d], the input of the module that receives x + that output [T, d])
    for block index ``layer``, with hooks registered here."""
    block = block_of(lm.model, layer)
    kind = lm.model.config.model_type
    proj = block.get_submodule(OUTPUT_PROJECTIONS[kind])
    after = block.get_submodule(RESIDUAL_SUM[kind])
    seen = {}
    handles = [proj.register_forward_hook(lambda _m, _i, out: seen.update(out=out[0].detach().float().numpy())),
               after.register_forward_pre_hook(lambda _m, inputs: seen.update(sum=inputs[0][0].detach().float().numpy()))]
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.array(ids, np.int64))[None]
            lm.model(input_ids=x, attention_mask=torch.ones_like(x))
    finally:
        for h in handles:
            h.remove()
    return seen["out"], seen["sum"]


HEAD_CASES = {"smollm2": (0, 14, 29), "minilm": (0, 5), "tiny_gpt2_lm": (0, 2), "tiny_distilbert_lm": (0, 1)}


@pytest.mark.parametrize("case", HEAD_CASES)
def test_concatenated_heads_times_w_o_is_the_attention_output(case, request):
    lm: LoadedModel = request.getfixturevalue(case)
    f = lm.facts
    tr = compute_trace(lm, "The quick brown fox jumps over the lazy dog, said 小明.")
    T = tr.n_tokens
    for layer in HEAD_CASES[case]:
        qkv = capture_qkv(lm, tr.ids, layer)
        # each head's output: the model's OWN attention weights (output_attentions) times the values it reads
        w = tr.attentions[layer].astype(np.float64)  # [H, T, T]
        heads = np.stack([w[h] @ qkv.v[qkv.kv_of_head[h]].astype(np.float64) for h in range(f.n_heads)])
        assert heads.shape == (f.n_heads, T, f.d_head)
        proj = output_projection(lm.model, layer)
        assert proj.weight.shape == output_projection_shape(lm.model, layer) == (f.n_heads * f.d_head, f.d_model)
        assert proj.name == OUTPUT_PROJECTIONS[lm.model.config.model_type]
        concat = concat_heads(heads)
        assert concat.shape == (T, f.n_heads * f.d_head)
        np.testing.assert_array_equal(concat[:, f.d_head:2 * f.d_head], heads[1])  # head 2 is the second strip
        got = mix_heads(heads, proj)
        model_out, residual_sum = sublayer_io(lm, tr.ids, layer)
        assert got.shape == model_out.shape == (T, f.d_model)
        assert np.abs(got - model_out).max() <= 1e-4, (layer, np.abs(got - model_out).max())
        # the heads' separate contributions add up to the same output
        parts = head_contributions(heads, proj)
        assert parts.shape == (f.n_heads, T, f.d_model)
        np.testing.assert_allclose(parts.sum(0) + (0 if proj.bias is None else proj.bias), got, atol=1e-9)
        # ... and the output is added back to the block's input (the residual stream)
        x = tr.hidden_states[layer]
        assert np.abs(x + model_out - residual_sum).max() <= 1e-4
        assert proj.post_norm == (f.model_type in ("bert", "distilbert"))
        assert (proj.bias is None) == (f.model_type == "llama")


def test_w_o_errors_and_shapes(tiny_gpt2_lm):
    from models.attention import AttentionError

    with pytest.raises(AttentionError):
        output_projection(tiny_gpt2_lm.model, 3)
    proj = output_projection(tiny_gpt2_lm.model, 0)
    with pytest.raises(ValueError, match="concatenated columns"):
        mix_heads(np.zeros((3, 5, 8)), proj)  # 3 heads x 8 = 24 columns, W^O has 32 rows


# --------------------------------------------------------------------------------------- the diagram
def test_heads_concat_diagram_labels_the_shapes():
    from components.multihead_plots import heads_concat_diagram

    fig = heads_concat_diagram(n_tokens=12, n_heads=9, d_head=64, d_model=576, wo_shape=(576, 576),
                               wo_name="self_attn.o_proj<b>", title="t", kv_groups=[[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    texts = [a.text for a in fig.layout.annotations]
    assert any("12 × 576" in t and "9 heads" in t for t in texts)
    assert any("12 × 64" in t for t in texts)
    assert any("576 × 576" in t and "self_attn.o_proj&lt;b&gt;" in t for t in texts)  # escaped
    assert [t for t in texts if t.startswith("kv ")] == ["kv 1", "kv 2", "kv 3"]
    assert [t for t in texts if t.isdigit()] == [str(h) for h in range(1, 10)]  # heads numbered from 1
    strips = [s for s in fig.layout.shapes if s.type == "rect" and s.y1 - s.y0 < 576 and s.x1 <= 576]
    assert sorted((s.x0, s.x1) for s in strips if s.x1 - s.x0 == 64) == [(64 * h, 64 * h + 64) for h in range(9)]
    assert any("x + output" in t for t in texts)
    fig = heads_concat_diagram(n_tokens=5, n_heads=12, d_head=32, d_model=384, wo_shape=(384, 384),
                               wo_name="attention.output.dense", title="t", bias=True, post_norm=True)
    texts = [a.text for a in fig.layout.annotations]
    assert not any(t.startswith("kv ") for t in texts)
    assert any("bias, 384" in t for t in texts) and any("LayerNorm(x + output)" in t for t in texts)
