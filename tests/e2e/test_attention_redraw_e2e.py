"""The attention heatmap component in real Chromium, in a bare app (tests/e2e/redraw_app.py, its own server):
its layer/head sliders redraw the heatmap in the browser with the weights of the right head (compared with a
Trace computed here), the page learns the choice, a head that was not sent arrives after one round trip, token
text stays text, and nothing leaves localhost (the ``page`` fixture records every request). Layers and heads are
shown from 1 (layer l, head h = ``trace.attentions[l - 1, h - 1]``); the component's own protocol is 0-based."""
from __future__ import annotations

import html
import urllib.parse

import numpy as np
import pytest
from playwright.sync_api import expect

import devserver
from tests.e2e.conftest import REPO, save_screenshot
from tests.e2e.heatmap_cells import GREY, assert_cells_drawn, axis_labels, cell_centre, drawn_colour

pytestmark = pytest.mark.e2e

TEXT = "students celebrate the graduation with a big party"


@pytest.fixture(scope="module")
def server():
    """This module's pages come from redraw_app.py (overrides conftest's serve.py server), behind serve.py's ASGI
    layers as `make run` serves the app: the browser can fetch layers it was not sent (serving/attention_layers)."""
    try:
        srv = devserver.start(["tests/e2e/redraw_serve.py"],
                              log=REPO / "artifacts" / "e2e-redraw-server.log", timeout=120)
    except RuntimeError as e:
        pytest.fail(f"redraw_app.py did not start: {e}", pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def trace():
    from models.loading import load
    from models.trace import compute_trace

    return compute_trace(load("smollm2-135m"), TEXT)


def open_component(page, server, **params):
    page.goto(f"{server.url}/?{urllib.parse.urlencode(params)}")
    frame = page.frame_locator('iframe[title*="attention_heatmap"], iframe[src*="attention_heatmap"]').first
    expect(frame.locator(".gtitle")).to_be_visible(timeout=120_000)
    return frame


def shown(frame) -> tuple[str, np.ndarray]:
    """The drawn title and the weights the component's cells show (NaN where masked); assert_head checks that the
    pixels on screen have their colours."""
    title, z = frame.locator("#plot").evaluate(
        "gd => [gd.querySelector('.gtitle').textContent, gd.txShown().z.map(r => r.map(v => isNaN(v) ? null : v))]")
    return title, np.array([[np.nan if v is None else v for v in row] for row in z], dtype=np.float64)


def assert_head(frame, trace, layer: int, head: int) -> None:
    """The frame shows layer ``layer``, head ``head`` (numbers from 1) with that block's weights."""
    title, z = shown(frame)
    assert title == f"Attention weights · layer {layer}, head {head}"
    assert frame.locator("#layer").input_value() == str(layer) and frame.locator("#head").input_value() == str(head)
    expected = trace.attentions[layer - 1, head - 1]
    future = np.triu(np.ones_like(expected, dtype=bool), 1)
    assert np.isnan(z[future]).all()
    np.testing.assert_array_equal(z[~future].astype(np.float32), expected[~future])  # exact float32, not rounded
    T = expected.shape[0]  # and those are the colours on screen (a masked cell grey)
    assert_cells_drawn(frame, z, [(T - 1, 0), (T - 1, T // 2), (T - 1, T - 1), (T // 2, T // 3), (0, T - 1)])


def test_sliders_redraw_in_the_browser_with_the_right_head(page, server, trace):
    frame = open_component(page, server, layer=1, head=3)
    assert_head(frame, trace, 1, 3)
    layer = frame.locator("#layer")
    expect(layer).to_have_accessible_name("Layer")
    # the sliders run over the numbers people see: layers 1..30, heads 1..9
    assert [layer.get_attribute(a) for a in ("min", "max")] == ["1", "30"]
    assert [frame.locator("#head").get_attribute(a) for a in ("min", "max")] == ["1", "9"]
    expect(frame.locator("#layer-value")).to_have_text("1")
    layer.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 4, head 3")
    assert_head(frame, trace, 4, 3)
    frame.locator("#head").focus()
    page.keyboard.press("End")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 4, head 9")
    assert_head(frame, trace, 4, 9)
    expect(page.get_by_text("server: layer 4, head 9")).to_be_visible(timeout=30_000)  # the page knows
    expect(frame.locator("#head-value")).to_have_text("9")
    save_screenshot(page, "attention-redraw-component")


def test_the_cells_have_the_figures_colours_and_hover_shows_the_exact_weight(page, server, trace):
    """The heatmap's cells are drawn by the component over Plotly's plot area: each cell has the colour Plotly's own
    colour-scale interpolation gives its weight (plotly.colors, the library the figure comes from), a masked cell
    the mask's grey, before and after a zoom; the hover label names the query, the key and the weight to 6
    decimals (the figure's own hover texts) and follows a slider move under a resting pointer; the camera button
    exports a real Plotly heatmap of this head with the page's download options."""
    frame = open_component(page, server, layer=2, head=5)
    assert_head(frame, trace, 2, 5)
    weights = trace.attentions[1, 4]
    T = weights.shape[0]
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    shown_weights = np.where(future, np.nan, weights)
    assert_cells_drawn(frame, shown_weights, [(0, 0), (T - 1, 0), (T - 1, T - 1), (3, 1), (5, 2), (T - 1, T // 2)])
    assert drawn_colour(frame, 0, T - 1)[:3] == GREY  # the first token cannot see the last one
    # the axes span the cells exactly, as a heatmap's: no cell is cut at the plot area's edges
    edges = frame.locator("#plot").evaluate(
        "(gd, T) => { const fl = gd._fullLayout, s = fl._size; return [fl.xaxis.l2p(-0.5), fl.xaxis.l2p(T - 0.5) - s.w,"
        "                                                                fl.yaxis.l2p(-0.5), fl.yaxis.l2p(T - 0.5) - s.h]; }", T)
    assert max(abs(e) for e in edges) < 0.5, edges
    xs, ys = axis_labels(frame)
    assert len(xs) == len(ys) == T

    tip = frame.locator("#tip")
    page.mouse.move(*cell_centre(page, frame, 5, 2))
    expect(tip).to_be_visible()
    assert tip.inner_text().splitlines() == [f"query {ys[5]}", f"key {xs[2]}", f"weight {weights[5, 2]:.6f}"]
    # the pointer rests there while the head slider moves: the label follows the cell's new weight
    frame.locator("#head").focus()
    page.keyboard.press("ArrowRight")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 2, head 6")
    expect(tip).to_contain_text(f"weight {trace.attentions[1, 5][5, 2]:.6f}")
    page.keyboard.press("ArrowLeft")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 2, head 5")
    page.mouse.move(*cell_centre(page, frame, 1, 4))
    expect(tip).to_contain_text("masked: a later token, this query cannot see it")
    assert tip.inner_text().splitlines()[:2] == [f"query {ys[1]}", f"key {xs[4]}"]
    x, y = cell_centre(page, frame, T - 1, 0)
    page.mouse.move(x - 40, y)  # on the query labels, left of the plot area: no cell
    expect(tip).to_be_hidden()

    # a zoom (Plotly's relayout, as a drag on the plot makes): the cells follow the axes
    frame.locator("#plot").evaluate("gd => Plotly.relayout(gd, {'xaxis.range': [0.5, 3.5], 'yaxis.range': [6.5, 3.5]})")
    assert_cells_drawn(frame, shown_weights, [(4, 1), (5, 2), (6, 3), (4, 3)])
    # the canvas sits between Plotly's plot and its top layer (the zoom box, hover, modebar stay above the cells)
    assert frame.locator("#cells").evaluate(
        "c => { const l = c.parentNode.querySelectorAll(':scope > .main-svg');"
        "       return !!(l[0].compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING) && c.nextElementSibling === l[1]; }")
    page.mouse.dblclick(*cell_centre(page, frame, 5, 2))  # Plotly's double-click: back to every cell
    frame.locator("#plot").evaluate(
        "(gd, T) => new Promise(r => { const ok = () => gd._fullLayout.xaxis.range[0] === -0.5 && "
        "gd._fullLayout.xaxis.range[1] === T - 0.5; const wait = () => ok() ? r(true) : requestAnimationFrame(wait); wait(); })", T)
    assert frame.locator("#plot").evaluate("gd => gd._fullLayout.yaxis.range") == [T - 0.5, -0.5]
    assert_cells_drawn(frame, shown_weights, [(0, 0), (T - 1, T - 1), (5, 2)])

    # the camera button exports a real Plotly heatmap of this head (the library draws the file)
    frame.locator("#plot").evaluate("""() => { const download = Plotly.downloadImage;
        Plotly.downloadImage = (fig, options) => {
            window.exported = {type: fig.data[0].type, masked: fig.data[1].z != null, options: options,
                               title: fig.layout.title.text, range: fig.layout.xaxis.range,
                               z: fig.data[0].z.map(r => Array.from(r, v => isNaN(v) ? null : v))};
            return download(fig, options); }; }""")
    page.mouse.move(*cell_centre(page, frame, 5, 2))  # the modebar shows while the pointer is on the chart
    with page.expect_download() as download:
        frame.locator('.modebar-btn[data-title="Download the chart as an image"]').click()
    assert download.value.suggested_filename == "attention-redraw-test.png"
    exported = frame.locator("#plot").evaluate("() => window.exported")
    assert exported["type"] == "heatmap" and exported["masked"]
    assert {k: exported["options"][k] for k in ("format", "width", "height", "scale")} == {
        "format": "png", "width": 1600, "height": 900, "scale": 2}
    assert exported["title"] == "Attention weights · layer 2, head 5" and exported["range"] == [-0.5, T - 0.5]
    z = np.array([[np.nan if v is None else v for v in row] for row in exported["z"]])
    np.testing.assert_array_equal(z[~future].astype(np.float32), weights[~future])
    expect(frame.locator("#status")).to_have_text("")


def test_hover_shows_token_text_exactly_as_typed(page, server):
    """Labels are user text, escaped for Plotly: the component's own hover label shows their characters, as text
    (nothing in it is ever read as markup)."""
    text = "<b>&amp; 50% $x$ %{x}</b>"
    frame = open_component(page, server, text=text, layer=1, head=1)
    xs, ys = axis_labels(frame)  # as Plotly was given them: escaped (&lt; &amp; &#37; &#36;)
    T = len(xs)
    cols = [i for i, label in enumerate(xs) if "&" in label]
    assert len(cols) >= 3, xs
    tip = frame.locator("#tip")
    for col in cols:
        page.mouse.move(*cell_centre(page, frame, T - 1, col))
        expect(tip).to_be_visible()
        assert tip.inner_text().splitlines()[:2] == [f"query {html.unescape(ys[T - 1])}", f"key {html.unescape(xs[col])}"]
    assert tip.evaluate("t => [...t.childNodes].every(n => n.nodeType === 3 || n.nodeName === 'BR')")


def test_a_head_not_sent_comes_after_one_round_trip(page, server, trace):
    frame = open_component(page, server, layer=6, head=2, budget=1)  # budget 1 byte: one head at a time
    assert_head(frame, trace, 6, 2)
    frame.locator("#layer").focus()
    page.keyboard.press("ArrowLeft")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 5, head 2", timeout=30_000)
    assert_head(frame, trace, 5, 2)
    expect(page.get_by_text("server: layer 5, head 2")).to_be_visible()


def test_cross_moves_both_sliders_in_the_browser(page, server, trace):
    """Without the layer route (as under `streamlit run app.py`): a text too long for every head at once sends the
    current layer's heads and the current head's layers (the 'cross'); both sliders redraw in the browser and the
    page re-centres the cross after a move."""
    T = trace.n_tokens
    frame = open_component(page, server, layer=6, head=2, budget=1, layer_budget=(30 + 9 - 1) * T * T * 4, fetch=0)
    assert frame.locator("#plot").evaluate("gd => gd.dataset.scope") == "cross"
    assert_head(frame, trace, 6, 2)
    frame.locator("#layer").focus()
    page.keyboard.press("End")  # layer 30, head 2: on the cross
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 30, head 2")
    assert_head(frame, trace, 30, 2)
    expect(page.get_by_text("server: layer 30, head 2")).to_be_visible(timeout=30_000)
    frame.locator("#head").focus()
    page.keyboard.press("End")  # head 9 of layer 30: on the re-centred cross
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 30, head 9", timeout=30_000)
    assert_head(frame, trace, 30, 9)
    expect(page.get_by_text("server: layer 30, head 9")).to_be_visible(timeout=30_000)


def test_token_text_stays_text(page, server, browser_log):
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    frame = open_component(page, server, text=payload)
    ticks = frame.locator(".ytick text").all_text_contents()
    assert any("<" in t for t in ticks) and any("script" in t for t in ticks)  # drawn as text
    assert frame.locator("img[src=x]").count() == 0 and page.locator("img[src=x]").count() == 0
    frame.locator("#layer").focus()
    page.keyboard.press("ArrowRight")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 2, head 1")
    assert browser_log.dialogs == []


def fetched_layers(browser_log) -> list[int]:
    return [int(u.rsplit("/", 1)[1]) for u in browser_log.requests if "/_tx/attention/" in u]


def test_layers_are_fetched_without_a_script_run(page, server, trace, browser_log):
    """Not every layer fits the arguments but one does (as at 512 tokens): no weights are sent through the
    websocket; the browser fetches each layer it shows over HTTP (and the layers next to it, ahead of the slider),
    its weights exact; the page still learns the choice."""
    T = trace.n_tokens
    frame = open_component(page, server, layer=6, head=2, budget=1, layer_budget=9 * T * T * 4)
    assert frame.locator("#plot").evaluate("gd => gd.dataset.scope") == "fetch"
    assert_head(frame, trace, 6, 2)
    frame.locator("#layer").focus()
    for want in (7, 8, 9):
        page.keyboard.press("ArrowRight")
        expect(frame.locator(".gtitle")).to_have_text(f"Attention weights · layer {want}, head 2")
        assert_head(frame, trace, want, 2)
    frame.locator("#head").focus()
    page.keyboard.press("End")  # another head of a fetched layer: drawn from what is there
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 9, head 9")
    assert_head(frame, trace, 9, 9)
    expect(page.get_by_text("server: layer 9, head 9")).to_be_visible(timeout=30_000)  # the page knows
    # 0-based indices: layers 6-9 are 5-8; two layers ahead of the slider and one behind were fetched in advance
    got = fetched_layers(browser_log)
    assert set(got) == {4, 5, 6, 7, 8, 9, 10} and len(got) == len(set(got)), got  # each layer once
    assert frame.locator("#plot").evaluate("gd => gd.dataset.scope") == "fetch"


def test_a_failed_fetch_falls_back_to_the_round_trip(page, server, trace):
    """If the server has dropped the trace (its handle answers 404), the component asks the page, which sends the
    layer itself."""
    T = trace.n_tokens
    frame = open_component(page, server, layer=3, head=1, budget=1, layer_budget=9 * T * T * 4)
    assert_head(frame, trace, 3, 1)
    component = next(f for f in page.frames if "attention_heatmap" in f.url)
    component.evaluate("() => { window.fetch = () => Promise.resolve(new Response('gone', {status: 404})); }")
    component.focus("#layer")
    page.keyboard.press("End")
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 30, head 1", timeout=30_000)
    assert_head(frame, trace, 30, 1)
    expect(page.get_by_text("server: layer 30, head 1")).to_be_visible(timeout=30_000)
