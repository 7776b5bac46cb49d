"""Issue 25 #17 and #19: the glossary entries added for terms the pages use, their claims checked on the bundled
models (both families), and the URL length rules of components/state.py."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from components import state
from components.glossary import glossary_link, term

NEW_TERMS = ["entropy", "logit lens", "PCA", "BPE", "WordPiece", "one-hot", "attention sink", "[CLS] / [SEP]",
             "greedy decoding", "unembedding"]


@pytest.mark.parametrize("name", NEW_TERMS)
def test_each_term_has_an_entry_a_link_and_a_page(name):
    t = term(name)
    assert t.text and t.see.startswith("/")
    link = glossary_link(name)
    assert f"term={t.anchor}#{t.anchor})" in link


def test_wordpiece_entry_matches_minilms_tokenizer(minilm):
    text = term("WordPiece").text
    tok = minilm.tokenizer
    assert type(tok).__name__.startswith("BertTokenizer")
    pieces = tok.tokenize("Unbelievably")  # uncased: lower-cased first; a continuing piece starts with ##
    assert pieces[0] == pieces[0].lower() and any(p.startswith("##") for p in pieces[1:])
    assert tok.unk_token == "[UNK]" and "[UNK]" in text and "##" in text and "lower-case" in text


def test_cls_sep_entry_matches_both_tokenizers(minilm, smollm2):
    ids = minilm.tokenizer("hello", "world").input_ids
    assert ids[0] == minilm.tokenizer.cls_token_id and ids[-1] == minilm.tokenizer.sep_token_id
    assert ids.count(minilm.tokenizer.sep_token_id) == 2  # at the end and between the two texts of a pair
    plain = smollm2.tokenizer("hello").input_ids
    assert plain == smollm2.tokenizer.convert_tokens_to_ids(smollm2.tokenizer.tokenize("hello"))  # nothing added
    assert "add neither" in term("[CLS] / [SEP]").text


def test_one_hot_times_embedding_matrix_is_the_row(smollm2):
    emb = smollm2.model.get_input_embeddings().weight.detach().numpy()
    token_id = 1234
    one_hot = np.zeros(emb.shape[0], dtype=np.float32)
    one_hot[token_id] = 1
    np.testing.assert_allclose(one_hot @ emb, emb[token_id], atol=0)
    assert "exactly that token's row" in term("one-hot").text


def test_pca_entry_gives_each_models_vector_size(smollm2, minilm):
    text = term("PCA").text
    assert f"{smollm2.model.config.hidden_size} numbers per token in SmolLM2" in text
    assert f"{minilm.model.config.hidden_size} in MiniLM" in text


def test_unembedding_entry_tied_and_absent(smollm2, minilm):
    text = term("unembedding").text
    out, emb = smollm2.model.get_output_embeddings(), smollm2.model.get_input_embeddings()
    assert out is not None and out.weight.data_ptr() == emb.weight.data_ptr()  # tied: the same matrix
    assert "SmolLM2 and GPT-2 reuse their embedding" in text
    assert minilm.model.get_output_embeddings() is None  # a BertModel: no language-model head at all
    assert "all-MiniLM-L6-v2, has none" in text


def test_entropy_entry_bounds():
    text = term("entropy").text
    n = 8
    p = np.full(n, 1 / n)
    assert math.isclose(-(p * np.log2(p)).sum(), math.log2(n))  # "log₂ n bits when n outcomes are equally likely"
    assert "log₂ n bits" in text and "0 bits" in text


def test_greedy_entry_is_deterministic_on_smollm2(smollm2):
    import torch

    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.inference_mode():
        a = smollm2.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=5)
        b = smollm2.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=5)
    assert torch.equal(a, b) and "same prompt always gives the same text" in term("greedy decoding").text


# --------------------------------------------------------------------------------------- URL length (#19)
def test_too_long_spares_only_the_text():
    cap = state.MAX_PARAM_CHARS
    assert not state.too_long("beams", ["x" * cap])
    assert state.too_long("beams", ["1", "x" * (cap + 1)])  # any value of a repeated parameter
    assert not state.too_long("text", ["x" * (3 * cap)])  # the text is cut to MAX_TEXT_CHARS instead
    assert cap >= 50_000  # the largest parser limit (a pasted BPE corpus) still reaches its parser


@pytest.mark.parametrize("raw, reason", [("9" * 5000, "must be between 0 and 511"),
                                         ("-" + "9" * 5000, "must be between 0 and 511"),
                                         ("0" * 5000 + "7", None), ("0" * 100_000, None)])
def test_int_in_handles_thousands_of_digits(raw, reason):
    parse = state.int_in(0, 511)
    if reason is None:
        assert parse(raw) == int(raw.lstrip("0") or "0")
    else:
        with pytest.raises(ValueError, match=re.escape(reason)):
            parse(raw)


# ------------------------------------------------------------------------------- last write wins (#12)
def test_attention_redraw_reports_last_write_wins():
    from components.attention_redraw import is_newer

    assert is_newer(("a", 1), None)
    assert is_newer(("a", 5), ("a", 4)) and not is_newer(("a", 4), ("a", 5)) and not is_newer(("a", 5), ("a", 5))
    assert is_newer(("b", 1), ("a", 9))  # a frame drawn again numbers its reports from 1
    assert is_newer(("a", 0), ("a", 9))  # an unnumbered report (an older frontend) is never dropped
