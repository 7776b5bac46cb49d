"""The offline BertViz views (components/bertviz_offline.py) loaded standalone into headless Chromium: they
DRAW (bertviz's own SVG lines, one per head and token pair, with the decoded weights as opacities), hostile
tokens are shown literally with no dialog, and nothing is requested from anywhere (the HTML is set with
``page.set_content``: every request would be a CDN fetch). The page-level test is the Attention page's."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from components import bertviz_offline as bo
from models.trace import compute_trace

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TEXT = "The students celebrate the graduation with a big party in the old town hall."
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</script><b>x</b>"]


@pytest.fixture
def open_html(browser):
    """open_html(html, name) -> page with bertviz drawn; records requests and dialogs, checks them after."""
    context = browser.new_context(viewport={"width": 1000, "height": 900}, service_workers="block")
    log = {"requests": [], "dialogs": [], "errors": []}

    def on_dialog(dialog):
        log["dialogs"].append(dialog.message)
        dialog.dismiss()

    def open_(html: str, name: str):
        page = context.new_page()
        page.on("request", lambda r: log["requests"].append(r.url))
        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: log["errors"].append(str(e)))
        page.set_content(html, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function("document.body.dataset.bertviz !== 'loading'", timeout=120_000)
        assert page.evaluate("document.body.dataset.bertviz") == "drawn", page.inner_text("body")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"bertviz-{name}.png"), full_page=False)
        return page

    open_.log = log
    yield open_
    context.close()
    outside = [u for u in log["requests"] if u.split(":", 1)[0] not in ("data", "blob", "about")]
    assert not outside, f"requests left the page: {outside}"
    assert not log["errors"], log["errors"]
    assert not log["dialogs"], log["dialogs"]


@pytest.fixture(scope="module")
def traces(smollm2, minilm):
    return {m.spec.id: compute_trace(m, TEXT) for m in (smollm2, minilm)}


def f16(a: np.ndarray) -> np.ndarray:
    """What the page draws: the weights rounded to float16, as float64 for arithmetic."""
    return a.astype(np.float16).astype(np.float64)


def line_opacities(page, layer_selector: str = "#attention") -> np.ndarray:
    """stroke-opacity of the head view's lines as [head, left token, right token]."""
    return np.array(page.evaluate(f"""() => Array.from(document.querySelectorAll('{layer_selector} .headAttention'))
        .map(h => Array.from(h.querySelectorAll('.tokenAttention'))
          .map(t => Array.from(t.querySelectorAll('line')).map(l => +l.getAttribute('stroke-opacity'))))"""))


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_head_view_draws_the_weights(open_html, traces, model_id):
    trace = traces[model_id]
    L, H, T = trace.attentions.shape[:3]
    out = bo.head_view(trace, layer=1)
    page = open_html(out.html, f"head-{model_id}")
    # bertviz draws one line per head and token pair for the selected layer, opacity = weight / active heads
    op = line_opacities(page)
    assert op.shape == (H, T, T)
    want = f16(trace.attentions[1]) / H
    np.testing.assert_allclose(op, want, atol=1e-6)
    assert page.locator("#left text").all_text_contents() == bo.display_tokens(trace.tokens, trace.special.tolist())
    # the menu lists the layer numbers 1..L (block index + 1) and opens on block index 1 = layer 2
    assert page.locator("select#layer option").all_text_contents() == [str(n) for n in range(1, L + 1)]
    assert page.locator("select#layer").input_value() == "2"
    # bertviz's own layer menu redraws the lines from the decoded data of another layer: the last, layer L
    page.select_option("select#layer", str(L))
    np.testing.assert_allclose(line_opacities(page), f16(trace.attentions[L - 1]) / H, atol=1e-6)
    # clicking a head's colour square hides its lines (bertviz's checkbox), the others get brighter
    page.locator("#vis svg > g:last-child rect").first.click()
    op = line_opacities(page)
    assert np.all(op[0] == 0) and np.allclose(op[1:], f16(trace.attentions[L - 1, 1:]) / (H - 1),
                                              atol=1e-6)


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_model_view_draws_every_head(open_html, traces, model_id):
    trace = traces[model_id]
    L, H, T = trace.attentions.shape[:3]
    out = bo.model_view(trace)
    page = open_html(out.html, f"model-{model_id}")
    n_layers = len(out.layers)
    assert n_layers * H * T * T <= max(bo.MODEL_VIEW_MAX_LINES, H * T * T)
    # one thumbnail per (layer, head), each with T x T lines
    thumbs = page.locator("#vis svg > g")
    assert thumbs.count() == n_layers * H
    assert page.locator("#vis svg > g line").count() == n_layers * H * T * T
    first = np.array(page.evaluate("""() => Array.from(document.querySelectorAll('#vis svg > g')[0]
        .querySelectorAll('g')).map(g => Array.from(g.querySelectorAll('line')).map(l => +l.getAttribute('stroke-opacity')))"""))
    np.testing.assert_allclose(first, f16(trace.attentions[out.layers[0], 0]), atol=1e-6)
    # clicking a thumbnail opens bertviz's detail panel with the tokens
    thumbs.nth(H + 2).locator("rect").last.click()  # second row, third column: numbered from 1 in the heading
    assert page.get_by_text(f"Layer {out.layers[1] + 1}, Head 3").count() == 1
    assert page.locator("text.token").count() == 2 * T


def test_hostile_tokens_are_text_not_markup(open_html, traces):
    trace = traces["minilm-l6"]
    tokens = list(trace.tokens)
    tokens[1:1 + len(HOSTILE)] = HOSTILE
    hostile = dataclasses.replace(trace, tokens=tokens)
    for view, build in (("head", bo.head_view), ("model", bo.model_view)):
        page = open_html(build(hostile).html, f"{view}-hostile-tokens")
        if view == "model":
            page.locator("#vis svg > g").first.locator("rect").last.click()
            shown = page.locator("text.token").all_text_contents()[: len(tokens)]
        else:
            shown = page.locator("#left text").all_text_contents()
        assert shown[1:1 + len(HOSTILE)] == [bo.visible(t) for t in HOSTILE]  # literally (spaces as ␣)
        assert shown[1] == "<script>alert(1)</script>"
        assert page.locator("img").count() == 0 and page.locator("b").count() == 0
        assert page.locator("script").count() == 7  # 3 libraries, the AMD names, data, shim, bertviz: no more
        assert page.evaluate("typeof window.__txParams") == "object"
        page.screenshot(path=str(SHOTS / f"bertviz-{view}-hostile-tokens.png"))
    assert not open_html.log["dialogs"]
