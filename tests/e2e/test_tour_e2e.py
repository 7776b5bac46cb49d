"""The guided tour, presentation mode, presets, glossary anchors and trace export in real Chromium against the
real server. The ``page`` fixture asserts that no request leaves this computer."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from components import glossary, presets
from tests.e2e.sampling_frame import IFRAME

pytestmark = pytest.mark.e2e

TEXT = "students celebrate the graduation with a big party"


def heading(page, text: str):
    return page.locator('[data-testid="stMain"] [data-testid="stHeading"]', has_text=text)


def large_font(page, selector: str, contains: str, px: float = 26) -> None:
    """Wait until the first element matching ``selector`` (and containing ``contains``) is drawn at >= ``px``
    (projector CSS; 16 px normally)."""
    page.wait_for_function(
        """([sel, text, px]) => { const e = [...document.querySelectorAll(sel)].find(x => x.textContent.includes(text));
             return !!e && parseFloat(getComputedStyle(e).fontSize) >= px; }""",
        arg=[selector, contains, px], timeout=30_000)


def test_tour_step_from_the_url_and_next(app):
    page = app.open("/", step="5")
    expect(heading(page, "Step 5 of 9: Attention")).to_be_visible(timeout=90_000)
    app.wait_idle()
    # the tour's figure, and the parameter treemap after the tour ("Where the parameters are")
    chart = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]')
    expect(chart).to_have_count(2)
    chart = chart.first
    expect(chart.locator(".main-svg").first).to_be_visible()
    assert app.exceptions().count() == 0
    app.screenshot("tour-step5", canonical="tour")
    page.locator(".st-key-tour_next button").click()
    expect(heading(page, "Step 6 of 9")).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(r"[?&]step=6(&|$)"))


def test_block_step_draws_and_links_to_the_block_page(app):
    """Step 7, inside a block: the per-layer bars for the top next token, and its link opens /block."""
    page = app.open("/", step="7", text="The capital of France is")
    expect(heading(page, "Step 7 of 9: Inside a block")).to_be_visible(timeout=90_000)
    chart = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]').first
    expect(chart.locator(".gtitle")).to_contain_text("Direct push on the logit of", timeout=60_000)
    expect(chart.locator("g.trace.bars")).to_have_count(2)  # attention and MLP
    assert app.exceptions().count() == 0
    app.wait_idle()
    page.get_by_role("link", name="Open the full page: Inside a block").click()
    expect(page.get_by_role("heading", name=re.compile("Inside a block"))).to_be_visible(timeout=90_000)
    expect(page).to_have_url(re.compile(r"/block\?"))


def test_presentation_mode_keyboard_and_way_out(app):
    page = app.open("/", step="5", present="1")
    expect(heading(page, "5/9 · Attention")).to_be_visible(timeout=90_000)
    app.wait_idle()
    expect(page.locator('[data-testid="stExpandSidebarButton"]')).to_be_visible()  # the sidebar is collapsed
    box = page.locator('[data-testid="stSidebar"]').bounding_box()
    assert box is None or box["x"] + box["width"] <= 1
    large_font(page, '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p', "Each token makes")
    chart = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]')
    expect(chart).to_have_count(1)
    expect(chart.locator(".main-svg").first).to_be_visible(timeout=60_000)
    app.screenshot("tour-present-step5")  # the README's tour-present.png: test_present25_e2e.py, at 1280x720
    for key, step in (("ArrowRight", 6), ("PageDown", 7), ("PageUp", 6), ("ArrowLeft", 5)):
        page.locator('[data-testid="stMain"] h2').first.click()  # focus on the page, not in a text field
        page.keyboard.press(key)
        expect(heading(page, f"{step}/9 ·")).to_be_visible(timeout=60_000)
        expect(page).to_have_url(re.compile(rf"[?&]step={step}(&|$)"), timeout=60_000)
        app.wait_idle()
        assert "present=1" in page.url
    app.wait_idle()
    page.get_by_role("link", name="Leave presentation mode").click()
    expect(page.get_by_role("heading", name="How a language model reads text")).to_be_visible(timeout=60_000)
    expect(heading(page, "Step 5 of 9")).to_be_visible()
    app.wait_idle()
    assert "present=1" not in page.url


def test_presentation_mode_is_kept_across_pages(app):
    page = app.open("/", present="1")
    expect(heading(page, "1/9 ·")).to_be_visible(timeout=90_000)
    app.wait_idle()
    page.locator('[data-testid="stExpandSidebarButton"]').click()
    page.locator('[data-testid="stSidebarNav"] a', has_text="Tokens").click()
    app.wait_for_chips()
    expect(page).to_have_url(re.compile(r"/tokens\?.*present=1"))
    large_font(page, ".tx-piece", "")


def test_preset_link_opens_its_page_in_the_same_session(app):
    page = app.open("/")
    expect(heading(page, "Examples to click")).to_be_visible(timeout=90_000)
    app.wait_idle()
    page.evaluate("() => { window.__sameDocument = true; }")
    _, url = next((label, u) for p, label, u in presets.all_links() if label == "T = 2")
    _, query = presets.parse_url(url)
    page.locator('[data-testid="stMain"] [data-testid="stPageLink"] a', has_text="T = 2").click()
    expect(page).to_have_url(re.compile(r"/next-token\?"), timeout=60_000)
    app.wait_idle()
    # the temperature slider is the sampling component's (components/sampling_redraw.py), in its own frame
    expect(page.frame_locator(IFRAME).locator("#temperature-value")).to_have_text("2.00", timeout=60_000)
    expect(app.sidebar_text()).to_have_value(query["text"])
    q = app.query()
    assert q["temperature"] == ["2"] and q["text"] == [query["text"]] and "preset" not in q
    assert page.evaluate("() => window.__sameDocument === true")  # no reload: the session was kept
    assert app.exceptions().count() == 0


def test_chinese_preset_in_a_new_tab_link(app, tokenizer):
    _, url = presets.get("chinese-tokens").links()[1]  # MiniLM
    _, query = presets.parse_url(url)
    app.open(url.split("?")[0], query=url.split("?")[1])
    app.wait_for_chips()
    assert app.chip_ids() == list(tokenizer("minilm-l6")(query["text"])["input_ids"])


def test_glossary_link_opens_at_its_entry(app):
    page = app.page
    page.goto(app.server.url + glossary.glossary_link("softmax").split("](")[1].rstrip(")"),
              wait_until="domcontentloaded")  # as the new tab of a link in a caption opens it
    entry = page.locator("#softmax")
    expect(entry).to_be_visible(timeout=60_000)
    expect(entry).to_be_in_viewport(timeout=10_000)
    app.wait_idle()
    app.screenshot("glossary-softmax", canonical="glossary")


def test_export_json_download_is_the_trace(app, tokenizer):
    page = app.open("/tokens", model="minilm-l6", text=TEXT)
    app.wait_for_chips()
    page.locator('[data-testid="stSidebar"] [data-testid="stExpander"]', has_text="Export and share") \
        .locator("summary").click()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Trace as JSON").click()
    doc = json.loads(open(info.value.path(), encoding="utf-8").read())
    assert doc["model"] == "minilm-l6" and doc["text"] == TEXT
    assert [t["id"] for t in doc["tokens"]] == list(tokenizer("minilm-l6")(TEXT)["input_ids"])
    assert doc["attention"]["layer"] == 1 and doc["attention"]["block_index"] == 0 and doc["next_token"] is None
    page.get_by_role("button", name="Copy link to this view").click()
    code = page.locator('[data-testid="stSidebar"] [data-testid="stCode"]')
    expect(code).to_contain_text("/tokens?model=minilm-l6&text=students%20celebrate", timeout=60_000)


# ----------------------------------------------------------------------------------- in Chinese (issue #7)
def test_tour_in_chinese_and_a_glossary_link_keeps_the_language(app):
    from i18n import translations

    from components import tour

    zh = translations("zh")
    page = app.open("/", step="5", lang="zh")
    title = zh.gettext("Step {n} of {total}: {title}").format(n=5, total=len(tour.STEPS), title=zh.gettext(tour.STEPS[4].title))
    expect(heading(page, title)).to_be_visible(timeout=90_000)
    app.wait_idle()
    chart = page.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]')
    expect(chart.locator(".main-svg").first).to_be_visible(timeout=60_000)
    expect(chart.locator(".gtitle").first).to_contain_text(zh.gettext("Attention weights, layer {layer} head {head}")
                                                           .split("{")[0])
    expect(heading(page, zh.gettext("Chinese examples"))).to_be_visible()
    assert app.exceptions().count() == 0
    app.screenshot("tour-step5-zh", canonical="tour-zh")
    # the causal-mask link of the explanation opens a new session: it carries lang=zh and lands on the entry
    href = page.locator('[data-testid="stMain"] a[href*="term=causal-mask"]').first.get_attribute("href")
    assert "lang=zh" in href
    page.goto(app.server.url + "/" + href.split("/", 3)[-1] if href.startswith("http") else app.server.url + href,
              wait_until="domcontentloaded")
    entry = page.locator("#causal-mask")
    expect(entry).to_be_visible(timeout=60_000)
    expect(entry).to_contain_text(f"{zh.gettext('causal mask')} (causal mask)")
    expect(entry).to_be_in_viewport(timeout=10_000)
    expect(page.get_by_role("heading", name=zh.gettext("Glossary"), exact=True)).to_be_attached()
    assert "lang=zh" in page.url
