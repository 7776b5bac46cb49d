"""Sentences that depend on the model on screen (issue #18): how it was trained, what [CLS]/[SEP] are for, the
final norm before the unembedding, √d_head, the GGUF origin of SmolLM2's weights; in English and Chinese, through
the real app.py."""
from __future__ import annotations

import html
import re

import pytest

from i18n import translations
from tests.app.helpers import run_page

ZH = translations("zh").gettext
TEXT = "students celebrate the graduation with a big party"


def main_text(at) -> str:
    return " ".join([m.value for m in at.markdown] + [i.value for i in at.info])


def sidebar_html(at) -> str:
    return html.unescape(" ".join(h.proto.body for h in at.get("html")))


# ------------------------------------------------------------------------ training: tour and Generate
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tour_output_step_for_minilm_tells_how_it_was_trained(lang):
    at = run_page("app_pages/home.py", step="8", model="minilm-l6", text=TEXT, lang=lang)
    body = main_text(at)
    if lang == "en":
        assert "masked LM" not in body and "masked-LM" not in body and "fill" not in body
        assert "contrastively" in body and "sentence embedding" in body
        assert "nreimers/MiniLM-L6-H384-uncased" in body and "mean of the last layer's token vectors" in body
    else:
        assert "掩码" not in body and "填空" not in body and "填补" not in body
        assert "对比式微调" in body and ZH("sentence embedding") == "句向量" and "句向量" in body
        assert "nreimers/MiniLM-L6-H384-uncased" in body


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_generate_page_for_minilm_does_not_say_fill_in_blanks(lang):
    at = run_page("app_pages/generate.py", model="minilm-l6", text=TEXT, lang=lang)
    info = " ".join(i.value for i in at.info)
    if lang == "en":
        assert "fill in blanks" not in info and "masked" not in info
        assert "contrastively on sentence pairs" in info and "no language-model head" in info
    else:
        assert "填空" not in info and "掩码" not in info
        assert "对比式微调" in info and "没有语言模型输出头" in info


def test_next_token_page_for_minilm_tells_its_own_training():
    at = run_page("app_pages/next_token.py", model="minilm-l6", text=TEXT)
    body = main_text(at)
    assert "They learn" not in body  # not "BERT-style encoders ... learn masked language modelling"
    assert "contrastively" in " ".join(i.value for i in at.info)


def test_tour_output_step_for_smollm2_names_its_final_norm():
    at = run_page("app_pages/home.py", step="8", model="smollm2-135m", lang="en")
    body = main_text(at)
    assert "final normalisation (RMSNorm)" in body and "unembedding" in body
    at = run_page("app_pages/home.py", step="8", model="smollm2-135m", lang="zh")
    assert "（RMSNorm）" in main_text(at)


# ---------------------------------------------------------------------------------------- [CLS]/[SEP]
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tour_tokens_step_says_what_cls_and_sep_are_for(lang):
    at = run_page("app_pages/home.py", step="1", model="minilm-l6", text=TEXT, lang=lang)
    body = main_text(at)
    if lang == "en":
        assert "“start”" not in body and "“end”" not in body
        assert "separates a first sentence from a second" in body and "next-sentence prediction" in body
        # MiniLM's sentence vector is not [CLS]'s: its pooling is mean (facts from its sentence-transformers files)
        assert "does not use it that way" in body and "mean" in body
    else:
        assert "分别表示“开始”和“结束”" not in body and "开始”和“结束" not in body
        assert "隔开" in body and "下一句预测" in body and "平均" in body


def test_tour_tokens_step_for_smollm2_has_no_cls_sentence():
    at = run_page("app_pages/home.py", step="1", model="smollm2-135m", text=TEXT)
    body = main_text(at)
    assert "[CLS]" not in body and "no special token" in body


# ---------------------------------------------------------------------------------------- facts card
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_facts_card_shows_training_and_the_gguf_origin(lang):
    dec = sidebar_html(run_page("app_pages/home.py", model="smollm2-135m", lang=lang))
    enc = sidebar_html(run_page("app_pages/home.py", model="minilm-l6", lang=lang))
    training, weights = (("Training", "Weights") if lang == "en" else (ZH("Training"), ZH("Weights")))
    for card in (dec, enc):
        assert training in card and weights in card
    assert re.search(r"Q4_1[^<]{0,6}GGUF", dec) and "GGUF" not in enc
    if lang == "en":
        assert "differ slightly from the original unquantized" in dec
        assert "chat template" in dec and "contrastive fine-tuning" in enc and "masked" not in enc
    else:
        assert "反量化" in dec and "聊天模板" in dec and "对比式微调" in enc and "掩码" not in enc


# ------------------------------------------------------------------------------------ √d_head, nearby rows
def test_attention_page_divides_by_the_square_root_of_d_head():
    for model, d_head in (("smollm2-135m", 64), ("minilm-l6", 32)):
        at = run_page("app_pages/attention.py", model=model, text=TEXT)
        body = main_text(at)
        assert "√d_head" in body and f"d_head = {d_head}" in body
        assert f"√{d_head} = 8" in body if d_head == 64 else f"√{d_head} ≈ {d_head ** 0.5:.3f}" in body
        assert not re.search(r"√d[^_]", body)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tokens_page_says_similar_vectors_not_nearby_rows(lang):
    at = run_page("app_pages/tokens.py", model="minilm-l6", text=TEXT, lang=lang)
    body = main_text(at)
    if lang == "en":
        assert "nearby rows" not in body and "similar vectors" in body
    else:
        assert "相近的行；" not in body and "相似的向量" in body


def test_generate_intro_says_how_beams_are_ranked():
    at = run_page("app_pages/generate.py", model="smollm2-135m", text="The capital of France is")
    body = main_text(at)
    assert "highest total probability" not in body
    assert "divided by its length" in body and "length_penalty of 1" in body and "can miss" in body


# ------------------------------------------------------------------------- an encoder WITH BERT's heads
@pytest.fixture
def tiny_pretraining_bert_registered(tmp_path, monkeypatch):
    """A tiny random BERT saved with both pre-training heads (MLM + NSP, as bert-base-uncased's weights are),
    registered like a hub BERT would be."""
    import torch
    from transformers import BertConfig, BertForPreTraining

    from models import registry
    from models.loading import load_tokenizer

    torch.manual_seed(0)
    BertForPreTraining(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                  vocab_size=30522)).save_pretrained(tmp_path)
    load_tokenizer("minilm-l6").save_pretrained(tmp_path)
    spec = registry.ModelSpec(id="tiny-bert-words", label="Tiny BERT", family="encoder", source="local",
                              path=str(tmp_path), head="masked-lm")
    monkeypatch.setitem(registry.REGISTRY, spec.id, spec)
    monkeypatch.setattr(registry, "_SPECS", [*registry._SPECS, spec])
    return spec


def test_tour_and_generate_for_a_bert_with_its_pretraining_heads(tiny_pretraining_bert_registered):
    spec = tiny_pretraining_bert_registered
    at = run_page("app_pages/home.py", step="8", model=spec.id, text=TEXT)
    body = main_text(at)
    assert "masked LM" in body and "fills a [MASK]" in body and "next-sentence prediction" in body
    assert "contrastive" not in body
    at = run_page("app_pages/home.py", step="1", model=spec.id, text=TEXT)
    body = main_text(at)
    assert "separates a first sentence" in body and "does not use it that way" not in body  # no pooling recipe
    at = run_page("app_pages/generate.py", model=spec.id, text=TEXT)
    assert any("trained to fill in blanks" in i.value for i in at.info)
