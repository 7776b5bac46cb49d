"""AppTest of the training-signal section of /next-token (the loss at every position) through the real app.py:
the mean loss, perplexity and bars shown are transformers' own loss for the text, in English and Chinese; an
encoder says why there is no such loss, from what is loaded."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from components.state import DEFAULT_TEXT
from models import registry
from tests.app import helpers
from tests.app.helpers import array, charts

PAGE = "app_pages/next_token.py"
ZH = __import__("i18n").translations("zh")


def reference(lm, text: str) -> tuple[float, np.ndarray]:
    """transformers' loss for the text (labels = ids) and torch's per-position cross-entropy."""
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = lm.model(input_ids=ids, labels=ids)
        ce = torch.nn.CrossEntropyLoss(reduction="none")(out.logits[0, :-1].float(), ids[0, 1:])
    return out.loss.item(), ce.numpy()


def loss_chart(at, lang: str = "en") -> dict:
    prefix = "Loss at each of" if lang == "en" else "次预测各自的损失"
    return next(fig for title, fig in charts(at).items() if prefix in title)


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_default_text_shows_the_models_own_mean_loss_and_perplexity(smollm2):
    at = helpers.run_page(PAGE)  # the default model and text, as a new visitor sees them
    assert at.query_params["model"] == "smollm2-135m" and at.query_params["text"] == DEFAULT_TEXT
    mean, ce = reference(smollm2, DEFAULT_TEXT)
    assert metric(at, "Mean loss (cross-entropy)") == f"{mean:.3f}"
    assert metric(at, "Perplexity") == f"{math.exp(mean):,.1f}"
    fig = loss_chart(at)
    bars = fig["data"][0]
    assert abs(array(bars["y"]) - ce).max() <= 1e-5
    tokens = smollm2.tokenizer.convert_ids_to_tokens(smollm2.tokenizer(DEFAULT_TEXT).input_ids)
    assert bars["x"][0] == f"1 {smollm2.tokenizer.convert_tokens_to_string([tokens[1]]).replace(' ', '␣')}"
    assert len(bars["x"]) == len(tokens) - 1  # the first token has no prediction
    assert fig["layout"]["title"]["text"].startswith(f"Loss at each of the {len(tokens) - 1} predictions")
    text = " ".join(m.value for m in at.markdown)
    assert "adds no beginning-of-sequence token, so the first token ` students ` has no prediction" in text
    assert "/glossary?term=loss-cross-entropy#loss-cross-entropy" in text
    assert "/glossary?term=perplexity#perplexity" in text
    assert f"exp({mean:.3f}) = {math.exp(mean):,.1f}" in text
    table = next(h.proto.body for h in at.get("html") if "the model expected" in h.proto.body)
    worst = int(np.argmax(ce)) + 1  # the most surprising token's position comes first
    assert f"<tbody><tr><td>{worst}</td>" in table
    assert "Download the loss at every position (CSV)" in [b.proto.label for b in at.get("download_button")]


def test_the_most_surprising_token_is_listed_first(smollm2):
    text = "The capital of France is Paris, and the capital of Italy is a banana."
    at = helpers.run_page(PAGE, model="smollm2-135m", text=text)
    mean, ce = reference(smollm2, text)
    assert metric(at, "Mean loss (cross-entropy)") == f"{mean:.3f}"
    table = next(h.proto.body for h in at.get("html") if "the model expected" in h.proto.body)
    ids = smollm2.tokenizer(text).input_ids
    worst = int(np.argmax(ce)) + 1
    first_row = table.split("<tbody><tr>", 1)[1].split("</tr>", 1)[0]
    shown = smollm2.tokenizer.decode([ids[worst]]).replace(" ", "␣")
    assert first_row.startswith(f"<td>{worst}</td><td class=\"tx-text\">{shown}</td>")


def test_a_single_token_has_nothing_to_predict():
    at = helpers.run_page(PAGE, model="smollm2-135m", text="Hello")
    assert any("This text is a single token" in i.value for i in at.info)
    assert not any("Loss at each of" in t for t in charts(at))


def test_minilm_says_why_there_is_no_next_token_loss():
    at = helpers.run_page(PAGE, model="minilm-l6")
    captions = " ".join(c.value for c in at.caption)
    assert "all-MiniLM-L6-v2 has no language-model head at all" in captions
    assert "/glossary?term=loss-cross-entropy" in captions
    assert not at.metric or "Mean loss (cross-entropy)" not in [m.label for m in at.metric]


@pytest.fixture
def tiny_ids(tiny_gpt2, tiny_bert, clean_registry):
    return {"decoder": registry.register_local(tiny_gpt2.dir).id, "encoder": registry.register_local(tiny_bert.dir).id}


def test_a_masked_lm_encoder_says_it_fills_blanks_and_a_gpt2_shows_its_loss(tiny_ids, tiny_gpt2):
    at = helpers.run_page(PAGE, model=tiny_ids["encoder"])
    assert "its masked-LM head is trained by filling masked tokens" in " ".join(c.value for c in at.caption)
    text = "The quick brown fox jumps over the lazy dog"
    at = helpers.run_page(PAGE, model=tiny_ids["decoder"], text=text)
    ids = tiny_gpt2.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        mean = tiny_gpt2.model(input_ids=ids, labels=ids).loss.item()  # the in-memory original model
    assert metric(at, "Mean loss (cross-entropy)") == f"{mean:.3f}"


def test_chinese_shows_the_same_loss_in_chinese_words(smollm2):
    at = helpers.run_page(PAGE, lang="zh")
    mean, ce = reference(smollm2, DEFAULT_TEXT)
    assert metric(at, ZH.gettext("Mean loss (cross-entropy)")) == f"{mean:.3f}" != ""
    assert ZH.gettext("Mean loss (cross-entropy)") == "平均损失（交叉熵）"
    assert metric(at, "困惑度") == f"{math.exp(mean):,.1f}"
    fig = loss_chart(at, "zh")
    assert abs(array(fig["data"][0]["y"]) - ce).max() <= 1e-5
    assert "模型的首选" in fig["data"][0]["hovertemplate"]
    assert [s.value for s in at.header if "训练信号" in s.value] == ["每个位置都在预测：训练信号"]
    text = " ".join(m.value for m in at.markdown)
    assert "不添加序列开始词元" in text and "/glossary?term=loss-cross-entropy&lang=zh#loss-cross-entropy" in text


def test_chinese_minilm_sentence():
    at = helpers.run_page(PAGE, lang="zh", model="minilm-l6")
    assert "all-MiniLM-L6-v2 根本没有语言模型输出头" in " ".join(c.value for c in at.caption)
