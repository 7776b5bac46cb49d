"""/next-token in real Chromium against serve.py: the bars are the model's own top tokens, a slider re-weights
them without a forward pass, MiniLM offers the decoder. Expected tokens come from the model, never hard-coded."""
from __future__ import annotations

import re
import urllib.parse

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from tests.e2e.sampling_frame import IFRAME, frame, press

pytestmark = pytest.mark.e2e

FRANCE = "The capital of France is"
# logit-lens grid, lens line, loss at every position; the bars and the nucleus curve are drawn by the sliders'
# component in its own frame (components/sampling_redraw.py)
N_FIGURES = 3


def expected_top(lm, text: str, n: int = 3) -> tuple[list[str], np.ndarray]:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        probs = lm.model(input_ids=ids).logits[0, -1].softmax(-1).numpy()
    top = np.argsort(-probs, kind="stable")[:n]
    return [lm.tokenizer.decode([int(i)]).replace(" ", "␣") for i in top], probs[top]


def test_bars_show_the_models_top_tokens_and_a_slider_reweights_them(app, smollm2):
    page = app.open("/next-token", model="smollm2-135m", text=FRANCE, temperature="1.5", top_p="0.95")
    expect(page.locator(".js-plotly-plot")).to_have_count(N_FIGURES, timeout=120_000)
    f = frame(page)
    app.wait_idle()
    assert app.exceptions().count() == 0
    bars = f.locator("#bars")
    labels, probs = expected_top(smollm2, FRANCE)
    for rank, (label, p) in enumerate(zip(labels, probs), start=1):
        expect(bars).to_contain_text(f"{rank}. {label}")
        expect(bars).to_contain_text(f"{p:.1%}")
    expect(f.locator("body")).to_contain_text("of 49,152 tokens shown")
    expect(bars).to_contain_text("Adjusted: T = 1.5, top-p = 0.95")  # the link's settings
    app.screenshot("next-token-smollm2-france", canonical="next-token")

    # Temperature -> 0 with the keyboard: greedy, every other bar is cut; redrawn in the browser, the URL follows
    cut_marks = bars.locator(".bars-row.is-cut")
    press(f, "temperature", "Home")
    expect(bars).to_contain_text("greedy (T = 0)", timeout=30_000)
    expect(bars).to_contain_text("100.0%")
    expect(cut_marks).to_have_count(19)  # the other 19 of the 20 drawn are cut
    expect(f.locator("body")).to_contain_text("Temperature 0 = greedy decoding")
    app.wait_for_query(temperature="0")

    press(f, "top_p", "Home")  # top-p 0 (T is still 0: greedy ignores it, the bars stay one-hot)
    app.wait_for_query(top_p="0")


def test_the_sliders_wait_for_the_logits(app, smollm2):
    """Before the page's first render message the component has no logits: its sliders are disabled (a key press
    there would be drawn by nothing and reset by the render), and enabled once the figures are drawn."""
    page = app.open("/next-token", model="smollm2-135m", text=FRANCE)
    f = frame(page)
    for name in ("temperature", "top_k", "top_p"):
        expect(f.locator(f"#{name}")).to_be_enabled()
    src = page.locator(IFRAME).first.get_attribute("src")
    alone = page.context.new_page()  # the component's own page with no Streamlit around it: no render message
    try:
        alone.goto(urllib.parse.urljoin(page.url, src))
        alone.wait_for_function("() => document.readyState === 'complete'")
        for name in ("temperature", "top_k", "top_p"):
            expect(alone.locator(f"#{name}")).to_be_disabled()
    finally:
        alone.close()


def test_minilm_offers_the_decoder(app):
    page = app.open("/next-token", model="minilm-l6")
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("has no masked-language-model head", timeout=120_000)
    page.get_by_role("button", name=re.compile("Switch to the decoder")).click()
    expect(page.locator(".js-plotly-plot")).to_have_count(N_FIGURES, timeout=120_000)
    app.wait_idle()
    assert app.query()["model"] == ["smollm2-135m"]
    assert app.exceptions().count() == 0


def test_chinese_page_shows_the_models_tokens_in_chinese_and_the_switch_keeps_the_sliders(app, smollm2):
    page = app.open("/next-token", lang="zh", model="smollm2-135m", text=FRANCE, temperature="1.5", top_p="0.95")
    expect(page.locator(".js-plotly-plot")).to_have_count(N_FIGURES, timeout=120_000)
    frame(page)
    app.wait_idle()
    expect(page.locator("h1").first).to_contain_text("下一个词元：logit → 概率 → 选择")
    component = page.frame_locator(IFRAME)
    bars = component.locator("#bars")
    labels, probs = expected_top(smollm2, FRANCE)
    expect(bars).to_contain_text(f"1. {labels[0]}")
    expect(bars).to_contain_text(f"{probs[0]:.1%}")
    expect(bars).to_contain_text("调整后：T = 1.5, top-p = 0.95")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_role("link", name="logit", include_hidden=True).first).to_have_attribute(  # may be in "details"
        "href", re.compile(r"term=logit"))
    expect(component.locator("#steps")).to_contain_text("top-p 看到的概率")  # the step-by-step table's header
    expect(component.locator("#temperature-label")).to_have_text("温度")
    assert app.exceptions().count() == 0
    app.screenshot("next-token-zh", canonical="next-token-zh")
    page.locator('[data-testid="stSidebar"]').get_by_text("English", exact=True).click()  # the language switch
    expect(page.locator("h1").first).to_contain_text("The next token", timeout=60_000)
    expect(bars).to_contain_text("Adjusted: T = 1.5, top-p = 0.95", timeout=60_000)
    assert app.query().get("lang", ["en"]) == ["en"]
    assert app.query()["temperature"] == ["1.5"] and app.query()["top_p"] == ["0.95"]
    assert app.exceptions().count() == 0
