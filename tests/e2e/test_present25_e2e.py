"""Presentation mode on a projector (issue #25, items 1-3), in real Chromium at 1280x720 and 1920x1080: every tour
step's figure is fully on the first screen, a step change (Next, the → key) opens the new step at its heading, and
st.metric's numbers are larger than their labels, which wrap instead of being cut. The ``page`` fixture asserts
that no request leaves this computer."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from components import present, tour

pytestmark = pytest.mark.e2e

N = len(tour.STEPS)
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
DOCS_SHOTS = REPO / "docs" / "screenshots"  # the README's screenshots
PROJECTOR = {"width": 1280, "height": 720}
FULL_HD = {"width": 1920, "height": 1080}
FIGURE = f".st-key-{present.TOUR_FIGURE}"


def heading(page, text: str):
    return page.locator('[data-testid="stMain"] [data-testid="stHeading"]', has_text=text)


def step_figure(page, step: int):
    """The step's figure: the token chips on step 1, the generated text on step 9 (SmolLM2), else the chart."""
    if step == 1:
        return page.locator(f"{FIGURE} .tx-chips")
    if step == N:
        return page.locator(f"{FIGURE} [data-testid='tx-generated']")
    return page.locator(f"{FIGURE} [data-testid='stPlotlyChart']")


def settled_box(page, locator) -> dict:
    """The element's box once two reads 300 ms apart agree (plotly and the columns have finished laying out)."""
    last = None
    for _ in range(40):
        box = locator.bounding_box()
        if box is not None and box == last:
            return box
        last = box
        page.wait_for_timeout(300)
    raise AssertionError(f"the element kept moving: last box {last}")


def toolbar_bottom(page) -> float:
    """Streamlit's toolbar covers the top of the screen (white, above the content): a figure under it is hidden."""
    return page.evaluate("() => { const h = document.querySelector('[data-testid=\"stHeader\"]');"
                         " return h ? h.getBoundingClientRect().bottom : 0; }")


def assert_on_screen(page, step: int, viewport: dict) -> None:
    fig = step_figure(page, step)
    expect(fig).to_have_count(1, timeout=120_000)
    if step not in (1, N):
        expect(fig.locator(".main-svg").first).to_be_visible(timeout=120_000)
    box = settled_box(page, fig)
    top = toolbar_bottom(page)
    assert box["y"] >= top - 1, f"step {step}: the figure starts at {box['y']:.0f} px, under the toolbar ({top})"
    assert box["y"] + box["height"] <= viewport["height"] + 1, \
        f"step {step}: the figure ends at {box['y'] + box['height']:.0f} px, below the {viewport['height']} px screen"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1
    scrolled = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop")
    assert scrolled == 0, f"step {step}: the page is scrolled by {scrolled} px"


def open_step(app, step: int, viewport: dict):
    page = app.page
    page.set_viewport_size(viewport)
    app.open("/", step=str(step), present="1", model="smollm2-135m")
    expect(heading(page, f"{step}/{N} ·")).to_be_visible(timeout=120_000)
    app.wait_idle(120_000)
    return page


@pytest.mark.parametrize("step", range(1, N + 1))
def test_every_tour_step_fits_a_1280x720_projector(app, step):
    page = open_step(app, step, PROJECTOR)
    assert_on_screen(page, step, PROJECTOR)
    assert app.exceptions().count() == 0
    if step == 5:
        # the canonical projector screenshot is the screen itself: app.screenshot stretches the window to the
        # content's height, and the tour's figure box follows the window's height (present.CSS)
        SHOTS.mkdir(parents=True, exist_ok=True)
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "tour-present-1280x720-step5.png"), animations="disabled", caret="hide")
        shutil.copyfile(SHOTS / "tour-present-1280x720-step5.png", DOCS_SHOTS / "tour-present.png")


@pytest.mark.parametrize("step", (1, 5, 6, N))
def test_tour_steps_fit_full_hd(app, step):
    page = open_step(app, step, FULL_HD)
    assert_on_screen(page, step, FULL_HD)


def heading_top(page, text: str) -> float:
    box = settled_box(page, heading(page, text).first)
    return box["y"]


def test_next_and_the_arrow_key_open_the_step_at_its_heading_on_a_projector(app):
    page = open_step(app, 5, PROJECTOR)
    expect(step_figure(page, 5).locator(".main-svg").first).to_be_visible(timeout=120_000)
    for key, step in (("ArrowRight", 6), ("PageDown", 7)):
        # where a teacher is after reading a step: at its bottom, by the Next button
        page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                      " m.scrollTop = m.scrollHeight; }")
        assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") > 0
        keys = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]', has_text="PageDown")
        keys.click()  # focus on the page (not in a field), as a clicker has it; the caption is on screen down here
        assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") > 0
        page.keyboard.press(key)
        expect(heading(page, f"{step}/{N} ·")).to_be_visible(timeout=120_000)
        app.wait_idle(120_000)
        top = heading_top(page, f"{step}/{N} ·")
        assert toolbar_bottom(page) - 1 <= top <= 150, f"step {step}'s heading is at {top:.0f} px"
        assert_on_screen(page, step, PROJECTOR)


def test_next_opens_the_step_at_its_heading(app):
    """Without presentation mode (the default 1400x1000 window): Next at the bottom of step 5 opens step 6 with
    its heading at the top of the screen (it was 606 px above the screen)."""
    page = app.page
    app.open("/", step="5")
    expect(heading(page, f"Step 5 of {N}")).to_be_visible(timeout=120_000)
    app.wait_idle(120_000)
    for step in (6, 7):
        page.locator(".st-key-tour_next button").scroll_into_view_if_needed()
        page.mouse.move(700, 500)
        page.mouse.wheel(0, 400)  # further down, as after reading the step
        page.wait_for_timeout(500)
        before = heading_top(page, f"Step {step - 1} of {N}")
        assert before < 0, f"the test should start with step {step - 1}'s heading above the screen ({before})"
        page.locator(".st-key-tour_next button").click()
        expect(heading(page, f"Step {step} of {N}")).to_be_visible(timeout=120_000)
        app.wait_idle(120_000)
        top = heading_top(page, f"Step {step} of {N}")
        assert toolbar_bottom(page) - 1 <= top <= 200, f"step {step}'s heading is at {top:.0f} px"


def test_tokens_metrics_on_a_projector(app):
    page = app.page
    page.set_viewport_size(PROJECTOR)
    app.open("/tokens", present="1", model="smollm2-135m")
    metrics = page.locator('[data-testid="stMain"] [data-testid="stMetric"]')
    expect(metrics.first).to_be_visible(timeout=120_000)
    app.wait_for_chips(120_000)
    read = """ms => ms.map(m => {
        const label = m.querySelector('[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"]');
        const value = m.querySelector('[data-testid="stMetricValue"]');
        const size = e => parseFloat(getComputedStyle(e.querySelector('p') || e).fontSize);
        return {label: label.textContent, labelSize: size(label), valueSize: size(value),
                labelScroll: label.scrollWidth, labelWidth: label.clientWidth,
                valueScroll: value.scrollWidth, valueWidth: value.clientWidth};
    })"""

    def fine(m: dict) -> bool:
        return m["valueSize"] > m["labelSize"] and m["labelScroll"] <= m["labelWidth"] \
            and m["valueScroll"] <= m["valueWidth"]

    for _ in range(60):  # the page may still be drawing its later sections (their metrics too)
        found = metrics.evaluate_all(read)
        if any(m["label"] == "Characters per token" for m in found) and all(fine(m) for m in found):
            break
        page.wait_for_timeout(500)
    labels = [m["label"] for m in found]
    assert "Characters per token" in labels, labels
    for m in found:
        assert m["valueSize"] > m["labelSize"], m
        assert m["labelScroll"] <= m["labelWidth"], f"label cut off: {m}"
        assert m["valueScroll"] <= m["valueWidth"], f"value cut off: {m}"
    # the first screen is not only a heading and a paragraph: the page's first figure (the chips) starts on it
    chips = settled_box(page, app.chips().first)
    assert chips["y"] < PROJECTOR["height"] - 40, f"the first chip starts at {chips['y']:.0f} px"
    label = page.locator('[data-testid="stMetricLabel"]', has_text="Characters per token")
    assert label.inner_text().strip() == "Characters per token"  # the whole label, no ellipsis
    app.screenshot("tokens-present-1280x720")
