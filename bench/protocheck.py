"""Validate the protocol client (bench/protoclient.py) against Chromium: same server, same page, same change.

For each scenario, alternately (``--repeats`` times each, after one untimed round):
* a real Chromium tab opens the page with its own text, makes the change (a key press or a click, as a student
  does) and the page itself records, on its own clock (performance.now()): the input event, the websocket send of
  the rerun BackMsg and the arrival of every ForwardMsg at the page's JavaScript (a WebSocket wrapper injected
  before Streamlit loads), and the first animation frame at which the DOM shows the result (a predicate checked on
  every frame, after the app's ``data-test-script-state`` went back to notRunning). Chromium's DevTools protocol
  gives the same frames in the same order, decoded here (which one is the BackMsg, which the run's
  ``script_finished``);
* a protocol session opens the same URL, makes the same change, and times send -> script_finished.

Reported per scenario (medians): the browser's input -> drawn (what a student sees), split into input -> send
(the frontend), send -> script_finished as the page's JavaScript sees it (what the protocol client measures, plus
the time a frame waits while the page's main thread draws earlier deltas, plus whatever the browser's own CPU use
slows the server by on a shared machine), script_finished -> drawn; the protocol
client's send -> script_finished; the margin (browser input -> drawn minus the client's time); and whether the
BackMsg the protocol client sent equals the browser's (page hash, fragment, query string, the ids and values of
every widget state).

    python -m bench.protocheck                       # a fresh server; results into bench/results.json
    python -m bench.protocheck --url http://127.0.0.1:8501 --repeats 5 --no-record
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import statistics
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.protoclient import ProtoSession  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps"]
TIMEOUT_MS = 120_000

# Injected before any page script: times every websocket send and message, the armed input event, and every end
# of a script run (stApp's data-test-script-state back to notRunning), all on the page's clock.
INIT_JS = r"""
(() => {
  const tx = window.__tx = {sent: [], recv: [], armed: false, inputAt: null, finished: 0, finishedAt: null};
  const W = window.WebSocket;
  class TxWebSocket extends W {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => tx.recv.push(performance.now()));
    }
    send(data) { tx.sent.push(performance.now()); return super.send(data); }
  }
  window.WebSocket = TxWebSocket;
  // the input event (in this document; an input inside a component's iframe leaves the arming time instead)
  const arm = () => { if (tx.armed && tx.inputAt === null) tx.inputAt = performance.now(); };
  for (const t of ['keydown', 'pointerdown', 'mousedown', 'click']) document.addEventListener(t, arm, true);
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { setTimeout(watch, 20); return; }
    let last = app.getAttribute('data-test-script-state');
    new MutationObserver(() => {
      const now = app.getAttribute('data-test-script-state');
      if (now === 'notRunning' && last !== 'notRunning') { tx.finished += 1; tx.finishedAt = performance.now(); }
      last = now;
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  };
  document.addEventListener('DOMContentLoaded', watch);
  // querySelectorAll that also looks inside shadow roots (st.html draws into one)
  window.__txAll = (sel, root = document) => {
    const out = [...root.querySelectorAll(sel)];
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...window.__txAll(sel, el.shadowRoot));
    return out;
  };
  window.__txPlots = () => window.__txAll('.js-plotly-plot').map(f => f.data);
})();
"""
CHIPS = r"""(() => { const b = window.__txAll('.tx-chips')[0];
  return b ? [...b.querySelectorAll('.tx-piece')].map(e => e.textContent).join('')
               .replace(/[\sĠ␣▁]/g, '') : null; })()"""
PLOTS_CHANGED = """(() => { const now = window.__txPlots(), before = window.__txBefore || [];
  return now.length !== before.length || now.some((d, i) => d !== before[i]); })()"""


@dataclass
class Scenario:
    name: str
    page: str  # the page the session opens (url path)
    browser: Callable  # async (page, text) -> None: the student's input (armed just before the decisive event)
    drawn: str  # JS expression, true once the result is on screen (`want` is the scenario's argument)
    proto: Callable[[ProtoSession, str], Awaitable]  # the same change through the protocol
    want: Callable[[str], str] = lambda text: ""


async def arm(pg) -> None:
    await pg.evaluate("() => { window.__tx.armed = true; window.__tx.armedAt = performance.now(); }")


async def b_text(pg, text):
    box = pg.locator('[data-testid="stSidebar"] [data-testid="stTextArea"] textarea')
    await box.fill(text + " again")
    await arm(pg)
    await box.press("Control+Enter")


async def b_slider_end(pg, label):
    thumb = pg.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]').first
    await thumb.focus()
    await arm(pg)
    await thumb.press("End")


async def b_temperature(pg, _text):
    """The temperature to its maximum: Streamlit's slider, or the slider inside the sampling component's iframe
    (components/sampling_redraw.py: it redraws in the browser, then reports the setting to the server)."""
    if await pg.locator('[data-testid="stSlider"]').filter(has_text="Temperature").count():
        return await b_slider_end(pg, "Temperature")
    thumb = pg.frame_locator('iframe[data-testid="stCustomComponentV1"]').first.locator("#temperature:enabled")
    await thumb.focus()
    await arm(pg)
    await thumb.press("End")


async def p_temperature(s: ProtoSession) -> object:
    if any(w.key == "temperature" and w.kind == "slider" for w in s.widgets.values()):
        return await s.set("temperature", 2.0)
    return await s.set("nt-sampling", {"temperature": 2.0, "top_k": 0, "top_p": 1.0})


async def b_segment(pg, label):
    await arm(pg)
    await pg.locator('[data-testid="stMain"] button', has_text=label).first.click()


async def b_radio(pg, label):
    await arm(pg)
    await pg.locator('[data-testid="stRadio"] label', has_text=label).first.click()


async def b_nav(pg, title):
    await arm(pg)
    await pg.locator('[data-testid="stSidebarNav"] a', has_text=title).click()


async def b_generate(pg, _text):
    await arm(pg)
    await pg.locator(".st-key-gen_go button").click()


def nospace(s: str) -> str:
    return "".join(s.split())


SCENARIOS = [
    Scenario("tokens: new text (Ctrl+Enter)", "tokens", b_text, f"{CHIPS} === want",
             lambda s, text: s.set("text", text + " again"), want=lambda text: nospace(text + " again")),
    Scenario("next-token: temperature slider (fragment)", "next-token", b_temperature,
             "new URLSearchParams(location.search).get('temperature') === '2'",
             lambda s, _t: p_temperature(s)),
    Scenario("attention: All heads (fragment)", "attention", lambda pg, _t: b_segment(pg, "All heads"),
             "new URLSearchParams(location.search).get('view') === 'heads' && " + PLOTS_CHANGED,
             lambda s, _t: s.set("view", "All heads")),
    Scenario("embeddings: layer slider (fragment)", "embeddings", lambda pg, _t: b_slider_end(pg, "Layer"),
             PLOTS_CHANGED, lambda s, _t: s.set("layer", 30)),
    Scenario("similarity: contextual vectors (radio)", "similarity", lambda pg, _t: b_radio(pg, "contextual"),
             "/vectors=contextual/.test(location.search) && " + PLOTS_CHANGED,
             lambda s, _t: s.set("sim_vectors", 1)),
    Scenario("navigation: Tokens -> Attention", "tokens", lambda pg, _t: b_nav(pg, "Attention"),
             "location.pathname.endsWith('/attention') && window.__txPlots().length > 0",
             lambda s, _t: s.goto("attention")),
    Scenario("generate: 16 greedy tokens", "generate", b_generate,
             """(() => { const o = window.__txAll('[data-testid="tx-generated"]'); const last = o[o.length - 1];
                return !!last && !window.__txAll('.tx-cursor').length
                       && last.querySelectorAll('.tx-tok').length > 0; })()""",
             lambda s, _t: s.click("gen_go")),
]
GEN_QUERY = "max_new_tokens=16"


def decode_back(payload) -> dict | None:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    m = BackMsg()
    m.ParseFromString(payload if isinstance(payload, bytes) else payload.encode())
    return backmsg_summary(m) if m.WhichOneof("type") == "rerun_script" else None


def backmsg_summary(m) -> dict:
    """What must be the same in the browser's and the client's rerun: page, fragment, query, widget states."""
    from google.protobuf.json_format import MessageToDict

    rr = m.rerun_script
    states = {}
    for w in rr.widget_states.widgets:
        d = MessageToDict(w)
        d.pop("id", None)
        states[w.id] = d
    return {"page_script_hash": rr.page_script_hash, "page_name": rr.page_name, "fragment_id": rr.fragment_id,
            "query_string": rr.query_string, "widgets": states}


def finished_kind(payload) -> str | None:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    if isinstance(payload, str):
        return None
    m = ForwardMsg()
    m.ParseFromString(payload)
    if m.WhichOneof("type") == "script_finished":
        return ForwardMsg.ScriptFinishedStatus.Name(m.script_finished)
    return None


def page_path(sc: Scenario, text: str) -> str:
    q = "text=" + urllib.parse.quote(text) + (f"&{GEN_QUERY}" if sc.page == "generate" else "")
    return f"/{sc.page}?{q}"


async def browser_trial(browser, base: str, sc: Scenario, text: str) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
    await context.add_init_script(INIT_JS)
    pg = await context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    # Chromium's own record of the websocket (DevTools protocol): every data frame in the order the page sees
    # them (its timestamps are the renderer's, taken when the page handles a frame: the same moments as the
    # page's own clock, so they add no earlier "network" time)
    sent: list = []  # (timestamp s, decoded rerun or None)
    recv: list = []  # (timestamp s, script_finished status or None)

    def frame(params: dict) -> tuple[float, bytes] | None:
        r = params["response"]
        data = base64.b64decode(r["payloadData"]) if r.get("opcode") == 2 else r["payloadData"].encode()
        return params["timestamp"], data

    cdp = await context.new_cdp_session(pg)
    await cdp.send("Network.enable")
    cdp.on("Network.webSocketFrameSent", lambda p: sent.append((frame(p)[0], decode_back(frame(p)[1]))))
    cdp.on("Network.webSocketFrameReceived", lambda p: recv.append((frame(p)[0], finished_kind(frame(p)[1]))))
    try:
        await pg.goto(base + page_path(sc, text), wait_until="domcontentloaded")
        await pg.wait_for_function("() => window.__tx.finished >= 1", timeout=TIMEOUT_MS, polling=50)
        await pg.wait_for_timeout(1500)  # lazy chunks, plotly, iframes settle; then the page is idle
        await pg.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                                   ".getAttribute('data-test-script-state') === 'notRunning'", polling=50)
        n_sent = await pg.evaluate("() => window.__tx.sent.length")
        n_recv = await pg.evaluate("() => window.__tx.recv.length")
        before = await pg.evaluate("() => { window.__txBefore = window.__txPlots(); window.__tx.inputAt = null;"
                                   " return window.__tx.finished; }")
        watcher = f"""(want) => new Promise(resolve => {{
            const step = () => {{
              let ok = false;
              try {{ ok = window.__tx.finished > {before} && ({sc.drawn}); }} catch (e) {{ ok = false; }}
              if (ok) resolve({{drawnAt: performance.now(), inputAt: window.__tx.inputAt ?? window.__tx.armedAt,
                                sent: window.__tx.sent.slice({n_sent}), recv: window.__tx.recv.slice({n_recv})}});
              else requestAnimationFrame(step);
            }};
            requestAnimationFrame(step);
        }})"""
        waiting = asyncio.ensure_future(pg.evaluate(watcher, sc.want(text)))
        await asyncio.sleep(0.05)
        await sc.browser(pg, text)
        r = await asyncio.wait_for(waiting, TIMEOUT_MS / 1000)
        await asyncio.sleep(0.3)  # the last DevTools events reach Python
        new_sent = sent[n_sent:]
        new_recv = recv[n_recv:]
        i_back = next(i for i, (_, m) in enumerate(new_sent) if m is not None)
        done = [i for i, (_, k) in enumerate(new_recv) if k and k != "FINISHED_EARLY_FOR_RERUN"]
        i_fin = done[0]
        sent_at, fin_at = r["sent"][i_back], r["recv"][i_fin]  # the page's clock (ms)
        shown = await pg.locator('[data-testid="stException"]').count()  # the app's errors, drawn
        return {"total": (r["drawnAt"] - r["inputAt"]) / 1000, "input_to_send": (sent_at - r["inputAt"]) / 1000,
                "protocol": (fin_at - sent_at) / 1000, "render": (r["drawnAt"] - fin_at) / 1000,
                "backmsg": new_sent[i_back][1], "exceptions": shown}
    finally:
        await context.close()


async def proto_trial(base: str, sc: Scenario, text: str) -> dict:
    s = ProtoSession(base)
    try:
        await s.open(page_path(sc, text))
        r = await sc.proto(s, text)
        return {"protocol": r.seconds, "backmsg": backmsg_summary(s.last_sent), "exceptions": r.exceptions}
    finally:
        await s.close()


MARKER = re.compile(r"qzcheck\d+[bp]x")  # each trial's own marker word: the same message up to it


def compare_backmsgs(b: dict, p: dict) -> list[str]:
    """Differences between the browser's rerun and the client's (empty: the same message, up to the marker)."""
    b, p = (json.loads(MARKER.sub("qzcheckM", json.dumps(x))) for x in (b, p))
    diffs = [f"{k}: browser {b[k]!r} client {p[k]!r}" for k in ("page_script_hash", "page_name", "fragment_id",
                                                                   "query_string") if b[k] != p[k]]
    for wid in sorted(set(b["widgets"]) | set(p["widgets"])):
        if b["widgets"].get(wid) != p["widgets"].get(wid):
            diffs.append(f"widget {wid.split('-', 2)[-1]}: browser {b['widgets'].get(wid)} "
                         f"client {p['widgets'].get(wid)}")
    return diffs


def first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [repr(e)])[0][:200]


def med(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 4) if xs else None


async def check(base: str, repeats: int, only: list[str] | None = None, server=None) -> dict:
    """The scenarios against ``base``; ``server``: a counting server (bench/load.py), whose log gives the
    server-side wall time of the run each change started, for the browser's trials and the client's alike."""
    from playwright.async_api import async_playwright

    exe = chromium_exe()
    out: dict = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        # one untimed round: the server's first runs of each page (imports, caches) are not what is compared
        for sc in SCENARIOS:
            if only and not any(o in sc.name for o in only):
                continue
            rows: dict[str, list] = {"browser": [], "proto": [], "diffs": [], "errors": []}
            for i in range(-1, repeats):
                for who in ("browser", "proto") if i % 2 else ("proto", "browser"):
                    # each trial its own text: neither finds the other's trace in the cache
                    marker = f"qzcheck{i + 1}{who[0]}x"
                    text = f"{marker} students celebrate the end of the year with a big party"
                    try:
                        r = await (browser_trial(browser, base, sc, text) if who == "browser"
                                   else proto_trial(base, sc, text))
                    except Exception as e:
                        rows["errors"].append(f"{who} {i}: {type(e).__name__}: {first_line(e)}")
                        continue
                    if server is not None:  # the server's side of the same run (the session's last one)
                        await asyncio.sleep(0.3)
                        runs = [run for run in server.runs() if run.who == marker]
                        r["server_run"] = runs[-1].wall if runs else None
                    if i >= 0:
                        rows[who].append(r)
                if i >= 0 and len(rows["browser"]) == len(rows["proto"]) == i + 1:
                    rows["diffs"] += [f"trial {i}: {d}" for d in compare_backmsgs(rows["browser"][-1]["backmsg"],
                                                                               rows["proto"][-1]["backmsg"])]
            b, pr = rows["browser"], rows["proto"]
            res = {"repeats": len(b),
                   "browser_input_to_drawn_s": med([r["total"] for r in b]),
                   "browser_input_to_send_s": med([r["input_to_send"] for r in b]),
                   "browser_send_to_finished_s": med([r["protocol"] for r in b]),
                   "browser_finished_to_drawn_s": med([r["render"] for r in b]),
                   "client_send_to_finished_s": med([r["protocol"] for r in pr]),
                   # the server's wall time of that run (the counting server's log): in the browser's trials and
                   # in the client's; a gap means the browser's own CPU use slowed the server on this machine
                   "server_run_in_browser_trials_s": med([r["server_run"] for r in b if r.get("server_run")]),
                   "server_run_in_client_trials_s": med([r["server_run"] for r in pr if r.get("server_run")]),
                   "backmsg_differences": sorted(set(rows["diffs"]))[:10],
                   "errors": rows["errors"], "client_exceptions": [e for r in pr for e in r["exceptions"]][:5],
                   "browser_exceptions": sum(r["exceptions"] for r in b)}
            if res["browser_input_to_drawn_s"] is not None and res["client_send_to_finished_s"] is not None:
                res["margin_s"] = round(res["browser_input_to_drawn_s"] - res["client_send_to_finished_s"], 4)
            out[sc.name] = res
            print(sc.name, json.dumps(res), flush=True)
        await browser.close()
    return out


def chromium_exe() -> str:
    import os
    import shutil

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(exe):
        raise SystemExit("chromium is not installed (`make browser`)")
    return exe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an already running server (default: start a fresh serve.py)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", action="append", help="scenarios whose name contains this (repeatable)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    from bench import load as browser_load  # the counting server: every script run's wall time in its log

    server = None if args.url else browser_load.start_server()
    try:
        t0 = time.perf_counter()
        results = asyncio.run(check(args.url or server.url, args.repeats, args.only, server))
        wall = time.perf_counter() - t0
    finally:
        if server is not None:
            server.stop()
    margins = [r["margin_s"] for r in results.values() if r.get("margin_s") is not None]
    same = all(not r["backmsg_differences"] for r in results.values())
    summary = {"scenarios": results, "margin_median_s": med(margins),
               "margin_max_s": round(max(margins), 4) if margins else None,
               "backmsgs_identical": same, "wall_s": round(wall, 1)}
    print(json.dumps({k: v for k, v in summary.items() if k != "scenarios"}, indent=2))
    if not args.no_record:
        from bench.loadproto import record_section

        record_section("load/protocol_client_vs_chromium", summary, [
            ("load/protocheck/margin_median", summary["margin_median_s"], "s", None),
            ("load/protocheck/margin_max", summary["margin_max_s"], "s", None),
            ("load/protocheck/backmsg_differences", sum(len(r["backmsg_differences"]) for r in results.values()),
             "count", 0)])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
