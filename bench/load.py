"""`make load`: a class on one server. One fresh ``serve.py`` process, N concurrent Chromium sessions (browser
contexts) on loopback, each a student doing realistic interactions on its OWN text; then 300 distinct
~128-token texts to check that memory stays bounded. Results go to bench/results.json (section "load").

Measured:
* cold start: all N sessions open the link within the same second on the freshly started server; time until
  the first page shows the session's own tokens (p50/max), and errors;
* interactions (set text, switch pages, move the temperature and top-p sliders, open the attention heads, move
  the embeddings layer slider, change the word, switch static/contextual): latency from the action until the
  page shows the expected result and the script run has finished; p50/p95/max, errors;
* generation under load: every student runs a short greedy generation (GEN_TOKENS tokens) on the shared model
  (the engine batches concurrent requests); time from the click to the finished text (p50/p95/max, reported
  apart from the 1 s target) and how many sessions were shown their place in the queue;
* cross-talk: every session writes a unique marker word into its text; after every interaction the page must
  show that session's current text (token chips, heatmap rows, the URL) and no other session's marker;
* model loads: the server runs with ``models.loading.load`` wrapped to print one line per call, so loads can
  be counted (exactly one per model per process is the target);
* peak RSS of the server (VmHWM from /proc) and RSS after the memory phase;
* the server's own side: the counting server times every script run (wall and thread CPU, by page), so the
  latency the server adds can be told apart from the browsers' (which share this machine's cores when the
  load is generated here; the browsers run under Linux's SCHED_IDLE policy so that they only get the CPU time
  the server leaves: Chromium raises its own browser and GPU processes to nice -8, so ``nice 19`` did not do
  it; every browser thread's policy is checked at the end of the sessions); and the
  whole machine's busy CPU time, so what the load generator itself costs per interaction is known;
* two paces: students who read each result before the next click (a pause drawn from ``--think``, 4-12 s),
  and students clicking back to back with no pause at all (a stress test: with N sessions always waiting
  for a reply, latency is N x the CPU an interaction costs, server and browser, / the cores).

    python -m bench.load                              # both paces, 30 sessions x 20 interactions, 300 texts
    python -m bench.load --sessions 8 --interactions 8 --texts 30 --no-record   # the reduced form

Adding a page: one entry in ``ACTIONS`` (its interactions) and its row in tests/fuzz/pages.py.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import devserver  # noqa: E402
from bench.common import CHROMIUM_ARGS, RESULTS, entry  # noqa: E402

LOAD_MARK = "[load-count]"  # printed by the counting server for every model/tokenizer load
RUN_MARK = "[load-run]"  # printed by the counting server after every script run: wall and CPU seconds
TARGET_P95_S = 1.0
TARGET_RSS_MB = 3 * 1024
ACTION_TIMEOUT_MS = 90_000
COLD_TIMEOUT_MS = 240_000


# ------------------------------------------------------------------------------------ results file
def merge_results(entries: list[dict], section: str, notes: dict | None = None, out: Path = RESULTS) -> None:
    """Record ``entries`` as the section ``section`` of bench/results.json (bench/results.py: the section is replaced
    whole and carries its own date, commit, CPU model and core count; the other sections stay as they are);
    ``notes`` go into its metadata."""
    from bench import results as store

    store.record(section, entries, notes, path=out)


def record_fuzz(report: dict) -> None:
    """The fuzz suite's counts (artifacts/fuzz-counts.json, written by tests/fuzz/conftest.py) as bench entries:
    `make fuzz` runs ``python -m bench.load --record-fuzz artifacts/fuzz-counts.json`` after the suite."""
    entries = [entry(f"fuzz/{name}", n, "cases") for name, n in report["cases"].items()]
    apptest = sum(n for name, n in report["cases"].items() if name.startswith("apptest/"))
    entries += [entry("fuzz/total_cases", report["total"], "cases"),
                entry("fuzz/apptest_cases", apptest, "cases"),
                entry("fuzz/failed_tests", report["failed_tests"], "tests", target=0)]
    merge_results(entries, "fuzz", {"profile": report["profile"]})


# ------------------------------------------------------------------------------ the counting server
def serve_counted(argv: list[str]) -> None:
    """serve.py, with every model and tokenizer load printed (LOAD_MARK kind model_id) so they can be counted."""
    from models import loading

    waited = threading.local()  # seconds the current script thread spent waiting for a model's locks

    class TimedLock:
        """A model's lock that adds the time spent waiting for it to ``waited.s`` of the thread that waits."""

        def __init__(self, inner):
            self._inner = inner

        def acquire(self, blocking=True, timeout=-1):
            t = time.perf_counter()
            try:
                return self._inner.acquire(blocking, timeout)
            finally:
                waited.s = getattr(waited, "s", 0.0) + time.perf_counter() - t

        def release(self):
            self._inner.release()

        __enter__ = acquire

        def __exit__(self, *exc):
            self._inner.release()

    def counted(fn, kind):
        def wrapper(spec_or_id, *args, **kwargs):
            model_id = getattr(spec_or_id, "id", spec_or_id)
            print(f"{LOAD_MARK} {kind} {model_id}", flush=True)
            loaded = fn(spec_or_id, *args, **kwargs)
            for name in ("lock", "tokenizer_lock"):
                if hasattr(loaded, name):
                    setattr(loaded, name, TimedLock(getattr(loaded, name)))
            return loaded
        return wrapper

    loading.load = counted(loading.load, "model")
    loading.load_tokenizer_only = counted(loading.load_tokenizer_only, "tokenizer")
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    run_script = ScriptRunner._run_script

    def timed(self, rerun_data):
        """The server's side of an interaction: one script run (page or fragment), its wall and CPU time, the
        session's marker (the first word of its text) and when the run ended."""
        wall, cpu, waited.s = time.perf_counter(), time.thread_time(), 0.0
        try:
            return run_script(self, rerun_data)
        finally:
            state = self._session_state
            page = state["_current_page"] if "_current_page" in state else "-"  # components/state.py sets it
            text = state["text"] if "text" in state else ""
            who = text.split(" ", 1)[0] if isinstance(text, str) and text.startswith("qz") else "-"
            print(f"{RUN_MARK} {time.perf_counter() - wall:.4f} {time.thread_time() - cpu:.4f} {page} {who} "
                  f"{time.time():.3f} {waited.s:.4f}", flush=True)

    ScriptRunner._run_script = timed
    import serve

    sys.argv = ["serve.py", *argv]
    serve.main()


@dataclass(frozen=True)
class Run:
    """One script run on the server: wall and thread-CPU seconds, page, session marker ("-": none), end (epoch s),
    seconds spent waiting for a model's lock (another session's forward pass or generation step)."""
    wall: float
    cpu: float
    page: str
    who: str
    end: float
    lock_wait: float


class Server(devserver.DevServer):
    """The counting server: a DevServer that also reads the run and load marks from its own log."""

    def runs(self) -> list[Run]:
        """Every script run so far."""
        return [Run(float(w), float(c), page, who, float(end), float(lw)) for w, c, page, who, end, lw in re.findall(
            rf"^{re.escape(RUN_MARK)} (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$", self.log.read_text(errors="replace"),
            re.M)]

    def loads(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith(LOAD_MARK):
                _, kind, model_id = line.split()
                counts[f"{kind}:{model_id}"] = counts.get(f"{kind}:{model_id}", 0) + 1
        return counts


def start_server(timeout: float = 240) -> Server:
    """The counting server (``python -m bench.load --serve``) on a free loopback port, healthy (devserver.py)."""
    return devserver.start(["-m", "bench.load", "--serve"], timeout=timeout, kind=Server, warm=True)


# ------------------------------------------------------------------------------------ one session
NORMALISE = r"s => s.replace(/[\sĠ␣▁]/g, '')"  # byte-level BPE/visible() space marks, SentencePiece's too
CHIPS_JS = f"""() => {{
  const n = {NORMALISE};
  const block = document.querySelector('.tx-chips');
  return block ? n([...block.querySelectorAll('.tx-piece')].map(e => e.textContent).join('')) : null;
}}"""
ROWS_JS = f"""() => {{  // the first figure's row labels ("i:piece"), i.e. the tokens of the hidden-state heatmap
  const n = {NORMALISE};
  const fig = document.querySelector('.js-plotly-plot');
  if (!fig || !fig.data || !fig.data.length || !fig.data[0].y) return null;
  return n([...fig.data[0].y].map(s => String(s).replace(/^[0-9]+:/, '')).join(''));
}}"""
IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


@dataclass
class Session:
    index: int
    marker: str  # unique word of this session
    page: object = None
    text: str = ""
    round: int = 0
    latencies: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crosstalk: list[str] = field(default_factory=list)
    cold_start_s: float | None = None
    cold_done_at: float = float("inf")  # epoch seconds when the first page showed the session's own tokens
    waited: int = 0  # generations during which this session was told it waits in the queue

    def next_text(self) -> str:
        self.round += 1
        self.text = f"{self.marker} students celebrate round {self.round} with a big party"
        return self.text


async def wait_for(pg, js: str, arg=None, timeout: float = ACTION_TIMEOUT_MS) -> None:
    await pg.wait_for_function(js, arg=arg, timeout=timeout, polling=100)


async def settle(pg) -> None:
    """The script run finished (Streamlit's running indicator is gone)."""
    await wait_for(pg, IDLE_JS)


async def shows_own_text(s: Session, js: str) -> None:
    want = re.sub(r"\s", "", s.text)
    await wait_for(s.page, f"want => ({js})() === want", want)


def first_line(e: BaseException) -> str:
    """An error's message for the report: its first line, at most 200 characters (asyncio's timeout has none)."""
    return (str(e).splitlines() or [""])[0][:200]


def bounded(awaitable, seconds: float = ACTION_TIMEOUT_MS / 1000):
    """Playwright's evaluate(), count() and close() take no timeout: a page stuck in its renderer would hang
    the whole run (seen once with 30 tabs on 2 cores). Every such call goes through this."""
    return asyncio.wait_for(awaitable, seconds)


async def check_isolation(s: Session, others: list[str]) -> None:
    """No other session's marker anywhere in this page (text, figures, inputs, URL)."""
    seen = await bounded(s.page.evaluate("""() => document.body.textContent + ' ' + location.href + ' ' +
        [...document.querySelectorAll('textarea, input')].map(e => e.value).join(' ')"""))
    leaked = [m for m in others if m in seen]
    if leaked:
        s.crosstalk.append(f"session {s.index} saw {leaked}")


async def goto_page(s: Session, title: str, path: str) -> None:
    await settle(s.page)  # a click on the navigation while a run is going may be dropped
    await s.page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
    await wait_for(s.page, f"() => location.pathname.endsWith('{path}')")


async def set_text(s: Session) -> None:
    box = s.page.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea')
    await box.fill(s.next_text())
    await box.press("Control+Enter")


# --- per page: how to get there, and what a student does on it (each action: act, then wait for the result)
async def tokens_open(s: Session) -> None:
    await goto_page(s, "Tokens", "/tokens")
    await shows_own_text(s, CHIPS_JS)


async def tokens_set_text(s: Session) -> None:
    await set_text(s)
    await shows_own_text(s, CHIPS_JS)


async def embeddings_open(s: Session) -> None:
    await goto_page(s, "Embeddings", "/embeddings")
    await shows_own_text(s, ROWS_JS)


async def embeddings_layer(s: Session) -> None:
    slider = s.page.locator('[data-testid="stSlider"] input[type="range"]').first
    now = int(await slider.input_value())
    key, want = ("ArrowRight", now + 1) if now < 3 else ("Home", 0)
    await slider.focus()
    await slider.press(key)
    title = f"after layer {want} of" if want else "token embeddings (static)"
    await wait_for(s.page, "t => { const f = document.querySelector('.js-plotly-plot');"
                           " return f && f.layout && JSON.stringify(f.layout.title).includes(t); }", title)
    await shows_own_text(s, ROWS_JS)


async def embeddings_word(s: Session) -> None:
    word = random.choice(["queen", "river", "music", "doctor", "apple", "winter"])
    box = s.page.locator('[data-testid="stTextInput"] input').first
    await box.fill(word)
    await box.press("Enter")
    await wait_for(s.page, "w => [...document.querySelectorAll('.js-plotly-plot')].some(f => f.layout && "
                           "JSON.stringify(f.layout.title).includes('Closest') && JSON.stringify(f.layout.title)"
                           ".includes(w))", word)


async def similarity_open(s: Session) -> None:
    await goto_page(s, "Similarity", "/similarity")
    await wait_for(s.page, "() => document.querySelectorAll('.js-plotly-plot').length >= 2")


async def similarity_vectors(s: Session) -> None:
    labels = s.page.locator('[data-testid="stRadio"] label')
    contextual = await s.page.evaluate("() => /[?&]vectors=contextual/.test(location.search)")
    await labels.filter(has_text="static" if contextual else "contextual").first.click()
    want = "static input embeddings" if contextual else "after layer"
    await wait_for(s.page, "t => { const f = document.querySelector('.js-plotly-plot');"
                           " return f && f.layout && JSON.stringify(f.layout.title).includes(t); }", want)


async def query_is(pg, **want: str | None) -> None:
    """The address bar has these params (None = absent); read from location.search (see tests/e2e/conftest.py)."""
    await wait_for(pg, "(want) => { const q = new URLSearchParams(location.search);"
                       " return Object.entries(want).every(([k, v]) => v === null ? !q.has(k) : q.get(k) === v); }",
                   want)


def main_text(pg):
    return pg.locator('[data-testid="stMain"]')


SAMPLING_FRAME = 'iframe[data-testid="stCustomComponentV1"]'  # components/sampling_redraw.py's sliders


async def _sampling_thumb(s: Session, label: str, element_id: str, timeout: float = ACTION_TIMEOUT_MS):
    """The sampling slider: Streamlit's own on the page (the server-side path), or the one inside the
    browser-side sampling component's iframe; waits until one of them is there."""
    main = s.page.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]')
    inner = s.page.frame_locator(SAMPLING_FRAME).first.locator(f"#{element_id}:enabled")  # enabled once it has the logits
    deadline = time.monotonic() + timeout / 1000
    while True:
        if await main.count():
            return main
        if await inner.count():
            return inner
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {label} slider on the page or in the sampling component")
        await asyncio.sleep(0.2)


async def next_token_open(s: Session) -> None:
    await goto_page(s, "Next token", "/next-token")
    await _sampling_thumb(s, "Temperature", "temperature")


async def _slider_to_end(s: Session, label: str, param: str, low: str, high: str | None) -> None:
    """Move a slider to its lowest or highest value (whichever it is not at) and wait for the URL to follow (the
    sampling component reports its setting to the server, which writes the URL, after its own redraw)."""
    thumb = await _sampling_thumb(s, label, param)
    at_low = await s.page.evaluate("p => new URLSearchParams(location.search).get(p)", param) == low
    await thumb.focus()
    await thumb.press("End" if at_low else "Home")
    await query_is(s.page, **{param: high if at_low else low})


async def next_token_temperature(s: Session) -> None:
    await _slider_to_end(s, "Temperature", "temperature", "0", "2")


async def next_token_top_p(s: Session) -> None:
    await _slider_to_end(s, "Top-p", "top_p", "0", None)


async def attention_open(s: Session) -> None:
    await goto_page(s, "Attention", "/attention")
    await s.page.locator('[data-testid="stMain"] button', has_text="All heads").wait_for()


async def attention_heads(s: Session) -> None:
    """Open the small multiples of a layer's heads, then back to the heatmap."""
    await s.page.locator('[data-testid="stMain"] button', has_text="All heads").click()
    await query_is(s.page, view="heads")
    await wait_for(s.page, "() => document.querySelectorAll('.js-plotly-plot').length >= 2")
    await settle(s.page)
    await s.page.locator('[data-testid="stMain"] button', has_text="Heatmap").click()
    await query_is(s.page, view=None)


GEN_TOKENS = 16


async def generate_open(s: Session) -> None:
    await goto_page(s, "Generate", "/generate")
    await s.page.locator(".st-key-gen_go button").wait_for()


async def generate_run(s: Session) -> None:
    """A short greedy generation of the session's own text; the session's queue notice is recorded if it waited
    (the engine batches concurrent generations; a waiting session is told its place in the queue)."""
    pg = s.page
    box = pg.locator('[data-testid="stNumberInput"]').filter(has_text="Max new tokens").locator("input")
    if await box.input_value() != str(GEN_TOKENS):
        await box.fill(str(GEN_TOKENS))
        await box.press("Enter")
        await query_is(pg, max_new_tokens=str(GEN_TOKENS))
        await settle(pg)
    before = await pg.evaluate("() => { const o = [...document.querySelectorAll('[data-testid=\"tx-generated\"]')];"
                               " return o.length ? o[o.length - 1].dataset.run : null; }")
    await pg.locator(".st-key-gen_go button").click()
    await wait_for(pg, """(before) => { const o = [...document.querySelectorAll('[data-testid="tx-generated"]')];
        const last = o[o.length - 1];
        if (document.body.textContent.includes('Waiting for the model')) window.__txWaited = true;
        return !!last && last.dataset.run !== before && !document.querySelector('.tx-cursor')
               && last.querySelectorAll('.tx-tok').length > 0; }""", before)
    if await pg.evaluate("() => !!window.__txWaited"):
        s.waited += 1


Action = Callable[[Session], Awaitable[None]]
# page id (tests/fuzz/pages.py) -> (action that navigates there, actions a student does there). A student's plan
# walks them in this order (the reduced test's 8 interactions reach the generation).
ACTIONS: dict[str, tuple[Action, list[Action]]] = {
    "tokens": (tokens_open, [tokens_set_text]),
    "next-token": (next_token_open, [next_token_temperature]),
    "attention": (attention_open, [attention_heads]),
    "generate": (generate_open, [generate_run]),
    "embeddings": (embeddings_open, [embeddings_layer, embeddings_word]),
    "similarity": (similarity_open, [similarity_vectors]),
}
EXTRA: dict[str, list[Action]] = {"next-token": [next_token_top_p], "embeddings": [embeddings_layer]}  # 2nd visit on
GENERATION = {"generate_run"}  # not held to the 1 s target (a generation of GEN_TOKENS tokens takes seconds)
GENERATION_PAGES = {"generate"}  # pages whose script runs stream a generation (server-side timing)


def plan(n: int) -> list[Action]:
    """A student's n interactions: round robin over the pages, each visit = navigate + the page's actions (more
    of them from the second round on)."""
    steps: list[Action] = []
    rounds = 0
    while len(steps) < n:
        for page_id, (open_page, actions) in ACTIONS.items():
            steps += [open_page, *actions, *(EXTRA.get(page_id, []) if rounds else [])]
        rounds += 1
    return steps[:n]


def machine_busy_s() -> float:
    """CPU seconds all cores of this machine have spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def run_session(s: Session, browser, url: str, n: int, markers: list[str], start_at: float,
                      think: tuple[float, float] = (0.0, 0.0)) -> None:
    """One student: open the link, then ``n`` interactions, each followed by a pause drawn from ``think``
    (seconds: the time to read the result; (0, 0) clicks back to back)."""
    others = [m for m in markers if m != s.marker]
    pace = random.Random(s.index)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    pg = s.page = await context.new_page()
    pg.set_default_timeout(ACTION_TIMEOUT_MS)
    pg.set_default_navigation_timeout(COLD_TIMEOUT_MS)  # 30 tabs parse Streamlit's JS at once on 2 cores
    pg.on("dialog", lambda d: (s.errors.append(f"dialog: {d.message}"), asyncio.ensure_future(d.dismiss())))
    pg.on("pageerror", lambda e: s.errors.append(f"pageerror: {e}"))
    pg.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:"))
          else s.errors.append(f"left loopback: {r.url}"))
    try:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))  # everyone opens the link in the same second
        t0 = time.perf_counter()
        from urllib.parse import quote

        await pg.goto(f"{url}/tokens?text={quote(s.next_text())}", wait_until="commit")
        await wait_for(pg, f"want => ({CHIPS_JS})() === want", re.sub(r"\s", "", s.text), timeout=COLD_TIMEOUT_MS)
        await settle(pg)
        s.cold_start_s, s.cold_done_at = time.perf_counter() - t0, time.time()
        for step in plan(n):
            await asyncio.sleep(pace.uniform(*think))
            t = time.perf_counter()
            try:
                await step(s)
                await settle(pg)
            except Exception as e:  # a timeout: record it and carry on (the next step re-checks the page)
                s.errors.append(f"{step.__name__}: {type(e).__name__}: {first_line(e)}")
                await check_isolation(s, others)
                continue
            s.latencies.append((step.__name__, time.perf_counter() - t))
            if await bounded(pg.locator('[data-testid="stException"]').count()):
                s.errors.append(f"{step.__name__}: exception shown on the page")
            await check_isolation(s, others)
    except Exception as e:
        s.errors.append(f"session: {type(e).__name__}: {first_line(e)}")
    finally:
        await _close(context)


async def _close(context) -> None:
    try:
        await bounded(context.close(), 30)
    except Exception:  # a hung page: the browser goes away at the end of the run anyway
        pass


async def memory_phase(browser, url: str, texts: list[str], workers: int, server: Server) -> dict:
    """Each text once, spread over a few sessions on /embeddings (a page that computes the text's trace: the
    Tokens page only tokenizes); RSS sampled after every text. The heatmap draws the first 64 tokens: the wait
    is for its rows to be the start of the new text (each begins with its own number)."""
    samples: list[float] = []
    errors: list[str] = []
    queue = list(texts)

    async def worker(i: int) -> None:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        pg = await context.new_page()
        pg.set_default_timeout(ACTION_TIMEOUT_MS)
        s = Session(10_000 + i, f"mem{i}", pg)
        try:
            await pg.goto(f"{url}/embeddings", wait_until="domcontentloaded")
            await pg.locator(".js-plotly-plot").first.wait_for(timeout=ACTION_TIMEOUT_MS)  # the first run has drawn
            await settle(pg)
            box = pg.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea')
            while queue:
                s.text = queue.pop()
                try:
                    await box.fill(s.text)
                    await box.press("Control+Enter")
                    await wait_for(pg, f"want => {{ const rows = ({ROWS_JS})();"
                                       f" return !!rows && rows.length > 12 && want.startsWith(rows); }}",
                                   re.sub(r"\s", "", s.text))
                    await settle(pg)
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {first_line(e)}")
                samples.append(server.rss_mb()[0])
        finally:
            await _close(context)

    await asyncio.gather(*(worker(i) for i in range(workers)))
    rss_now, peak = server.rss_mb()
    return {"texts": len(texts), "errors": errors, "rss_max_sampled_mb": max(samples, default=rss_now),
            "rss_end_mb": rss_now, "peak_mb": peak}


def texts_of_about(n_tokens: int, count: int) -> tuple[list[str], float]:
    """``count`` distinct texts of about ``n_tokens`` SmolLM2 tokens; also their mean token count."""
    from bench.common import text_with_tokens
    from models.loading import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    base = text_with_tokens(tok, n_tokens - 4)
    texts = [f"Text {i:03d}: {base}" for i in range(count)]
    mean = statistics.mean(len(tok(t)["input_ids"]) for t in texts)
    return texts, mean


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


SCHED_IDLE = 5  # Linux scheduling policy: run only when no other thread wants the CPU


def idle_priority(executable: str, on: bool) -> str:
    """A launcher that starts the browser under SCHED_IDLE (inherited by every process and thread it makes), so
    that on a machine shared with the server the load generator's renderers only take CPU time the server does
    not want. Not ``nice``: Chromium sets the nice values of its processes itself (browser and GPU process at
    -8 when it may), which undid ``nice -n 19``; it does not change the scheduling policy."""
    if not on:
        return executable
    fd, path = tempfile.mkstemp(prefix="tx-load-chromium-", suffix=".sh")
    with os.fdopen(fd, "w") as f:
        f.write(f'#!/bin/sh\nexec chrt --idle 0 "{executable}" "$@"\n')
    os.chmod(path, 0o755)
    return path


def browser_threads(tag: str) -> tuple[int, int]:
    """(threads of the Chromium launched with the switch ``tag`` and of every process under it, how many of them
    are not under SCHED_IDLE), from /proc; another browser on the machine (the e2e suite's) is not counted."""
    parent, tagged = {}, []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if tag.encode() in (proc / "cmdline").read_bytes():
                    tagged.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    ours, grew = set(tagged), True
    while grew:  # the browser's children (zygotes, GPU process) and theirs (renderers)
        more = {pid for pid, pp in parent.items() if pp in ours} - ours
        ours |= more
        grew = bool(more)
    total = not_idle = 0
    for pid in ours:
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                policy = int((task / "stat").read_text().rsplit(")", 1)[1].split()[38])
                total += 1
                not_idle += policy != SCHED_IDLE
        except OSError:
            continue
    return total, not_idle


async def _run(args) -> dict:
    """One fresh server, ``args.sessions`` students at the pace ``args.think`` (min, max seconds between two
    interactions), then the memory phase (``args.texts``)."""
    from playwright.async_api import async_playwright

    chromium_path = lambda: shutil.which("chromium") or "/usr/bin/chromium"  # noqa: E731 (bench does not import tests)

    texts, mean_tokens = texts_of_about(128, args.texts) if args.texts else ([], 0.0)
    server = start_server()
    report: dict = {"sessions": args.sessions, "interactions_per_session": args.interactions,
                    "think_s": list(args.think), "server_start_to_healthy_s": round(server.started_s, 1)}
    try:
        async with async_playwright() as p:
            tag = f"--tx-load-run={os.getpid()}-{time.monotonic_ns()}"  # an unknown switch: Chromium ignores it
            browser = await p.chromium.launch(executable_path=idle_priority(chromium_path(), args.browser_idle),
                                              headless=True, args=[*CHROMIUM_ARGS, tag])
            markers = [f"qz{i:02d}{random.choice('bdfgkmpvw')}{random.choice('aeiou')}x" for i in range(args.sessions)]
            sessions = [Session(i, m) for i, m in enumerate(markers)]
            start_at = time.monotonic() + 2.0
            t0, cpu0, busy0, runs0 = time.perf_counter(), server.cpu_s(), machine_busy_s(), len(server.runs())
            await asyncio.gather(*(run_session(s, browser, server.url, args.interactions, markers, start_at,
                                               tuple(args.think)) for s in sessions))
            report["sessions_wall_s"] = round(time.perf_counter() - t0, 1)
            # the server's own CPU use (the browsers share this machine): what one interaction costs the server;
            # and the whole machine's, the rest of which is the load generator (Chromium, Playwright, this script)
            report["server_cpu_s_sessions"] = round(server.cpu_s() - cpu0, 1)
            report["machine_cpu_s_sessions"] = round(machine_busy_s() - busy0, 1)
            report["machine_busy_fraction"] = round(
                report["machine_cpu_s_sessions"] / (report["sessions_wall_s"] * (os.cpu_count() or 1)), 3)
            # the server's side of every interaction: its script runs after the session's first page (the cold
            # start is reported apart, as in the browser). A run on /generate lasts as long as the text streams,
            # so those are reported apart too, like the browser-side generation latencies.
            runs = server.runs()[runs0:]
            cold_done = {s.marker: s.cold_done_at for s in sessions}
            cold = [r for r in runs if r.end <= cold_done.get(r.who, 0.0)]
            later = [r for r in runs if r.end > cold_done.get(r.who, 0.0)]
            pages = [r for r in later if r.page not in GENERATION_PAGES]
            report.update({"server_runs": len(runs), "server_runs_pages": len(pages),
                           "server_runs_unattributed": sum(r.who not in cold_done for r in runs),
                           "server_run_p50_s": pct([r.wall for r in pages], 0.5),
                           "server_run_p95_s": pct([r.wall for r in pages], 0.95),
                           "server_run_cpu_p50_s": pct([r.cpu for r in pages], 0.5),
                           "server_run_cpu_p95_s": pct([r.cpu for r in pages], 0.95),
                           # where the tail goes: waiting for a model's lock, and the rest of wall - CPU (the
                           # GIL, the CPU, Streamlit's event loop), per page
                           "server_run_lock_wait_p95_s": pct([r.lock_wait for r in pages], 0.95),
                           "server_run_lock_wait_max_s": max((r.lock_wait for r in pages), default=None),
                           "server_run_other_wait_p95_s": pct([r.wall - r.cpu - r.lock_wait for r in pages], 0.95),
                           "server_run_by_page": {
                               page: {"runs": len(rs), "wall_p50_s": pct([r.wall for r in rs], 0.5),
                                      "wall_p95_s": pct([r.wall for r in rs], 0.95),
                                      "cpu_p95_s": pct([r.cpu for r in rs], 0.95),
                                      "lock_wait_p95_s": pct([r.lock_wait for r in rs], 0.95)}
                               for page in sorted({r.page for r in pages})
                               for rs in [[r for r in pages if r.page == page]]},
                           "server_run_cold_start_p95_s": pct([r.wall for r in cold], 0.95),
                           "server_run_generate_p95_s": pct([r.wall for r in later if r.page in GENERATION_PAGES],
                                                            0.95),
                           "browser_idle": args.browser_idle})
            # the browsers' priority held: every thread of every browser process still under SCHED_IDLE
            report["browser_threads"], report["browser_threads_not_idle"] = browser_threads(tag)
            report["rss_after_sessions_mb"], report["peak_rss_after_sessions_mb"] = server.rss_mb()
            if texts:
                report["memory"] = await memory_phase(browser, server.url, texts, args.memory_workers, server)
                report["memory"]["mean_tokens"] = round(mean_tokens, 1)
            await browser.close()
        report["rss_now_mb"], report["peak_rss_mb"] = server.rss_mb()
        report["loads"] = server.loads()
    finally:
        server.stop()
    lat = [t for s in sessions for name, t in s.latencies if name not in GENERATION]
    gen = [t for s in sessions for name, t in s.latencies if name in GENERATION]
    report.update({
        "generations_done": len(gen), "generation_p50_s": pct(gen, 0.5), "generation_p95_s": pct(gen, 0.95),
        "generation_max_s": max(gen, default=None), "generations_that_waited": sum(s.waited for s in sessions),
        "generation_tokens": GEN_TOKENS,
        "interactions_done": len(lat),
        "latency_p50_s": pct(lat, 0.5), "latency_p95_s": pct(lat, 0.95), "latency_max_s": max(lat, default=None),
        "latency_by_action_p95_s": {name: pct([t for s in sessions for n, t in s.latencies if n == name], 0.95)
                                    for name in sorted({n for s in sessions for n, _ in s.latencies})},
        "cold_start_p50_s": pct([s.cold_start_s for s in sessions if s.cold_start_s is not None], 0.5),
        "cold_start_max_s": max((s.cold_start_s for s in sessions if s.cold_start_s is not None), default=None),
        "server_cpu_s_per_interaction": (report["server_cpu_s_sessions"] / (len(lat) + len(gen))) if lat else None,
        "load_generator_cpu_s_per_interaction": ((report["machine_cpu_s_sessions"] - report["server_cpu_s_sessions"])
                                                 / (len(lat) + len(gen))) if lat else None,
        "errors": [e for s in sessions for e in s.errors],
        "crosstalk": [c for s in sessions for c in s.crosstalk],
    })
    server.log.unlink(missing_ok=True) if not report["errors"] else None
    report["server_log"] = str(server.log) if report["errors"] else None
    return report


def phase_name(r: dict) -> str:
    """load/30_sessions (back to back) or load/30_sessions_reading_4-12s (a pause after every interaction)."""
    lo, hi = r["think_s"]
    return f"load/{r['sessions']}_sessions" + (f"_reading_{lo:g}-{hi:g}s" if hi else "")


def entries_of(r: dict) -> list[dict]:
    name = phase_name(r)
    loads = r["loads"]
    model_loads = [v for k, v in loads.items() if k.startswith("model:")]
    out = [
        entry(f"{name}/interaction_p50", r["latency_p50_s"], "s"),
        entry(f"{name}/interaction_p95", r["latency_p95_s"], "s", target=TARGET_P95_S),
        entry(f"{name}/interaction_max", r["latency_max_s"], "s"),
        entry(f"{name}/interactions_done", r["interactions_done"], "count"),
        entry(f"{name}/generation_p50", r["generation_p50_s"], "s"),
        entry(f"{name}/generation_p95", r["generation_p95_s"], "s"),
        entry(f"{name}/generations_done", r["generations_done"], "count"),
        entry(f"{name}/errors", len(r["errors"]), "count", target=0),
        entry(f"{name}/crosstalk", len(r["crosstalk"]), "count", target=0),
        entry(f"{name}/max_loads_per_model", max(model_loads, default=0), "count", target=1),
        entry(f"{name}/cold_start_p50", r["cold_start_p50_s"], "s"),
        entry(f"{name}/cold_start_max", r["cold_start_max_s"], "s"),
        entry(f"{name}/peak_rss", r["peak_rss_mb"], "MB", target=TARGET_RSS_MB),
        entry(f"{name}/server_cpu_per_interaction", r["server_cpu_s_per_interaction"], "s"),
        entry(f"{name}/load_generator_cpu_per_interaction", r["load_generator_cpu_s_per_interaction"],
              "s"),
        entry(f"{name}/machine_busy_fraction", r["machine_busy_fraction"], "ratio"),
        entry(f"{name}/server_run_p50", r["server_run_p50_s"], "s"),
        entry(f"{name}/server_run_p95", r["server_run_p95_s"], "s"),
        entry(f"{name}/server_run_cpu_p95", r["server_run_cpu_p95_s"], "s"),
        entry(f"{name}/server_run_lock_wait_p95", r["server_run_lock_wait_p95_s"], "s"),
        entry(f"{name}/server_run_other_wait_p95", r["server_run_other_wait_p95_s"], "s"),
        entry(f"{name}/server_run_cold_start_p95", r["server_run_cold_start_p95_s"], "s"),
        entry(f"{name}/server_run_generate_p95", r["server_run_generate_p95_s"], "s"),
    ]
    if "memory" in r:
        m = r["memory"]
        out += [entry(f"load/memory/{m['texts']}_texts_rss_max", m["rss_max_sampled_mb"], "MB", target=TARGET_RSS_MB),
                entry(f"load/memory/{m['texts']}_texts_errors", len(m["errors"]), "count", target=0)]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        serve_counted(argv[1:])
        return 0
    if argv[:1] == ["--record-fuzz"]:  # `make fuzz`: the counts file tests/fuzz/conftest.py wrote
        record_fuzz(json.loads(Path(argv[1]).read_text()))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--interactions", type=int, default=20)
    parser.add_argument("--texts", type=int, default=300, help="distinct ~128-token texts for the memory phase")
    parser.add_argument("--memory-workers", type=int, default=6)
    parser.add_argument("--browser-normal-priority", dest="browser_idle", action="store_false",
                        help="run the browsers at normal priority (default: SCHED_IDLE, so the load generator only "
                             "takes the CPU time the server leaves)")
    parser.add_argument("--think", type=think_range, default=(4.0, 12.0), metavar="MIN-MAX",
                        help="seconds a student reads a result before the next interaction (default 4-12)")
    parser.add_argument("--pace", choices=("reading", "back-to-back", "both"), default="both",
                        help="students who read each result (--think), who click without pause, or both")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results.json")
    args = parser.parse_args(argv)
    paces = {"reading": [args.think], "back-to-back": [(0.0, 0.0)], "both": [args.think, (0.0, 0.0)]}[args.pace]
    missed = []
    for i, think in enumerate(paces):  # a fresh server for each; the memory phase on the last one
        phase = argparse.Namespace(**{**vars(args), "think": think, "texts": args.texts if i == len(paces) - 1 else 0})
        report = asyncio.run(_run(phase))
        entries = entries_of(report)
        if not args.no_record:
            merge_results(entries, phase_name(report),
                          {k: v for k, v in report.items() if k not in ("errors", "crosstalk")}
                          | {"errors": report["errors"][:20], "crosstalk": report["crosstalk"][:20],
                             "load_average_at_end": [round(x, 2) for x in os.getloadavg()]})
        print(phase_name(report), json.dumps({k: v for k, v in report.items() if k not in ("errors",)}, indent=2,
                                             default=str))
        for e in report["errors"][:20]:
            print("error:", e)
        missed += [e["name"] for e in entries if e["ok"] is False]
    print("targets missed: " + ", ".join(missed) if missed else "all targets met")
    return 1 if missed else 0


def think_range(text: str) -> tuple[float, float]:
    """"4-12" -> (4.0, 12.0); "0" -> (0.0, 0.0)."""
    lo, _, hi = text.partition("-")
    lo, hi = float(lo), float(hi or lo)
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"not a range of seconds: {text!r}")
    return lo, hi

if __name__ == "__main__":
    sys.exit(main())
