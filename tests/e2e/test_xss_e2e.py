"""XSS in the real browser, on every page of tests/fuzz/pages.py (adding a page there adds it here).

Each payload goes into the shared text and into every parameter the page prints back (``Page.echoes``), as a
link would carry it. Then, in every frame of the page: no dialog opened, the payload's script never ran
(``window.__pwned`` stays unset), no element, event handler or ``javascript:`` link was injected, and the
payload is on the page as literal text. A second run per page puts one combined payload into EVERY text
parameter at once (no echo check: some of them then have nothing to show).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fuzz.pages import PAGES, Text

pytestmark = pytest.mark.e2e

PAYLOADS = {
    "script": "<script>window.__pwned=1</script>",
    "img-onerror": "<img src=x onerror=window.__pwned=2>",
    "md-js-link": "[a](javascript:window.__pwned=3)",
    "close-script": "</script><svg onload=window.__pwned=4>",
}
COMBINED = "".join(PAYLOADS.values()) + '<a href="javascript:window.__pwned=5">a</a> **b** $x$'

# evaluated in every frame (bertviz and st.components render into iframes)
INJECTED = r"""() => ({
  pwned: window.__pwned === undefined ? null : window.__pwned,
  img: document.querySelectorAll('img[src="x"]').length,
  handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a =>
      /^on/i.test(a.name) && /__pwned|alert/.test(a.value))).length,
  scripts: [...document.scripts].filter(s => /__pwned/.test(s.textContent)).length,
  js_links: [...document.querySelectorAll('[href], [src], [action]')].filter(e =>
      ['href', 'src', 'action', 'xlink:href'].some(n => /^\s*javascript:/i.test(e.getAttribute(n) || ''))).length,
})"""
CLEAN = {"pwned": None, "img": 0, "handlers": 0, "scripts": 0, "js_links": 0}


def assert_not_executed(app, browser_log) -> None:
    app.wait_idle()
    app.page.wait_for_timeout(500)  # an onerror/onload handler would have fired by now
    for frame in app.page.frames:
        try:
            found = frame.evaluate(INJECTED)
        except Exception as e:  # a frame that navigated away while we looked: nothing to inspect there
            if "detached" in str(e) or "navigat" in str(e):
                continue
            raise
        assert found == CLEAN, f"{frame.url}: {found}"
    assert browser_log.dialogs == []
    assert app.exceptions().count() == 0


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("spec", [p for p in PAGES if p.echoes], ids=lambda p: p.id)
def test_payload_in_a_link_is_shown_literally_never_run(app, browser_log, spec, payload):
    params = {name: template.format(p=payload) for name, template in spec.echoes.items()}
    pg = app.open(spec.path, text=payload, **params)
    main = pg.locator('[data-testid="stMain"]')
    expect(main).to_contain_text(payload, timeout=90_000)  # as text: HTML would not show its own source
    expect(app.sidebar_text()).to_have_value(payload, timeout=60_000)
    assert_not_executed(app, browser_log)


@pytest.mark.parametrize("spec", PAGES, ids=lambda p: p.id)
def test_payload_in_every_text_parameter_never_runs(app, browser_log, spec):
    params = {name: COMBINED for name, kind in spec.params.items() if isinstance(kind, Text)}
    app.open(spec.path, text=COMBINED, **params)
    expect(app.sidebar_text()).to_have_value(COMBINED, timeout=90_000)
    assert_not_executed(app, browser_log)


def test_payload_typed_into_the_sidebar_never_runs(app, browser_log):
    """The same text typed by a user (not from a link), then every page visited through the navigation."""
    app.open(PAGES[0].path)
    app.wait_idle()
    box = app.sidebar_text()
    box.fill(COMBINED)
    box.press("Control+Enter")
    for spec in PAGES[1:]:
        app.wait_idle()
        app.page.locator('[data-testid="stSidebarNav"] a', has_text=spec.title).click()
        expect(app.page).to_have_url(re.compile(rf"{re.escape(spec.path)}(\?|$)"), timeout=30_000)
        app.wait_idle(90_000)
        expect(box).to_have_value(COMBINED)
        assert_not_executed(app, browser_log)
