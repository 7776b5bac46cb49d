"""Issue #25, charts and labels, in real Chromium: what Plotly actually draws for hostile labels, the Next token
panel titles and ticks on a desktop and on a 390x844 phone, byte pieces under their character, one space marker,
"—" for an added token's span, head captions and the q·k axes. Expected text comes from the tokenizer, not from
the code under test."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from components.widgets import visible
from tests.e2e.sampling_frame import frame

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 720}
HOSTILE = ['."', "<b>&amp;</b>", "a&b>c<d", "%{y}$5$", "'q'", "&mu;&#37;"]
PLOTLY_JS = Path(importlib.util.find_spec("plotly").submodule_search_locations[0]) / "package_data" / "plotly.min.js"


def svg_texts(handle) -> list[str]:
    """The text of every SVG <text> element under ``handle`` (tick labels, titles, annotations, bar texts)."""
    return handle.evaluate("el => Array.from(el.querySelectorAll('svg text')).map(t => t.textContent)")


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


# ------------------------------------------------------------------------------------------------ item 5
def test_plotly_draws_each_label_as_its_characters(browser):
    """The figure builders' output drawn by the installed plotly.js (inline: no request leaves the page): every
    hostile token is drawn with exactly its characters, and no entity is left showing."""
    from tests.unit.test_labels25 import _figures

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pg = context.new_page()
        pg.set_content("<html><body><div id='plot' style='width:1300px'></div></body></html>")
        pg.add_script_tag(content=PLOTLY_JS.read_text())
        for name, fig in _figures(HOSTILE).items():
            pg.evaluate("spec => Plotly.newPlot('plot', spec.data, spec.layout)", json.loads(fig.to_json()))
            texts = svg_texts(pg.locator("#plot"))
            given = HOSTILE[:1] if name == "one_hot_vs_dense" else HOSTILE
            for h in given:
                assert any(h in t for t in texts), (name, h, texts[:40])
            for t in texts:  # apart from the tokens' own characters, no entity is left showing
                rest = t
                for h in sorted(HOSTILE, key=len, reverse=True):
                    rest = rest.replace(h, "")
                assert not re.search(r"&#?[a-zA-Z0-9]+;", rest), (name, t)
            pg.evaluate("Plotly.purge('plot')")
    finally:
        context.close()


def test_next_token_loss_ticks_show_the_texts_characters(app, smollm2):
    text = 'He said "yes" & <b>no</b> to 5%.'
    page = app.open("/next-token", model="smollm2-135m", text=text)
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=120_000)
    app.wait_idle()
    ids = smollm2.tokenizer(text, add_special_tokens=False).input_ids
    expected = {f"{i} {visible(smollm2.tokenizer.decode([t]))}" for i, t in enumerate(ids)}
    loss = page.locator(".js-plotly-plot").filter(has_text="Loss at each")
    ticks = loss.evaluate("el => Array.from(el.querySelectorAll('.xtick text')).map(t => t.textContent)")
    assert ticks and set(ticks) <= expected, (ticks, expected)
    assert any('"' in t for t in ticks) and any("&" in t for t in ticks) and any("<" in t for t in ticks)
    for t in svg_texts(page.locator('[data-testid="stMain"]')):
        assert "&quot;" not in t and "&amp;" not in t and "&lt;" not in t and "&#" not in t, t
    # the prompt line above the bars is decoded as text
    expect(page.locator('[data-testid="stMain"]')).to_contain_text('to␣5%.')


# ------------------------------------------------------------------------------------------------ item 4
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_next_token_panel_titles_and_ticks_never_overlap(app, viewport):
    app.page.set_viewport_size(viewport)
    page = app.open("/next-token", model="smollm2-135m", text="The capital of France is", temperature="0.69",
                    top_k="3", top_p="0.95")
    f = frame(page)
    app.wait_idle()
    bars = f.locator("#bars")
    expect(bars).to_contain_text("Adjusted: T = 0.69, top-k = 3, top-p = 0.95")
    heads = [f.locator(".bars-head.h0").bounding_box(), f.locator(".bars-head.h1").bounding_box()]
    assert not overlaps(*heads), heads
    for k in (0, 1):  # a title stays inside its own panel's column (wrapped, not cut or spilled)
        spill = f.locator(f".bars-head.h{k}").evaluate("e => e.scrollWidth - e.clientWidth")
        assert spill <= 1
    ticks = [b for b in (t.bounding_box() for t in f.locator(".bars-axis .tick").all()) if b]
    assert len(ticks) >= 4  # two per panel at least
    for i, a in enumerate(ticks):
        for b in ticks[i + 1:]:
            assert not overlaps(a, b), (a, b)
    frame_box = page.locator('iframe[src*="sampling_redraw"]').first.bounding_box()
    assert frame_box["width"] <= viewport["width"]
    for t in ticks:  # every tick inside the frame (nothing cut at the right edge)
        assert t["x"] >= frame_box["x"] - 1 and t["x"] + t["width"] <= frame_box["x"] + frame_box["width"] + 1
    name = "desktop" if viewport is DESKTOP else "phone"
    app.screenshot(f"labels25-next-token-bars-{name}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_server_side_bars_titles_and_ticks_never_overlap(app, viewport):
    """The same at the fallback ("Redraw on the server": Plotly figure drawn by Streamlit)."""
    app.page.set_viewport_size(viewport)
    page = app.open("/next-token", model="smollm2-135m", text="The capital of France is", temperature="0.69",
                    top_k="3", top_p="0.95")
    frame(page)
    app.wait_idle()
    page.get_by_text("Redraw on the server").click()
    chart = page.locator(".js-plotly-plot").filter(has_text="Model (T = 1")
    expect(chart).to_have_count(1, timeout=60_000)
    app.wait_idle()
    chart.scroll_into_view_if_needed()
    notes = chart.locator("g.annotation")
    words = notes.evaluate_all("els => els.map(e => e.textContent)")  # SVG: no innerText
    titles = [notes.nth(i).bounding_box() for i, t in enumerate(words) if t.startswith(("Model", "Adjusted"))]
    assert len(titles) == 2 and not overlaps(*titles), titles
    box = chart.bounding_box()
    assert all(t["x"] >= box["x"] - 1 and t["x"] + t["width"] <= box["x"] + box["width"] + 1 for t in titles), (titles, box)
    ticks = [b for b in (t.bounding_box() for t in chart.locator(".xtick text, .x2tick text").all()) if b]
    assert len(ticks) >= 4
    for i, a in enumerate(ticks):
        for b in ticks[i + 1:]:
            assert not overlaps(a, b), (a, b)
    name = "desktop" if viewport is DESKTOP else "phone"
    app.screenshot(f"labels25-next-token-server-bars-{name}")


# ------------------------------------------------------------------------------------------- items 6, 7
def test_tokens_chips_tie_byte_pieces_to_their_character(app, smollm2):
    text = "a big party 🍕 首都"
    page = app.open("/tokens", model="smollm2-135m", text=text)
    app.wait_for_chips()
    tok = smollm2.tokenizer
    ids = tok(text, add_special_tokens=False).input_ids
    split = [c for c in text if ord(c) > 0x7F and not any(c in tok.decode([i]) for i in ids)]
    groups = page.locator(".tx-chips").first.locator(".tx-group")
    expect(groups).to_have_count(len(split))
    assert groups.locator(".tx-group-char").all_inner_texts() == split
    for g in groups.all():  # one colour for the pieces of one character, and the character right under them
        colours = set(g.locator(".tx-chip").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)"))
        assert len(colours) == 1
        chips, char = g.locator(".tx-group-chips").bounding_box(), g.locator(".tx-group-char").bounding_box()
        assert char["y"] >= chips["y"] + chips["height"] - 1 and abs(char["width"] - chips["width"]) <= 6
    pieces = app.chips().locator(".tx-piece").all_inner_texts()
    assert "␣party" in pieces and not any("Ġ" in p for p in pieces)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("␣party and party are different pieces")
    app.screenshot("labels25-tokens-bytes")

    page = app.open("/next-token", model="smollm2-135m", text="中国的首都是")
    expect(page.locator(".js-plotly-plot")).to_have_count(3, timeout=120_000)
    app.wait_idle()
    line = page.locator('[data-testid="stMarkdown"]').filter(has_text="Prediction for the token after")
    expect(line).to_contain_text("首都是")
    assert "<E" not in line.inner_text()


def test_minilm_table_notes_the_dash(app):
    page = app.open("/tokens", model="minilm-l6", text="students celebrate")
    app.wait_for_chips()
    expect(page.locator('[data-testid="stMain"]')).to_contain_text("— in start and end")


# ------------------------------------------------------------------------------------------------ item 9
def test_attention_heads_are_captioned_and_qk_axes_are_round(app, smollm2):
    page = app.open("/attention", model="smollm2-135m", view="heads", layer="2")
    grid = page.locator(".js-plotly-plot").filter(has_text="heads of layer 2")
    expect(grid).to_have_count(1, timeout=120_000)
    app.wait_idle()
    cfg = smollm2.model.config
    H, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    texts = svg_texts(grid)
    for h in range(H):  # transformers' repeat_kv: query head h reads key/value head h // (H / n_kv)
        assert f"head {h + 1} (shares K/V {h // (H // n_kv) + 1})" in texts
    assert not any(t.startswith("+") or t.startswith("kv ") for t in texts)

    page = app.open("/attention", query="model=smollm2-135m&view=qk&layer=2&head=1&query=3")  # `query`: the raw one
    bars = page.locator(".js-plotly-plot").filter(has_text="scaled scores and softmax weights")
    expect(bars).to_have_count(1, timeout=120_000)
    app.wait_idle()
    weights = bars.evaluate("el => Array.from(el.querySelectorAll('.yaxislayer-above .ytick text, .ytick text'))"
                            ".map(t => t.textContent)")
    assert {"0", "0.25", "0.5", "0.75", "1"} <= set(weights), weights
