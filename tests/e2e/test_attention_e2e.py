"""/attention in real Chromium: every view draws (BertViz included, with its JS served from this computer),
clicks open heads, the link follows, and nothing leaves localhost (checked by the ``page`` fixture).

Layers and heads are numbered from 1 on the page, in its URL and in BertViz (layer 0 is the embeddings): layer l,
head h is ``trace.attentions[l - 1, h - 1]``."""
import re

import numpy as np
import pytest
from playwright.sync_api import expect
from tests.e2e.heatmap_cells import assert_cells_drawn

pytestmark = pytest.mark.e2e

PLOT = ".js-plotly-plot"


def heatmap_frame(pg):
    """The one-head heatmap: the redraw component's iframe (components/attention_redraw.py)."""
    return pg.frame_locator('iframe[src*="attention_heatmap"]').first


def heatmap_title(pg):
    return heatmap_frame(pg).locator(".gtitle")


def drawn_weights(pg) -> np.ndarray:
    """The weights the heatmap component's cells show (NaN = masked); assert_cells_drawn checks their colours."""
    z = heatmap_frame(pg).locator("#plot").evaluate("gd => gd.txShown().z.map(r => r.map(v => isNaN(v) ? null : v))")
    return np.array([[np.nan if v is None else v for v in row] for row in z], dtype=np.float64)


@pytest.fixture(scope="module")
def smol_trace():
    from models.loading import load
    from models.trace import compute_trace
    from components.state import DEFAULT_TEXT

    return compute_trace(load("smollm2-135m"), DEFAULT_TEXT)  # as the server runs it


def test_heatmap_decoder_mask_and_head_switch(app, smol_trace):
    pg = app.open("/attention", layer="3", head="2")
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 3, head 2", timeout=90_000)
    app.wait_idle()
    frame = heatmap_frame(pg)
    expect(pg.get_by_text("Grey cells are masked", exact=False)).to_be_visible()
    future = np.triu(np.ones((smol_trace.n_tokens,) * 2, bool), 1)
    z = drawn_weights(pg)
    assert np.isnan(z[future]).all()
    np.testing.assert_array_equal(z[~future].astype(np.float32), smol_trace.attentions[2, 1][~future])
    T = smol_trace.n_tokens  # and the cells on screen have those weights' colours (the future grey)
    assert_cells_drawn(frame, z, [(T - 1, 0), (T - 1, T - 1), (T // 2, T // 4), (0, T - 1)])
    app.screenshot("attention-heatmap-smollm2", canonical="attention")
    # the component's layer slider redraws in the browser; the page learns the head and the link follows
    frame.locator("#layer").focus()
    pg.keyboard.press("ArrowRight")
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 4, head 2", timeout=30_000)
    z = drawn_weights(pg)
    np.testing.assert_array_equal(z[~future].astype(np.float32), smol_trace.attentions[3, 1][~future])
    app.wait_for_query(layer="4", head="2")
    expect(pg.get_by_text("Layer 4, head 2 sends on average", exact=False)).to_be_visible()
    frame.locator("#head").focus()
    pg.keyboard.press("End")
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 4, head 9")
    expect(frame.locator("#head-value")).to_have_text("9 (kv 3)")
    app.wait_for_query(layer="4", head="9")
    assert app.exceptions().count() == 0


def test_heads_view_click_opens_a_head(app):
    pg = app.open("/attention", view="heads", layer="2")
    grid = pg.locator(PLOT).filter(has_text="The 9 heads of layer 2")
    expect(grid).to_have_count(1, timeout=90_000)
    app.wait_idle()
    app.screenshot("attention-heads-smollm2", canonical="attention-heads")
    point = grid.locator(".scatterlayer .point").nth(5)  # head index 5: head 6
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    pg.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 2, head 6", timeout=30_000)
    app.wait_for_query(layer="2", head="6", view=None)
    assert app.exceptions().count() == 0


def test_summary_view_finds_heads(app):
    pg = app.open("/attention", model="minilm-l6", view="summary")
    # the head map, and the heads -> W^O diagram in its (collapsed) expander under the intro
    expect(pg.locator(PLOT)).to_have_count(2, timeout=90_000)
    app.wait_idle()
    expect(pg.locator('[data-testid="stDataFrame"]')).to_have_count(1)
    pg.get_by_text("First-token (sink) heads", exact=True).click()
    app.wait_for_query(stat="first", view="summary")
    expect(pg.locator(PLOT).locator(".gtitle").filter(has_text="First token (sink) of every head")).to_have_count(1)
    app.screenshot("attention-summary-minilm", canonical="attention-summary")
    assert app.exceptions().count() == 0


def test_layer_numbering_in_the_browser(app, smol_trace):
    """Layers and heads are numbered from 1 everywhere in the browser: an old-style link gets the notice, the
    component's sliders run 1..30 and 1..9, the title, the slider and the URL agree, and BertViz's own layer menu
    (relabelled by what we pass it) starts at 1 and opens on the same layer."""
    pg = app.open("/attention", layer="3", head="2")
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 3, head 2", timeout=90_000)
    expect(app.alerts().filter(has_text="Layers and heads are counted from 1; layer 0 is the embeddings. Links "
                                        "made before 2026-12-06 counted them from 0.")).to_have_count(1)
    frame = heatmap_frame(pg)
    layer = frame.locator("#layer")
    assert [layer.get_attribute(a) for a in ("min", "max")] == ["1", "30"]
    assert [frame.locator("#head").get_attribute(a) for a in ("min", "max")] == ["1", "9"]
    assert layer.input_value() == "3"
    expect(frame.locator("#layer-value")).to_have_text("3")
    layer.focus()
    pg.keyboard.press("End")  # the last block: layer 30 = attentions[29]
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 30, head 2", timeout=30_000)
    expect(frame.locator("#layer-value")).to_have_text("30")
    app.wait_for_query(layer="30", head="2")
    future = np.triu(np.ones((smol_trace.n_tokens,) * 2, bool), 1)
    np.testing.assert_array_equal(drawn_weights(pg)[~future].astype(np.float32), smol_trace.attentions[29, 1][~future])
    pg.keyboard.press("Home")  # the first block is layer 1 (the default: left out of the link)
    expect(heatmap_title(pg)).to_have_text("Attention weights · layer 1, head 2", timeout=30_000)
    app.wait_for_query(layer=None, head="2")
    np.testing.assert_array_equal(drawn_weights(pg)[~future].astype(np.float32), smol_trace.attentions[0, 1][~future])
    # BertViz's head view from a link with layer=3: its own layer menu lists 1..30 and opens on 3
    pg = app.open("/attention", view="bertviz-head", layer="3")
    bertviz = pg.frame_locator("iframe").first
    expect(bertviz.locator("svg line").first).to_be_attached(timeout=90_000)
    options = bertviz.locator("select#layer option").all_text_contents()
    assert options == [str(n) for n in range(1, 31)]
    assert bertviz.locator("select#layer").input_value() == "3"  # the page's layer 3, not block 3
    app.wait_for_query(layer="3", view="bertviz-head")
    assert app.exceptions().count() == 0


def test_qk_step_through_matches(app):
    pg = app.open("/attention", query="view=qk&layer=2&head=4&query=5")  # `query` is also open()'s raw-query arg
    found = pg.get_by_text(re.compile(r"max difference from the attention .*: [0-9.]+e[+-]\d+"))
    expect(found).to_be_visible(timeout=90_000)
    app.wait_idle()
    # the recomputed weights must equal the model's: parse the reported error and hold it to the tests' bound
    err = float(re.search(r":\s*([0-9.]+e[+-]\d+)\.?\s*$", found.first.inner_text().strip()).group(1))
    assert err <= 1e-4, found.first.inner_text()
    expect(pg.get_by_text("Grouped-query attention.", exact=False)).to_be_visible()
    # q, keys, q⊙k, scores+weights, output, and the heads -> W^O diagram in its expander
    expect(pg.locator(PLOT)).to_have_count(6, timeout=60_000)
    app.screenshot("attention-qk-smollm2", canonical="attention-qk")
    assert app.exceptions().count() == 0


@pytest.mark.parametrize("model_id,view,canonical", [
    ("minilm-l6", "bertviz-head", "attention-bertviz-head"),
    ("smollm2-135m", "bertviz-model", "attention-bertviz-model"),
    ("smollm2-135m", "bertviz-head", None),
])
def test_bertviz_views_draw_offline(app, model_id, view, canonical):
    pg = app.open("/attention", model=model_id, view=view)
    frame = pg.frame_locator("iframe").first
    expect(frame.locator("svg line").first).to_be_attached(timeout=90_000)  # bertviz drew attention lines
    if view == "bertviz-head":  # the model view shows tokens only in a thumbnail's detail panel
        expect(frame.locator("svg text").filter(has_text="party").first).to_be_attached()
    else:
        assert frame.locator("svg line").count() > 9 * 30  # at least one line per thumbnail (30 layers x 9 heads)
    app.wait_idle()
    app.screenshot(f"attention-{view}-{model_id}", canonical)
    assert app.exceptions().count() == 0


def test_hostile_text_stays_text_everywhere(app, browser_log):
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    pg = app.open("/attention", model="minilm-l6", text=payload, view="bertviz-head")
    frame = pg.frame_locator("iframe").first
    expect(frame.locator("svg line").first).to_be_attached(timeout=90_000)
    expect(frame.locator("svg text").filter(has_text="<").first).to_be_attached()
    pg.get_by_role("radio", name="Heatmap").click()
    expect(heatmap_frame(pg).locator("#plot")).to_contain_text("<", timeout=30_000)
    assert pg.locator("img[src=x]").count() == 0 and heatmap_frame(pg).locator("img[src=x]").count() == 0
    assert browser_log.dialogs == []
    assert app.exceptions().count() == 0
