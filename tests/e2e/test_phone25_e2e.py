"""A student on a phone (issue #25, 390 × 844, real Chromium against serve.py):

* the model and the analysed text, which the collapsed sidebar hides on a phone, are summarised on one line at the
  top of the main area on /next-token and /tokens; on a wide screen (1400 px) that summary is hidden;
* on /next-token the temperature slider and the top bar of the chart it drives fit in one screen height (the bars
  come right under the sliders on a narrow screen, the four numbers after them);
* plotly's mode bar is kept off chart titles on the phone (hidden there), and still shown on a wide screen."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot
from tests.e2e.sampling_frame import frame

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1400, "height": 1000}
FRANCE = "The capital of France is"
SUMMARY = ".st-key-tx_phone_text"


def check_summary_on_top(app, path: str) -> None:
    page = app.page
    summary = page.locator(SUMMARY)
    expect(summary).to_be_visible(timeout=120_000)
    expect(summary).to_contain_text(FRANCE)
    expect(summary).to_contain_text("in the sidebar")
    line = page.locator(SUMMARY + "_line p").first  # the model and the text: one line, however narrow
    expect(line).to_have_css("white-space", "nowrap")
    expect(page.locator('[data-testid="stSidebar"] textarea')).not_to_be_in_viewport()  # the sidebar is shut
    box = summary.bounding_box()
    title = page.locator('[data-testid="stMain"] h1').first.bounding_box()
    assert box["y"] + box["height"] <= title["y"] + 1, (path, box, title)  # above the page's heading
    assert 0 <= box["y"] < PHONE["height"] / 4, (path, box)
    assert box["height"] < 70, (path, box)  # the text's line and the hint's


def test_phone_next_token_text_on_top_and_sliders_next_to_the_bars(app):
    page = app.page
    page.set_viewport_size(PHONE)
    app.open("/next-token", model="smollm2-135m", text=FRANCE)
    check_summary_on_top(app, "/next-token")
    f = frame(page)
    temperature = f.locator("#temperature").bounding_box()  # page (viewport) coordinates, across the iframe
    top_bar = f.locator(".bars-row").first.bounding_box()
    metrics = f.locator("#metrics").bounding_box()
    assert top_bar["y"] > temperature["y"]
    assert top_bar["y"] + top_bar["height"] - temperature["y"] <= PHONE["height"], (temperature, top_bar)
    assert metrics["y"] > top_bar["y"], (metrics, top_bar)  # the numbers follow the bars on a phone
    app.wait_idle()
    page.screenshot(path=str(save_screenshot(page, "phone25-next-token-390")))  # the first screen, not stretched
    # plotly's mode bar never covers a title on the phone: the logit lens chart's (main page) and the top-p
    # curve's (in the component) are not displayed
    app.wait_idle()
    lens = page.locator('[data-testid="stMain"] .js-plotly-plot').first
    lens.scroll_into_view_if_needed()
    lens.hover()  # a tap on a phone: plotly would show its mode bar now
    displays = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .modebar-container')]
                                      .map(e => getComputedStyle(e).display)""")
    assert displays and set(displays) == {"none"}, displays
    assert f.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .modebar-container')]
                               .every(e => getComputedStyle(e).display === 'none')""")


def test_phone_tokens_text_on_top(app):
    app.page.set_viewport_size(PHONE)
    app.open("/tokens", model="smollm2-135m", text=FRANCE)
    check_summary_on_top(app, "/tokens")
    app.wait_for_chips()
    save_screenshot(app.page, "phone25-tokens-390")


def test_wide_screen_hides_the_summary_and_keeps_the_mode_bar(app):
    page = app.page
    page.set_viewport_size(WIDE)
    app.open("/tokens", model="smollm2-135m", text=FRANCE)
    app.wait_for_chips()
    expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible()
    assert page.locator(SUMMARY).count() == 1  # drawn, and hidden by the media query
    expect(page.locator(SUMMARY)).to_be_hidden()
    expect(page.locator('[data-testid="stSidebar"] textarea')).to_have_value(FRANCE)
    chart = page.locator('[data-testid="stMain"] .js-plotly-plot').first
    chart.scroll_into_view_if_needed()
    chart.hover()
    displays = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .modebar-container')]
                                      .map(e => getComputedStyle(e).display)""")
    assert displays and "none" not in displays, displays
