"""Browser tests: the REAL server (``python serve.py``, as `make run` starts it) and headless Chromium.

Fixtures
* ``server``  (session): serve.py on a free port; yields the base URL once /_stcore/health says "ok".
* ``browser`` (session): Debian's chromium driven by Playwright (Playwright cannot download its own here).
* ``page``    (function): a fresh browser context (so a fresh Streamlit session) at 1400x1000 that records
  every request, dialog, console error and uncaught page error in ``browser_log``. At teardown it asserts
  that no request left this computer (only the server's own origin, data:, blob:, about:).
* ``app``     (function): small helpers on top of ``page``: open a path, wait for the script run to finish,
  read chip ids, take screenshots (artifacts/screenshots/, and the README's docs/screenshots/).
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `models.*` importable even without pytest.ini's pythonpath
    sys.path.insert(0, str(REPO))

import devserver  # noqa: E402  (the one server start/stop helper of tests/ and bench/)
from devserver import DevServer  # noqa: E402

ARTIFACTS = REPO / "artifacts"
SHOTS = ARTIFACTS / "screenshots"  # every screenshot (git-ignored)
LOGS = ARTIFACTS / "e2e-browser-logs"  # per test: console errors, page errors, dialogs (when any)
DOCS_SHOTS = REPO / "docs" / "screenshots"  # one canonical screenshot per page (committed, used by README)

SERVER_START_TIMEOUT = 180  # serve.py loads torch, transformers and both models before it listens
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SHOT_HEIGHT = 2200  # px; keeps the PNGs well under 500 KB
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]


def pytest_configure(config):  # harmless duplicate when pytest.ini registers it too
    config.addinivalue_line("markers", "e2e: real server + headless Chromium (Playwright) browser tests")


# ------------------------------------------------------------------------------------------ server
Server = DevServer  # .url, .port, .log: serve.py (or another entry point) started by devserver.start


@pytest.fixture(scope="session")
def server():
    """serve.py exactly as users start it, on a free port (devserver.start: healthy when it returns)."""
    try:
        srv = devserver.start(log=ARTIFACTS / "e2e-server.log", timeout=SERVER_START_TIMEOUT)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


# ----------------------------------------------------------------------------------------- browser
def chromium_path() -> str | None:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    return exe if os.path.exists(exe) else None


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)


SKIP_BROWSER_ENV = "TX_SKIP_BROWSER_TESTS"  # set to 1 to skip the browser suites on purpose (never by default)


def require_chromium() -> None:
    """A missing Chromium FAILS the browser tests (a CI without it must not pass by skipping them silently);
    ``TX_SKIP_BROWSER_TESTS=1`` skips them when that is what someone wants, and says so."""
    if chromium_path() is not None:
        return
    if os.environ.get(SKIP_BROWSER_ENV) == "1":
        pytest.skip(f"chromium is not installed and {SKIP_BROWSER_ENV}=1: browser tests skipped on purpose")
    pytest.fail(f"chromium is not installed: `make browser` installs Debian's chromium (or set {SKIP_BROWSER_ENV}=1 "
                "to skip the browser tests on purpose)", pytrace=False)


@pytest.fixture(scope="session")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    p = sync_playwright().start()
    b = launch_chromium(p)
    try:
        yield b
    finally:
        b.close()
        p.stop()


# Streamlit's frontend first looks for its endpoints under the page path (/tokens/_stcore/health), gets a
# 404 and then uses the server root: expected, harmless, and logged by Chromium as console errors.
STREAMLIT_PROBE = re.compile(r"^404 http://[^/]+/[^?]+/_stcore/(health|host-config)(\?|$)")


@dataclass
class BrowserLog:
    requests: list[str] = field(default_factory=list)  # every HTTP request and websocket URL
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt messages (all dismissed)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    http_errors: list[str] = field(default_factory=list)  # "404 http://..." for every 4xx/5xx response


def allowed_url(url: str, port: int) -> bool:
    """Same-server URLs (http/ws on 127.0.0.1 or localhost at the server's port), data:, blob:, about:."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("data", "blob", "about"):
        return True
    u = urllib.parse.urlsplit(url)
    return u.scheme in ("http", "ws") and u.hostname in ("127.0.0.1", "localhost") and u.port == port


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def shared_context(browser):
    """The browser context of the suite's ``page``s. Each test gets a new page, so a new Streamlit session (the
    server keeps nothing between two pages but the caches every session shares), while the frontend's files stay
    in this context's HTTP cache, as for a student opening a second tab: about half a second less per test than a
    new context that loads and compiles them again. A test that needs a browser with nothing cached (a link opened
    cold, the offline and gzip checks) makes its own context."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser, shared_context, server, browser_log, request):
    cold = request.node.get_closest_marker("cold_browser") is not None  # nothing cached: its own context
    context = browser.new_context(viewport=VIEWPORT, service_workers="block") if cold else shared_context
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    log = browser_log

    def on_dialog(dialog):
        log.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("request", lambda r: log.requests.append(r.url))
    pg.on("websocket", lambda ws: log.requests.append(ws.url))
    pg.on("dialog", on_dialog)
    pg.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: log.page_errors.append(str(e)))
    pg.on("response", lambda r: log.http_errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        yield pg
        if request.node.stash.get(_FAILED, False):
            save_screenshot(pg, f"FAILED-{_safe(request.node.name)}")
    finally:
        if cold:
            context.close()
        else:
            for other in list(context.pages):  # this page and any the test opened
                other.close()
    if log.console_errors or log.page_errors or log.dialogs or log.http_errors:  # for debugging
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / f"{_safe(request.node.name)}.txt").write_text(
            "\n".join([f"dialog: {d}" for d in log.dialogs] + [f"pageerror: {e}" for e in log.page_errors]
                      + [f"http: {e}" for e in log.http_errors]
                      + [f"console error: {e}" for e in log.console_errors]) + "\n")
    outside = sorted({u for u in log.requests if not allowed_url(u, server.port)})
    assert not outside, f"requests left localhost: {outside}"
    assert not log.page_errors, f"uncaught errors in the page: {log.page_errors}"
    broken = [e for e in log.http_errors if not STREAMLIT_PROBE.search(e)]
    assert not broken, f"failed requests (a missing asset?): {broken}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


# ----------------------------------------------------------------------------------------- helpers
def wait_idle(pg, timeout: float = 60_000) -> None:
    """Wait until Streamlit is not running the script (its status widget is gone) and fonts are ready."""
    from playwright.sync_api import expect

    pg.locator('[data-testid="stApp"]').wait_for(timeout=timeout)
    expect(pg.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=timeout)
    pg.evaluate("() => document.fonts.ready.then(() => true)")


def _next_frames(pg) -> None:
    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")


def save_screenshot(pg, name: str, canonical: str | None = None, max_height: int = MAX_SHOT_HEIGHT) -> Path:
    """Screenshot of the whole app (up to ``max_height`` px) to artifacts/screenshots/<name>.png, and to
    docs/screenshots/<canonical>.png when given. Streamlit scrolls inside its main element, not the body,
    so the viewport is stretched to the content height for the shot and restored afterwards."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{_safe(name)}.png"
    old = pg.viewport_size or VIEWPORT
    try:
        content = pg.evaluate(
            """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stSidebarContent"]']
                 .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight),
                 document.documentElement.scrollHeight)"""
        )
        height = int(min(max(content, old["height"]), max_height))
        if height != old["height"]:
            pg.set_viewport_size({"width": old["width"], "height": height})
            _next_frames(pg)
            pg.wait_for_timeout(300)  # let plotly and the data grid re-layout to the new size
        pg.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": old["width"], "height": height},
                      animations="disabled", caret="hide")
    finally:
        if pg.viewport_size != old:
            pg.set_viewport_size(old)
    if canonical:
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / f"{canonical}.png")
    return path


class App:
    """Helpers for one test: open app URLs, wait for runs, read the token chips, take screenshots."""

    def __init__(self, pg, server: Server):
        self.page = pg
        self.server = server

    def url(self, path: str = "/", **params: str) -> str:
        query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        return f"{self.server.url}{path}" + (f"?{query}" if params else "")

    def open(self, path: str = "/", query: str | None = None, **params: str):
        """Open a path; ``query`` is a raw query string (for hand-made URLs), else ``params`` are encoded."""
        url = f"{self.server.url}{path}?{query}" if query is not None else self.url(path, **params)
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.locator('[data-testid="stApp"]').wait_for()
        return self.page

    def wait_idle(self, timeout: float = 60_000) -> None:
        wait_idle(self.page, timeout)

    def chips(self, block: int = 0):
        """The chips of one chip block (0 = the page's main chips)."""
        return self.page.locator(".tx-chips").nth(block).locator(".tx-chip")

    def wait_for_chips(self, timeout: float = 60_000) -> None:
        self.chips().first.wait_for(timeout=timeout)
        self.wait_idle(timeout)

    def chip_ids(self, block: int = 0) -> list[int]:
        return [int(x) for x in self.chips(block).evaluate_all("els => els.map(e => e.dataset.id)")]

    def chip_pieces(self, block: int = 0) -> list[str]:
        return self.chips(block).locator(".tx-piece").all_text_contents()

    def query(self) -> dict[str, list[str]]:
        """The address bar's query, read from ``location.search``: Playwright's ``page.url`` misses the
        history.replaceState that Streamlit makes after a fragment run, so it can lag one step behind."""
        search = self.page.evaluate("location.search")
        return urllib.parse.parse_qs(search.lstrip("?"), keep_blank_values=True)

    def wait_for_query(self, timeout: float = 30_000, **want: str | None) -> None:
        """Wait until the address bar has these params (None = absent), read from location.search."""
        self.page.wait_for_function(
            "(want) => { const q = new URLSearchParams(location.search);"
            " return Object.entries(want).every(([k, v]) => v === null ? !q.has(k) : q.get(k) === v); }",
            arg=want, timeout=timeout)

    def slider(self, label: str):
        """The keyboard-operable thumb of the slider labelled ``label``."""
        return self.page.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]')

    def sidebar_text(self):
        return self.page.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea')

    def exceptions(self):
        return self.page.locator('[data-testid="stException"]')

    def alerts(self):
        return self.page.locator('[data-testid="stAlertContainer"]')

    def screenshot(self, name: str, canonical: str | None = None) -> Path:
        self.wait_idle()
        return save_screenshot(self.page, name, canonical)


@pytest.fixture
def app(page, server) -> App:
    return App(page, server)


@pytest.fixture(scope="session")
def tokenizer():
    """tokenizer(model_id) -> the model's own tokenizer (loaded once): the expected ids come from it."""
    from models.loading import load_tokenizer

    cache: dict = {}

    def get(model_id: str):
        if model_id not in cache:
            cache[model_id] = load_tokenizer(model_id)
        return cache[model_id]

    return get
