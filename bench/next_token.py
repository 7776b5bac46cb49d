"""`python -m bench.run --only next_token`: how fast /next-token follows its sliders.

1. Redraw in the browser: a fresh serve.py, /next-token in headless Chromium (SmolLM2, "The capital of France
   is"); the temperature slider and then the top-p slider are moved one step with the keyboard, and we time
   key press -> the probability chart's "Adjusted: ..." title shows the new setting (plotly has redrawn).
   Only the sliders' fragment reruns and the cached logits are re-weighted, no forward pass. Target p95 <= 150 ms.
   Baselines: the same key press on a one-fragment Streamlit app (a slider and a line of text: Streamlit's own
   round trip, the floor on this machine), interleaved with ours so both see the same load; and a full page
   reload of the same view in the same session (trace already cached).
2. The re-weighting itself (``models.sampling.adjust`` on the 49,152 cached logits, with top-k and top-p),
   in-process, against one forward pass of the model for the same text (what a page without cached logits
   would have to redo on every slider move).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import _free_port, _healthy, chromium, entry, serving

TEXT = "The capital of France is"
MOVES = 30  # per slider


def _percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


FLOOR_APP = """
import streamlit as st

@st.fragment
def f():
    st.slider("Temperature", 0.0, 2.0, 1.0, step=0.01, key="t")
    st.markdown(f"Adjusted: T = {st.session_state.t:g}")

f()
"""
TITLE_JS = ("() => { const a = [...document.querySelectorAll('.js-plotly-plot .annotation-text, p')]"
            ".find(e => e.textContent.startsWith('Adjusted')); return a ? a.textContent : null; }")


@contextlib.contextmanager
def _floor_server():
    """A one-fragment Streamlit app (a slider and a line of text): Streamlit's own slider round trip."""
    folder = tempfile.mkdtemp(prefix="tx-bench-floor-")
    Path(folder, "app.py").write_text(FLOOR_APP)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(Path(folder, "app.py")), "--server.port",
                             str(port), "--server.headless", "true"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        t0 = time.perf_counter()
        while not _healthy(url):
            if proc.poll() is not None or time.perf_counter() - t0 > 60:
                raise RuntimeError("the floor app did not start")
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)


def _move(page, label: str, key: str) -> float:
    """Press a key on a slider; ms until the "Adjusted: ..." text (chart title / floor text) has changed."""
    before = page.evaluate(TITLE_JS)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]')
    slider.focus()
    t0 = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(f"(b) => {{ const t = ({TITLE_JS})(); return t && t !== b; }}", arg=before,
                           polling="raf", timeout=30_000)
    dt = (time.perf_counter() - t0) * 1000
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=30_000)
    return dt


def _redraws(url: str, floor_url: str, results: list[dict]) -> None:
    import urllib.parse

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium())
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/next-token?" + urllib.parse.urlencode({"model": "smollm2-135m", "text": TEXT}))
        page.locator(".js-plotly-plot").nth(3).wait_for(timeout=180_000)
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
        floor = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        floor.goto(floor_url)
        floor.get_by_text("Adjusted").wait_for(timeout=60_000)
        times, floor_times = [], []
        for label, key in (("Temperature", "ArrowRight"), ("Top-p", "ArrowLeft")):
            for _ in range(MOVES):  # interleaved so both see the same machine load
                times.append(_move(page, label, key))
                floor_times.append(_move(floor, "Temperature", "ArrowRight" if len(floor_times) % 2 else "ArrowLeft"))
        reloads = []
        for _ in range(5):
            t0 = time.perf_counter()
            page.reload()
            page.locator(".js-plotly-plot").nth(3).wait_for(timeout=60_000)
            reloads.append((time.perf_counter() - t0) * 1000)
        browser.close()
    p95 = _percentile(times, 95)
    results.append(entry("next_token/slider_redraw_p50", _percentile(times, 50), "ms"))
    results.append(entry("next_token/slider_redraw_p95", p95, "ms", target=150.0))
    results.append(entry("next_token/slider_redraw_p95_vs_empty_fragment", p95, "ms",
                         baseline=_percentile(floor_times, 95)))
    results.append(entry("next_token/slider_redraw_p95_vs_page_reload", p95, "ms", target=1.0,
                         baseline=_percentile(reloads, 50)))


def _reweighting(results: list[dict]) -> None:
    import torch

    from models.loading import load
    from models.sampling import adjust

    lm = load("smollm2-135m")
    ids = lm.tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        logits = lm.model(input_ids=ids).logits[0, -1].numpy()
    settings = [(0.7, 50, 0.9), (1.3, 0, 0.95), (0.0, 0, 1.0), (2.0, 200, 0.5)]
    fast, slow = [], []
    for i in range(60):  # interleaved so both see the same machine load
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
    with serving() as (url, _), _floor_server() as floor_url:
        _redraws(url, floor_url, results)


if __name__ == "__main__":  # pragma: no cover
    out: list[dict] = []
    bench_next_token(out)
    for r in out:
        print(r)
