"""The guided tour on the Overview through the real app.py: every step in both bundled models and in
presentation mode, the step in the URL, Next/Previous, and figures equal to what the model computes."""
from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
import torch

from components import tour
from tests.app.helpers import array, charts, run_page, session_language_in_test_thread

HOME = "app_pages/home.py"
TEXT = "students celebrate the graduation with a big party"
MODELS = ("smollm2-135m", "minilm-l6")
N = len(tour.STEPS)


def tour_charts(at) -> list:
    """The tour's figures: every chart on the Overview except the parameter treemap drawn after the tour
    (components/params_view.py)."""
    return [el for el in at.get("plotly_chart") if json.loads(el.proto.spec)["data"][0].get("type") != "treemap"]


def step_title(at) -> str:
    return next(h.value for h in [*at.subheader, *at.header] if "·" in h.value or h.value.startswith("Step"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("step", range(1, N + 1))
def test_every_step_renders(model, step):
    at = run_page(HOME, model=model, step=str(step))
    assert not at.warning
    assert step_title(at) == f"Step {step} of {N}: {tour.STEPS[step - 1].title}"
    assert at.session_state["step"] == step
    assert any("Try this" in m.value for m in at.markdown)
    assert [p.proto.page for p in at.get("page_link")]  # the full page, presets and the page list
    figures = len(tour_charts(at))
    assert figures == (0 if step == 1 or (step == 9 and model == "smollm2-135m") else 1)
    if step == 1 or (step == 9 and model == "smollm2-135m"):
        assert at.get("html")  # token chips / the generated text


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("step", range(1, N + 1))
def test_every_step_in_presentation_mode(model, step):
    at = run_page(HOME, model=model, step=str(step), present="1")
    assert not at.radio  # no step picker, no gallery: one figure per screen
    assert at.header[0].value == f"{step}/{N} · {tour.STEPS[step - 1].title}"
    assert len(at.get("plotly_chart")) <= 1
    assert not any("Examples to click" in h.value for h in at.header)
    assert at.query_params["present"] == "1"
    labels = [p.proto.label for p in at.get("page_link")]
    assert labels == ["Leave presentation mode"]
    assert at.button(key="tour_next").proto.shortcut and at.button(key="tour_previous").proto.shortcut
    for el in at.get("plotly_chart"):
        assert json.loads(el.proto.spec)["layout"]["font"]["size"] >= 20


def test_bad_step_warns_and_shows_step_one():
    for bad in ("0", str(N + 1), "two", "4.5"):
        at = run_page(HOME, step=bad)
        assert len(at.warning) == 1 and "step=" in at.warning[0].value
        assert at.session_state["step"] == 1


def test_next_and_previous_move_the_step_and_the_url():
    at = run_page(HOME, step="3")
    at.button(key="tour_next").click().run()
    assert at.session_state["step"] == 4 and at.query_params["step"] == "4"
    at.button(key="tour_previous").click().run()
    at.button(key="tour_previous").click().run()
    assert at.session_state["step"] == 2 and at.query_params["step"] == "2"
    at.radio[0].set_value(N).run()
    assert at.button(key="tour_next").disabled and at.query_params["step"] == str(N)
    at.radio[0].set_value(1).run()
    assert at.button(key="tour_previous").disabled and "step" not in at.query_params  # the default


def test_next_in_presentation_mode_keeps_the_mode():
    at = run_page(HOME, step="2", present="1")
    at.button(key="tour_next").click().run()
    assert at.session_state["step"] == 3 and at.query_params["present"] == "1"
    assert at.header[0].value.startswith("3/")


def test_attention_step_is_the_models_attention(smollm2):
    at = run_page(HOME, model="smollm2-135m", step="5", text=TEXT)
    (title, spec), = [(t, f) for t, f in charts(at).items() if t.startswith("Attention weights, layer ")]
    # layers and heads are shown from 1 (layer 0 = the embeddings): layer l is transformers' attentions[l - 1]
    layer, head = (int(x) for x in title.removeprefix("Attention weights, layer ").split(" head "))
    ids = smollm2.tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        att = smollm2.model(input_ids=ids, output_attentions=True).attentions[layer - 1][0, head - 1].numpy()
    z = array(spec["data"][0]["z"])
    T = z.shape[0]
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    np.testing.assert_allclose(z[~future], att[:T, :T][~future], atol=1e-5)
    assert np.isnan(z[future]).all()  # the causal mask is drawn, not zeros
    # the head shown is the strongest previous-token head of the model
    prev = np.array([[np.mean([a[h, t, t - 1] for t in range(1, a.shape[-1])]) for h in range(a.shape[0])]
                     for a in (x[0].numpy() for x in smollm2.model(input_ids=ids, output_attentions=True).attentions)])
    assert (layer - 1, head - 1) == np.unravel_index(np.argmax(prev), prev.shape)


def test_next_token_step_is_the_models_softmax(smollm2):
    text = "The capital of France is"
    at = run_page(HOME, model="smollm2-135m", step="8", text=text)
    (_, spec), = [(t, f) for t, f in charts(at).items() if f["data"][0].get("type") != "treemap"]
    ids = smollm2.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        probs = smollm2.model(input_ids=ids).logits[0, -1].softmax(-1)
    top_p, top_i = probs.topk(10)
    np.testing.assert_allclose(array(spec["data"][0]["x"]), top_p.numpy(), rtol=1e-4)
    assert spec["data"][0]["y"][0].endswith(smollm2.tokenizer.decode([int(top_i[0])]).replace(" ", "␣"))


def test_generation_step_is_greedy(smollm2):
    text = "The capital of France is"
    at = run_page(HOME, model="smollm2-135m", step="9", text=text)
    shown = next(h.proto.body for h in at.get("html") if "tx-generated" in h.proto.body)
    ids = smollm2.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = smollm2.model.generate(ids, do_sample=False, max_new_tokens=tour.GEN_TOKENS, top_k=None, top_p=None,
                                     temperature=None)
    expected = smollm2.tokenizer.decode(out[0, ids.shape[1]:])
    pieces = re.findall(r'<span class="tx-tok[^"]*"[^>]*>([^<]*)</span>', shown)
    assert len(pieces) == out.shape[1] - ids.shape[1]
    assert html.unescape("".join(pieces)) == expected


def test_encoder_steps_say_what_an_encoder_is():
    at = run_page(HOME, model="minilm-l6", step="8")
    text = " ".join(m.value for m in at.markdown)
    # MiniLM has no MLM head and was fine-tuned contrastively (its model card): not called a masked LM (#18)
    assert "encoder" in text and "without any LM head" in text and "masked LM" not in text
    at = run_page(HOME, model="minilm-l6", step="1")
    assert "[CLS]" in " ".join(m.value for m in at.markdown)
    at = run_page(HOME, model="smollm2-135m", step="4")
    assert "RoPE" in " ".join(m.value for m in at.markdown)
    at = run_page(HOME, model="minilm-l6", step="4")
    assert "adds a position vector to each token" in " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize("model", MODELS)
def test_order_step_shows_mask_only_and_positions_curves_and_says_which_is_which(model, request):
    """Step 4: the text against its word reversal with and without positions, computed here independently
    (tests/app/order_reference.py); the words follow the family and the numbers."""
    from tests.app.order_reference import order_reference

    lm = request.getfixturevalue({"smollm2-135m": "smollm2", "minilm-l6": "minilm"}[model])
    at = run_page(HOME, model=model, step="4", text=TEXT)
    (title, spec), = [(t, f) for t, f in charts(at).items() if f["data"][0].get("type") != "treemap"]
    on, off = spec["data"]
    assert (on["name"], off["name"]) == ("with positions", "without positions")
    ref_on, ref_off, _shared = order_reference(lm, TEXT)
    np.testing.assert_allclose(array(on["y"]), ref_on, atol=1e-5)
    np.testing.assert_allclose(array(off["y"]), ref_off, atol=1e-5)
    text = " ".join(m.value for m in at.markdown)
    assert "Attention by itself ignores order" not in text and "identical embedding rows at layer 0" not in text
    alt = at.get("plotly_chart")[0].proto.alt
    assert f"With positions it is {ref_on[0]:.3f} at layer 0" in alt
    if model == "smollm2-135m":
        assert "causal mask" in text and "the mask already tells the two orders apart" in text
        assert ref_on[0] == pytest.approx(1.0, abs=1e-6) and "At layer 0 the cosine is 1.0000:" in text
        assert ref_off[1:].min() < 0.99
    else:
        assert ref_on[0] < 0.99 and f"At layer 0 the cosine is already {ref_on[0]:.4f}, not 1" in text
        np.testing.assert_allclose(ref_off, 1.0, atol=1e-5)
        assert "Without positions the curve stays at 1" in text and "Without positions it stays at 1" in alt
    lo = int(np.argmin(ref_on))
    assert f"lowest after layer {lo} ({ref_on[lo]:.3f})" in text


def test_encoder_last_step_compares_with_layer_0_and_says_what_layer_0_is(minilm):
    at = run_page(HOME, model="minilm-l6", step=str(N), text=TEXT)
    (title, spec), = [(t, f) for t, f in charts(at).items() if f["data"][0].get("type") != "treemap"]
    assert title == "Cosine of each token's vector with its layer-0 vector, layer by layer"
    text = " ".join(m.value for m in at.markdown)
    assert "its own vector at layer 0 (layer 0 is already LayerNorm(token row + position row + token-type row)" in text
    enc = minilm.tokenizer(TEXT, return_tensors="pt")
    with torch.inference_mode():
        h = torch.stack(minilm.model(**enc, output_hidden_states=True).hidden_states)[:, 0, :6].double().numpy()
    cos = np.einsum("ltd,td->lt", h / np.linalg.norm(h, axis=-1, keepdims=True),
                    h[0] / np.linalg.norm(h[0], axis=-1, keepdims=True))
    for j, trace in enumerate(spec["data"]):
        np.testing.assert_allclose(array(trace["y"]), cos[:, j], atol=1e-5)
    mean = cos.mean(axis=1)
    assert f"{mean[-1]:.3f} after the last layer (6)" in text


def test_empty_text_does_not_break_the_tour():
    at = run_page(HOME, text="", step="5")
    assert any("Type or paste" in i.value for i in at.info)


def test_user_text_is_shown_literally():
    from components.widgets import md_literal

    hostile = "**bold** [click](http://example.org) <img src=x onerror=alert(1)>"
    at = run_page(HOME, model="smollm2-135m", step="4", text=hostile)
    shown = [m.value for m in at.markdown if "example.org" in m.value]
    assert shown and all(md_literal(hostile) in v for v in shown)
    at = run_page(HOME, model="minilm-l6", step="2", text="**x** and more")
    assert any(md_literal("*") + " is **" in m.value for m in at.markdown)  # WordPiece: "*" is a token


# ----------------------------------------------------------------------------------- in Chinese (issue #7)
ZH = __import__("i18n").translations("zh")
CJK = re.compile(r"[\u4e00-\u9fff]")


def links_in(at) -> list[str]:
    """Every Markdown link address in the page's text."""
    return re.findall(r"\]\(([^)\s]+)\)", " ".join(m.value for m in [*at.markdown, *at.caption]))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("step", range(1, N + 1))
def test_every_step_renders_in_chinese(model, step):
    at = run_page(HOME, model=model, step=str(step), lang="zh")
    assert not at.warning
    s = tour.STEPS[step - 1]
    title = ZH.gettext(s.title)
    assert CJK.search(title) and title != s.title
    assert at.title[0].value == ZH.gettext("How a language model reads text")
    assert at.subheader[0].value == ZH.gettext("Step {n} of {total}: {title}").format(n=step, total=N, title=title)
    assert at.radio[0].options[step - 1] == f"{step}. {ZH.gettext(s.short)}"
    assert at.button(key="tour_next").label == ZH.gettext("Next") != "Next"
    assert any(ZH.gettext("Try this:") in m.value for m in at.markdown)
    assert not any("Try this" in m.value for m in at.markdown)
    # Markdown links open a new session: the glossary and preset links keep the language
    links = [u for u in links_in(at) if u.startswith("/")]
    assert all("lang=zh" in u for u in links), links
    assert links or (step, model) == (8, "minilm-l6")  # the encoder's last step links nothing
    if step != 2:  # step 2's one-hot figure has no title
        assert all(CJK.search(t) for t in charts(at)), list(charts(at))
    full_page = [p.proto.label for p in at.get("page_link") if p.proto.label.startswith(ZH.gettext("Open the full "
                                                                                                  "page: {page}")[:5])]
    assert len(full_page) == 1 and CJK.search(full_page[0])


def test_numbers_are_the_same_in_both_languages():
    """The translated tour shows the same model numbers: the attention step's figure is identical."""
    en = charts(run_page(HOME, model="smollm2-135m", step="5", text=TEXT))
    zh = charts(run_page(HOME, model="smollm2-135m", step="5", text=TEXT, lang="zh"))
    (en_title, en_spec), = [(t, f) for t, f in en.items() if t.startswith("Attention weights, layer ")]
    zh_prefix = ZH.gettext("Attention weights, layer {layer} head {head}").split("{")[0]
    (zh_title, zh_spec), = [(t, f) for t, f in zh.items() if t.startswith(zh_prefix)]
    layer, head = (int(x) for x in en_title.removeprefix("Attention weights, layer ").split(" head "))
    assert zh_title == ZH.gettext("Attention weights, layer {layer} head {head}").format(layer=layer, head=head)
    np.testing.assert_array_equal(array(en_spec["data"][0]["z"]), array(zh_spec["data"][0]["z"]))


@session_language_in_test_thread()
def test_switching_language_keeps_the_step_and_the_url():
    at = run_page(HOME, step="5")
    assert at.subheader[0].value.startswith("Step 5 of")
    at.segmented_control(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.session_state["step"] == 5 and at.query_params["step"] == "5" and at.query_params["lang"] == "zh"
    assert at.subheader[0].value.startswith(ZH.gettext("Step {n} of {total}: {title}").format(n=5, total=N,
                                                                                                  title="")[:4])
    at.button(key="tour_next").click().run()
    assert at.session_state["step"] == 6 and at.query_params["lang"] == "zh"
    at.segmented_control(key="lang").set_value("en").run()
    assert at.session_state["step"] == 6 and at.subheader[0].value.startswith("Step 6 of")
    assert "lang" not in at.query_params  # the default language is not written into the link


def test_presentation_mode_in_chinese():
    at = run_page(HOME, step="5", present="1", lang="zh")
    assert at.header[0].value == f"5/{N} · {ZH.gettext(tour.STEPS[4].title)}"
    assert [p.proto.label for p in at.get("page_link")] == [ZH.gettext("Leave presentation mode")]
    assert at.main.caption[-1].value == ZH.gettext("Keys: → or PageDown for the next step, ← or PageUp for the previous "
                                              "one.")
    for el in at.get("plotly_chart"):
        assert json.loads(el.proto.spec)["layout"]["font"]["size"] >= 20
