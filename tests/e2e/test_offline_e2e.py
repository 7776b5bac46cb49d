"""Fully offline: every page of tests/fuzz/pages.py, in every view of its table entry, with both bundled
models, opened in real Chromium with request recording (the ``page`` fixture). Nothing may leave this
computer: no web font, script, stylesheet, image, telemetry beacon or websocket to another host (the
fixture's teardown asserts it; here we also check that the recording saw the app's own traffic, so the
check is not vacuous, and that Streamlit's usage statistics stay off).
"""
from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import expect

from tests.fuzz.pages import MODELS, PAGES

pytestmark = [pytest.mark.e2e, pytest.mark.cold_browser]  # every request of a first visit is seen


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("spec", PAGES, ids=lambda p: p.id)
def test_every_view_stays_on_this_computer(app, browser_log, server, spec, model_id):
    for view in spec.views:
        pg = app.open(spec.path, **{"model": model_id, **view})  # a view may name its own model (an encoder's pair)
        app.wait_idle(120_000)
        charts = pg.locator(".js-plotly-plot")
        if charts.count():  # every figure has drawn (fonts and plotly's assets are requested by then)
            expect(charts.last.locator(".main-svg").first).to_be_visible(timeout=60_000)
        pg.evaluate("() => document.fonts.ready.then(() => true)")
        assert app.exceptions().count() == 0, f"{spec.path} {view}"
    own = [u for u in browser_log.requests if u.startswith(server.url)]
    # the app's own traffic was recorded (Playwright does not always report the websocket itself: whether its
    # "websocket" event fires depends on when Streamlit's connection manager opens it)
    assert any("/_stcore/" in u for u in own), "no request to Streamlit's endpoints recorded"
    assert any(u.endswith(".js") for u in own), "no script request recorded"
    fonts = [u for u in browser_log.requests if u.split("?")[0].endswith((".woff2", ".woff", ".ttf"))]
    assert fonts and all(u.startswith(server.url) for u in fonts), fonts


def test_usage_statistics_are_off(server):
    """Streamlit would send usage statistics from the browser when this is on (config.toml sets it off)."""
    from streamlit import config

    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10) as r:
        assert r.read().strip() == b"ok"

    config.get_config_options(force_reparse=True)
    assert config.get_option("browser.gatherUsageStats") is False


def test_the_frontend_arrives_gzipped_from_the_servers_memory(page, app, server):
    """serve.py answers Streamlit's frontend files itself (serving/static_assets.py): in real Chromium the page's
    scripts and stylesheet arrive gzipped with Streamlit's cache header, and the page draws from them."""
    answers = []
    page.on("response", lambda r: answers.append(r) if "/static/" in r.url else None)
    app.open("/tokens", text="Offline and compressed.")
    app.wait_for_chips()
    assert app.exceptions().count() == 0
    scripts = [r for r in answers if r.url.split("?")[0].endswith((".js", ".css"))]
    assert len(scripts) > 20, [r.url for r in answers]
    for r in scripts:
        headers = r.all_headers()
        assert r.status == 200, (r.url, headers)
        assert headers.get("cache-control", "").startswith("public, immutable"), (r.url, headers)
        if len(r.body()) > 2048:  # Chromium's decoded body; a few tiny chunks gain nothing from gzip
            assert headers.get("content-encoding") == "gzip", (r.url, headers)
