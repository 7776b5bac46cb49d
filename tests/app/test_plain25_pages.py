"""Words first, jargon later (issue #25): every page opens with ONE short plain sentence, with none of the jargon
that the model-specific paragraph carries, and that paragraph (chosen from the loaded model's config) is kept in
a collapsed "Details for this model" expander. The expected details are read from the model's own config and
modules here, not from the page's code."""
from __future__ import annotations

import re

import pytest

from models.registry import REGISTRY
from tests.app.helpers import run_page

JARGON = ["RMSNorm", "LayerNorm", "tie_word_embeddings", "unembedding", "GQA", "grouped-query", "KV cache", "RoPE",
          "WordPiece", "BPE", "softmax", "logit", "d_head", "pre-norm", "post-norm", "masked"]
MAX_WORDS = 40
TEXT = "The capital of France is"


def first_sentence(at) -> str:
    value = at.main.markdown[0].value
    assert len(value.split()) <= MAX_WORDS, value
    assert len(re.findall(r"[.!?](\s|$)", value.strip())) <= 1, value  # one sentence (a colon or ; may join parts)
    low = value.lower()
    assert not [w for w in JARGON if w.lower() in low], value
    return value


def details(at) -> str:
    boxes = [e for e in at.main.expander if e.label == "Details for this model"]
    assert len(boxes) == 1, [e.label for e in at.main.expander]
    assert boxes[0].proto.expanded is False  # collapsed: the figure comes first
    return "\n".join(m.value for m in boxes[0].markdown)


def cfg(lm):
    return lm.model.config


def test_decoder_pages(smollm2):
    c = cfg(smollm2)
    at = run_page("app_pages/tokens.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    assert "byte-level BPE" in details(at)

    at = run_page("app_pages/embeddings.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    assert f"{c.vocab_size:,} rows of {c.hidden_size} learned numbers" in details(at)

    at = run_page("app_pages/similarity.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    assert f"vector of {c.hidden_size} numbers" in details(at)

    at = run_page("app_pages/attention.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    text = details(at)
    assert c.num_key_value_heads < c.num_attention_heads and "grouped-query attention" in text
    assert "RoPE" in text and "**decoder**" in text and f"d_head = {c.hidden_size // c.num_attention_heads}" in text

    at = run_page("app_pages/next_token.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    text = details(at)
    norm = type(smollm2.model.model.norm).__name__
    assert norm == "LlamaRMSNorm" and f"final {norm}" in text
    assert ("`tie_word_embeddings` is true" in text) == bool(c.tie_word_embeddings)
    assert "unembedding" in text

    at = run_page("app_pages/block.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    assert "**pre-norm**" in details(at)

    at = run_page("app_pages/generate.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    assert "KV cache" in details(at) and f"{c.vocab_size:,}" in details(at)


def test_encoder_pages(minilm):
    c = cfg(minilm)
    at = run_page("app_pages/tokens.py", model="minilm-l6", text=TEXT)
    first_sentence(at)
    assert "**WordPiece**" in details(at) and "[CLS]" in details(at)

    at = run_page("app_pages/attention.py", model="minilm-l6", text=TEXT)
    first_sentence(at)
    text = details(at)
    assert "**encoder**" in text and "learned position vectors" in text and "RoPE" not in text
    assert f"{c.num_hidden_layers} layers × {c.num_attention_heads} heads" in text

    at = run_page("app_pages/next_token.py", model="minilm-l6", text=TEXT)
    assert "hidden word" not in first_sentence(at)  # MiniLM has no masked-LM head: it fills no blank
    assert "Encoders such as BERT are not trained to continue a text" in details(at)

    at = run_page("app_pages/block.py", model="minilm-l6", text=TEXT)
    first_sentence(at)
    assert "**post-norm**" in details(at)


def test_home_opens_with_plain_words():
    at = run_page("app_pages/home.py", model="smollm2-135m", text=TEXT)
    first_sentence(at)
    assert any("the same text is used on every page" in c.value for c in at.main.caption)


def test_chinese_keeps_the_moved_sentences():
    at = run_page("app_pages/attention.py", model="smollm2-135m", text=TEXT, lang="zh")
    assert "注意力就是" in at.main.markdown[0].value
    (box,) = [e for e in at.main.expander if e.label == "这个模型的细节"]
    text = "\n".join(m.value for m in box.markdown)
    assert "[因果掩码](/glossary?term=causal-mask" in text and "分组查询注意力" in text


@pytest.mark.parametrize("page", ["app_pages/tokens.py", "app_pages/next_token.py"])
def test_phone_summary_names_the_text(page):
    at = run_page(page, model="smollm2-135m", text=TEXT)
    label = REGISTRY["smollm2-135m"].label
    values = [c.value for c in at.main.caption]
    i = values.index(f"**{label}** · ` {TEXT} `")  # the model and the text, literally
    assert values[i + 1] == "Edit the text or the model in the sidebar (» top left)."
