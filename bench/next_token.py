"""`python -m bench.run --only next_token`: how fast /next-token follows its sliders.

1. Redraw in the browser: a fresh serve.py, /next-token in headless Chromium (SmolLM2, "The capital of France is",
   all 49,152 logits in the browser). The temperature, top-k and top-p sliders of the sampling component
   (components/sampling_redraw.py) are moved one step at a time with the keyboard; each move is timed until every
   figure (the two bar charts, the top-p curve, the counts and the table) has been redrawn and a frame shown:
   * in the browser, from the key's input event to that frame (the component records it: ``txView.timings``),
     target p95 <= 50 ms;
   * from this process, key press -> the component reports the new setting drawn (polled every frame; includes the
     DevTools round trips), the same way as the baseline below.
   Baseline, measured in the same run and interleaved so both see the same load: the same page with its
   server-side path (the "Redraw on the server" toggle: Streamlit's sliders, a fragment rerun and new figures
   per move), key press -> the bars' "Adjusted: ..." title shows the new setting.
2. The re-weighting on the server (``models.sampling.adjust`` on the 49,152 cached logits, with top-k and top-p),
   in-process, against one forward pass of the model for the same text (what a page without cached logits would
   have to redo on every move).

``TX_BENCH_MOVES`` sets the moves per slider (default 30; a few to check that the bench works).
"""
from __future__ import annotations

import json
import os
import time
import urllib.parse

from bench.common import chromium, entry, served, serving

TEXT = "The capital of France is"
MOVES = int(os.environ.get("TX_BENCH_MOVES", "30"))  # per slider
TARGET_MS = 50.0
IFRAME = 'iframe[src*="sampling_redraw"]'
TITLE_JS = ("() => { const a = [...document.querySelectorAll('.js-plotly-plot .annotation-text')]"
            ".find(e => e.textContent.startsWith('Adjusted')); return a ? a.textContent : null; }")
STEPS = (("temperature", "ArrowLeft"), ("top_k", "ArrowRight"), ("top_p", "ArrowLeft"))
SERVER_SLIDERS = {"temperature": "Temperature", "top_k": "Top-k", "top_p": "Top-p"}


def _percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


def _component_frame(page):
    page.locator(IFRAME).first.wait_for(timeout=180_000)
    frame = page.locator(IFRAME).first.element_handle().content_frame()
    frame.wait_for_function("() => Number(document.body.dataset.draws || 0) >= 1", timeout=180_000)
    return frame


def _move_in_browser(frame, slider: str, key: str) -> tuple[float, float]:
    """One key press on the component's slider: (ms seen from here until the new setting is drawn, ms the
    component measured from the input event to the frame that shows every figure redrawn)."""
    before = frame.evaluate("() => [document.body.dataset.setting, window.txView.timings.length]")
    thumb = frame.locator(f"#{slider}")
    thumb.focus()
    t0 = time.perf_counter()
    thumb.press(key)
    frame.wait_for_function("(b) => document.body.dataset.setting !== b[0] && window.txView.timings.length > b[1]",
                            arg=before, polling="raf", timeout=30_000)
    seen = (time.perf_counter() - t0) * 1000
    inside = frame.evaluate("() => window.txView.timings[window.txView.timings.length - 1]")
    return seen, float(inside)


def _move_on_server(page, slider: str, key: str) -> float:
    """The server-side path: Streamlit's slider, a fragment rerun, new figures; ms until the bars' title changed."""
    before = page.evaluate(TITLE_JS)
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=SERVER_SLIDERS[slider]).locator(
        'input[type="range"]')
    thumb.focus()
    t0 = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(f"(b) => {{ const t = ({TITLE_JS})(); return t && t !== b; }}", arg=before,
                           polling="raf", timeout=60_000)
    dt = (time.perf_counter() - t0) * 1000
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)
    return dt


def _redraws(url: str, results: list[dict]) -> None:
    from playwright.sync_api import sync_playwright

    link = f"{url}/next-token?" + urllib.parse.urlencode({"model": "smollm2-135m", "text": TEXT})
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium())
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(link)
        frame = _component_frame(page)
        vocab = frame.evaluate("() => window.txView.ctx().V")
        server = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        server.goto(link)
        _component_frame(server)
        server.locator('[data-testid="stMain"] label').filter(has_text="Redraw on the server").click()
        server.locator('[data-testid="stSlider"]').filter(has_text="Temperature").wait_for(timeout=120_000)
        server.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
        seen, inside, round_trips = [], [], []
        for slider, key in STEPS:
            for _ in range(MOVES):  # interleaved so both see the same machine load
                s, i = _move_in_browser(frame, slider, key)
                seen.append(s)
                inside.append(i)
                round_trips.append(_move_on_server(server, slider, key))
        # the address bar follows the component (debounced): the last setting drawn is the URL's
        frame.wait_for_function("() => { const s = window.txView.state(); return s.reported === JSON.stringify("
                                "s.current); }", timeout=30_000)
        shown = json.loads(frame.evaluate("() => document.body.dataset.setting"))
        page.wait_for_function("(t) => new URLSearchParams(location.search).get('temperature') === t",
                               arg=f"{shown[0]:g}", timeout=60_000)
        browser.close()
    p95 = _percentile(inside, 95)
    results.append(entry("next_token/browser_redraw_p50", _percentile(inside, 50), "ms"))
    results.append(entry("next_token/browser_redraw_p95", p95, "ms", target=TARGET_MS))
    results.append(entry("next_token/browser_redraw_seen_by_driver_p95", _percentile(seen, 95), "ms"))
    results.append(entry("next_token/server_round_trip_p50", _percentile(round_trips, 50), "ms"))
    # the same measurement from here for both paths: the browser's redraw as a share of the server round trip
    results.append(entry("next_token/browser_redraw_p95_vs_server_round_trip", _percentile(seen, 95), "ms",
                         target=1.0, baseline=_percentile(round_trips, 95)))
    results.append(entry("next_token/vocabulary_in_browser", vocab, "tokens"))


def _reweighting(results: list[dict]) -> None:
    import torch

    from models.sampling import adjust

    lm = served("smollm2-135m")
    ids = lm.tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        logits = lm.model(input_ids=ids).logits[0, -1].numpy()
    settings = [(0.7, 50, 0.9), (1.3, 0, 0.95), (0.0, 0, 1.0), (2.0, 200, 0.5)]
    fast, slow = [], []
    for i in range(max(8, 2 * MOVES)):  # interleaved so both see the same machine load
        t0 = time.perf_counter()
        adjust(logits, *settings[i % len(settings)])
        fast.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        with torch.inference_mode():
            lm.model(input_ids=ids)
        slow.append((time.perf_counter() - t0) * 1000)
    p95 = _percentile(fast, 95)
    results.append(entry("next_token/adjust_p95", p95, "ms"))
    results.append(entry("next_token/adjust_p95_vs_forward_pass", p95, "ms", target=1.0,
                         baseline=_percentile(slow, 50)))


def bench_next_token(results: list[dict]) -> None:
    _reweighting(results)
    with serving() as (url, _):
        _redraws(url, results)


if __name__ == "__main__":  # pragma: no cover
    out: list[dict] = []
    bench_next_token(out)
    for r in out:
        print(r)
