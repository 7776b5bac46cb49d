"""/attention in real Chromium: word level on a Chinese sentence draws one row per character (the page's
sum/mean rule, computed here from the model's own attention), and the "how the heads are combined" expander
shows the loaded model's shapes (SmolLM2: 9 heads × 64 = 576 columns, W^O 576 × 576, 3 key/value heads)."""
import numpy as np
import pytest
from playwright.sync_api import expect
from tests.e2e.heatmap_cells import assert_cells_drawn, axis_labels

pytestmark = pytest.mark.e2e

ZH = "今天天气很好，我们去公园散步吧。"


def heatmap_frame(pg):
    return pg.frame_locator('iframe[src*="attention_heatmap"]').first


def test_chinese_word_level_has_a_row_per_character(app):
    from models.loading import load
    from models.trace import compute_trace

    t = compute_trace(load("smollm2-135m"), ZH)  # as the server runs it
    assert t.n_tokens == 31
    # SmolLM2: each character is its byte pieces (they share the character's start offset)
    words = np.cumsum(np.r_[0, np.diff(t.offsets[:, 0]) != 0])
    W = len(ZH)
    assert words.max() + 1 == W
    a = t.attentions[1, 2].astype(np.float64)  # layer 2, head 3
    expected = np.array([[a[np.ix_(words == i, words == j)].sum(1).mean() for j in range(W)] for i in range(W)])

    pg = app.open("/attention", text=ZH, level="words", layer="2", head="3")
    frame = heatmap_frame(pg)
    expect(frame.locator(".gtitle")).to_have_text("Attention weights · layer 2, head 3", timeout=90_000)
    app.wait_idle()
    z = frame.locator("#plot").evaluate("gd => gd.txShown().z.map(r => r.map(v => isNaN(v) ? null : v))")
    _, y = axis_labels(frame)  # the query axis as Plotly draws it
    z = np.array([[np.nan if v is None else v for v in row] for row in z], dtype=np.float64)
    assert z.shape == (W, W) and [label.split(" ", 1)[1] for label in y] == list(ZH)
    future = np.triu(np.ones((W, W), bool), 1)
    assert np.isnan(z[future]).all()
    np.testing.assert_allclose(z[~future], expected[~future], atol=1e-6)
    assert_cells_drawn(frame, np.where(future, np.nan, expected), [(W - 1, 0), (W - 1, W // 2), (W // 2, 1), (0, W - 1)])
    expect(pg.get_by_text("each of their characters is a word here", exact=False)).to_be_visible()
    app.screenshot("attention-words-chinese-smollm2")
    assert app.exceptions().count() == 0


def test_heads_combined_expander_shows_live_shapes(app):
    pg = app.open("/attention", text="students celebrate the graduation with a big party")
    expander = pg.get_by_text("How the 9 heads are combined", exact=False)
    expect(expander).to_be_visible(timeout=90_000)
    app.wait_idle()
    expander.click()
    body = pg.locator('[data-testid="stExpander"]').filter(has_text="How the 9 heads are combined")
    expect(body.get_by_text("9 × 64 = 576 columns", exact=False)).to_be_visible()
    expect(body.get_by_text("self_attn.o_proj", exact=False).first).to_be_visible()
    expect(body.get_by_text("kv 1 ← 1, 2, 3", exact=False)).to_be_visible()
    plot = body.locator(".js-plotly-plot")
    expect(plot).to_have_count(1)
    texts = plot.locator(".annotation-text").all_text_contents()
    assert any("576 × 576" in s and "self_attn.o_proj" in s for s in texts), texts
    assert sum(s.startswith("kv ") for s in texts) == 3
    assert [s for s in texts if s.isdigit()] == [str(h) for h in range(1, 10)]
    body.scroll_into_view_if_needed()
    app.screenshot("attention-heads-combined-smollm2")
    assert app.exceptions().count() == 0
