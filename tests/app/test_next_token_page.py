"""AppTest of /next-token through the real app.py: the numbers drawn are the model's, the sliders re-weight them
like transformers' warpers, bad links warn and fall back, encoders without an MLM head offer the decoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from tests.app import helpers
from tests.app.helpers import array, charts

PAGE = "app_pages/next_token.py"
FRANCE = "The capital of France is"
BARS = "Next-token probabilities: the 20 most likely of all 49,152 tokens"


def open_page(**params: str) -> AppTest:
    """The page with its server-side path (Streamlit's sliders, figures built on the server): what these tests read.
    The browser-side component is tested in tests/app/test_sampling_redraw_page.py and tests/e2e."""
    at = AppTest.from_file(helpers.APP, default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.session_state["nt_server"] = True  # the toggle under the component
    helpers.switch_to(at, PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def model_probs(lm, text: str) -> np.ndarray:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return lm.model(input_ids=ids).logits[0, -1].softmax(-1).numpy()


def bar_data(at: AppTest):
    fig = charts(at)[BARS]
    original, adjusted = fig["data"][:2]
    ids = [int(y.rsplit("(id ", 1)[1].rstrip(")")) for y in original["y"]]
    return ids, array(original["x"]), array(adjusted["x"])


def test_bars_are_the_models_full_vocabulary_probabilities(smollm2):
    at = open_page(model="smollm2-135m", text=FRANCE)
    ids, original, adjusted = bar_data(at)
    probs = model_probs(smollm2, FRANCE)
    expected = np.argsort(-probs, kind="stable")[:20]
    assert ids == expected.tolist()
    np.testing.assert_allclose(original, probs[expected], atol=1e-6)
    np.testing.assert_allclose(adjusted, probs[expected], atol=1e-6)  # defaults: T = 1, nothing cut
    top = smollm2.tokenizer.decode([int(expected[0])]).replace(" ", "␣")
    assert charts(at)[BARS]["data"][0]["y"][0].startswith(f"1. {top}")
    caption = " ".join(c.value for c in at.caption)
    assert f"they hold {probs[expected].sum():.1%} of the model's probability" in caption
    assert "49,152" in caption
    assert {"Top-p: cumulative probability, most likely token first", "Top 5 tokens after each of the 30 layers"} \
        <= set(charts(at))
    text = " ".join(m.value for m in at.markdown)
    assert "tied to the input embeddings in SmolLM2-135M-Instruct" in text and "LlamaRMSNorm" in text


def test_link_settings_reweight_like_transformers(smollm2):
    at = open_page(model="smollm2-135m", text="students celebrate the graduation with a big party",
                   temperature="1.4", top_k="30", top_p="0.8")
    assert (at.slider(key="temperature").value, at.slider(key="top_k").value, at.slider(key="top_p").value) == \
        (1.4, 30, 0.8)
    ids, _, adjusted = bar_data(at)
    ids_t = smollm2.tokenizer("students celebrate the graduation with a big party", return_tensors="pt").input_ids
    with torch.inference_mode():
        scores = smollm2.model(input_ids=ids_t).logits[:, -1].float()
    for w in (TemperatureLogitsWarper(1.4), TopKLogitsWarper(30), TopPLogitsWarper(0.8)):
        scores = w(None, scores)
    ref = scores.softmax(-1)[0].numpy()
    np.testing.assert_allclose(adjusted, ref[ids], atol=1e-6)
    eligible = next(m for m in at.metric if m.label == "Tokens still eligible (of 49,152)").value
    assert eligible == f"{int(np.isfinite(scores.numpy()).sum()):,}"


def test_moving_a_slider_writes_the_url_and_temperature_zero_is_greedy(smollm2):
    at = open_page(model="smollm2-135m", text=FRANCE)
    before = bar_data(at)[2]
    at.slider(key="temperature").set_value(0.0).run()
    assert not at.exception
    ids, _, adjusted = bar_data(at)
    assert adjusted[0] == 1.0 and (adjusted[1:] == 0).all() and not np.array_equal(adjusted, before)
    assert any("greedy" in i.value for i in at.info)
    assert at.query_params["temperature"] == "0"
    at.slider(key="top_p").set_value(0.5).run()
    assert at.query_params["top_p"] == "0.5"


@pytest.mark.parametrize("params, bad", [
    (dict(temperature="nan", top_k="-3", top_p="2"), ["temperature", "top_k", "top_p"]),
    (dict(temperature="inf", top_k="1e9", top_p="0x1"), ["temperature", "top_k", "top_p"]),
    (dict(temperature="2.5", top_k="3.5", top_p="-0.1"), ["temperature", "top_k", "top_p"]),
    (dict(temperature="<b>x</b>"), ["temperature"]),
])
def test_bad_link_values_warn_and_use_the_defaults(params, bad):
    at = open_page(model="smollm2-135m", text=FRANCE, **params)
    warnings = " ".join(w.value for w in at.warning)
    for name in bad:
        assert f"The link's {name}=" in warnings
    defaults = {"temperature": 1.0, "top_k": 0, "top_p": 1.0}
    for name in bad:
        assert at.slider(key=name).value == defaults[name]
    assert "<b>" not in warnings or "` <b>x</b> `" in warnings  # inside a code span: shown literally


def test_try_button_sets_the_example_text(smollm2):
    at = open_page(model="smollm2-135m", text="hello")
    at.button[0].click().run()
    assert at.session_state["text"] == FRANCE
    ids, original, _ = bar_data(at)
    probs = model_probs(smollm2, FRANCE)
    assert ids[0] == int(np.argmax(probs))


def test_empty_text_explains_instead_of_failing():
    at = open_page(model="smollm2-135m", text="")
    assert any("Type or paste" in i.value for i in at.info)


def test_minilm_says_it_has_no_mlm_head_and_offers_the_decoder():
    at = open_page(model="minilm-l6")
    assert any("has no masked-language-model head" in i.value for i in at.info)
    assert not charts(at)
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["model"] == "smollm2-135m"
    assert BARS in charts(at)


@pytest.fixture
def tiny_bert_registered(tmp_path, monkeypatch):
    """A tiny random BertForMaskedLM saved with MiniLM's tokenizer, registered like a hub BERT would be."""
    from transformers import BertConfig, BertForMaskedLM

    from models import registry
    from models.loading import load_tokenizer

    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=64, vocab_size=30522)).eval()
    model.save_pretrained(tmp_path)
    load_tokenizer("minilm-l6").save_pretrained(tmp_path)
    spec = registry.ModelSpec(id="tiny-bert-next-token", label="Tiny BERT", family="encoder", source="local",
                              path=str(tmp_path), head="masked-lm")
    monkeypatch.setitem(registry.REGISTRY, spec.id, spec)
    monkeypatch.setattr(registry, "_SPECS", [*registry._SPECS, spec])
    return spec, model


def test_encoder_with_mlm_head_fills_the_hidden_word(tiny_bert_registered):
    spec, model = tiny_bert_registered
    at = open_page(model=spec.id, text="students celebrate the graduation with a big party")
    assert at.selectbox(key="mask_word").value == 7  # the last word, "party"
    fig = next(f for t, f in charts(at).items() if t.startswith("[MASK] at token"))
    from models.loading import load_tokenizer

    tok = load_tokenizer("minilm-l6")
    ids = tok("students celebrate the graduation with a big [MASK]", return_tensors="pt").input_ids
    pos = int((ids[0] == tok.mask_token_id).nonzero()[0, 0])
    with torch.inference_mode():
        probs = model(input_ids=ids).logits[0, pos].softmax(-1)
    top = probs.topk(20)
    np.testing.assert_allclose(array(fig["data"][0]["x"]), top.values.numpy(), atol=1e-6)


def test_changing_the_text_keeps_the_hidden_word_valid(tiny_bert_registered):
    spec, _ = tiny_bert_registered
    at = open_page(model=spec.id, text="students celebrate the graduation with a big party")
    at.selectbox(key="mask_word").set_value(6).run()  # "big"
    assert "students celebrate the graduation with a [MASK] party" in " ".join(m.value for m in at.markdown)
    at.text_area(key="text").set_value("a short one").run()  # three words: the old index 6 is out of range
    assert not at.exception
    assert at.selectbox(key="mask_word").value == 2
    assert "a short [MASK]" in " ".join(m.value for m in at.markdown)


# ------------------------------------------------------------------------------------- Simplified Chinese
ZH_BARS = "下一个词元的概率：全部 49,152 个词元中最可能的 20 个"


def test_chinese_page_shows_the_same_numbers_in_chinese_words(smollm2):
    at = open_page(lang="zh", model="smollm2-135m", text=FRANCE)
    assert at.title[0].value == "下一个词元：logit → 概率 → 选择"
    fig = charts(at)[ZH_BARS]
    probs = model_probs(smollm2, FRANCE)
    expected = np.argsort(-probs, kind="stable")[:20]
    np.testing.assert_allclose(array(fig["data"][0]["x"]), probs[expected], atol=1e-6)
    assert [d["name"] for d in fig["data"][:2]] == ["模型", "调整后"]
    assert fig["layout"]["annotations"][0]["text"] == "模型原始分布（T = 1，不截断）"
    assert next(m for m in at.metric if m.label == "仍可被选中的词元（共 49,152 个）").value == "49,152"
    text = " ".join(m.value for m in at.markdown)
    assert "[logit](/glossary?term=logit" in text and "在 SmolLM2-135M-Instruct 中它与输入嵌入绑定" in text
    assert "每一层之后 ␣Paris 的概率" in charts(at)
    assert at.get("download_button")[0].proto.label == "下载最可能的 500 个下一个词元（CSV）"


def test_switching_to_chinese_keeps_the_sliders_and_a_slider_still_works(monkeypatch):
    at = open_page(model="smollm2-135m", text=FRANCE, temperature="1.4", top_k="30", top_p="0.8")
    english = bar_data(at)[2]
    at.session_state["lang"] = "zh"  # what the sidebar's language switch does
    at.run()
    assert not at.exception
    assert (at.slider(key="temperature").value, at.slider(key="top_k").value, at.slider(key="top_p").value) == \
        (1.4, 30, 0.8)
    fig = charts(at)[ZH_BARS]
    np.testing.assert_array_equal(array(fig["data"][1]["x"]), english)
    assert fig["layout"]["annotations"][1]["text"].replace("<br>", " ") == "调整后：T = 1.4, top-k = 30, top-p = 0.8"
    # AppTest formats the sidebar's selectbox options outside the session (in English) to send the next run; a
    # browser sends the labels it was shown. Pin the language so both sides agree.
    import i18n

    monkeypatch.setattr(i18n, "_language_getter", lambda: "zh")
    at.slider(key="temperature").set_value(0.0).run()
    assert not at.exception
    assert any("**温度 0 = 贪心解码**" in i.value for i in at.info)
    assert at.query_params["temperature"] == "0" and at.query_params["lang"] == "zh"
    cells = [h.proto.body for h in at.get("html") if "tx-steps" in h.proto.body][0]
    assert '<td class="tx-cut">截掉</td>' in cells and "<th>top-k 之后</th>" in cells


def test_a_temperature_too_small_for_float32_warns_and_shows_greedy():
    at = open_page(model="smollm2-135m", text=FRANCE, temperature="0.0000000000000000000000000000000000000000001")
    warning = " ".join(w.value for w in at.warning)
    assert "too small to compute in 32-bit floating point" in warning and "greedy" in warning
    _, _, adjusted = bar_data(at)
    assert adjusted[0] == 1.0 and (adjusted[1:] == 0).all()
