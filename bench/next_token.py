"""`python -m bench.run --only next_token`: how fast /next-token follows its sliders.

1. Redraw in the browser: a fresh serve.py, /next-token in headless Chromium (SmolLM2, "The capital of France
   is"); the temperature slider and then the top-p slider are moved one step with the keyboard, and we time
   key press -> the probability chart's "Adjusted: ..." title shows the new setting (plotly has redrawn).
   Only the sliders' fragment reruns and the cached logits are re-weighted, no forward pass. Target p95 <= 150 ms.
   Baseline: a full page reload of the same view in the same session (trace already cached).
2. The re-weighting itself (``models.sampling.adjust`` on the 49,152 cached logits, with top-k and top-p),
   in-process, against one forward pass of the model for the same text (what a page without cached logits
   would have to redo on every slider move).
"""
from __future__ import annotations

import time

from bench.run import chromium, entry, serving

TEXT = "The capital of France is"
MOVES = 30  # per slider


def _percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


def _redraws(url: str, results: list[dict]) -> None:
    import urllib.parse

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium())
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/next-token?" + urllib.parse.urlencode({"model": "smollm2-135m", "text": TEXT}))
        title_js = ("() => { const a = [...document.querySelectorAll('.js-plotly-plot .annotation-text')]"
                    ".find(e => e.textContent.startsWith('Adjusted')); return a ? a.textContent : null; }")
        page.locator(".js-plotly-plot").nth(3).wait_for(timeout=180_000)
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
        times = []
        for label, key in (("Temperature", "ArrowRight"), ("Top-p", "ArrowLeft")):
            slider = page.locator('[data-testid="stSlider"]').filter(has_text=label).locator('input[type="range"]')
            for _ in range(MOVES):
                before = page.evaluate(title_js)
                slider.focus()
                t0 = time.perf_counter()
                page.keyboard.press(key)
                page.wait_for_function(f"(b) => {{ const t = ({title_js})(); return t && t !== b; }}", arg=before,
                                       polling="raf", timeout=30_000)
                times.append((time.perf_counter() - t0) * 1000)
                page.wait_for_timeout(50)  # let the fragment's run finish before the next move
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
    with serving() as (url, _):
        _redraws(url, results)


if __name__ == "__main__":  # pragma: no cover
    out: list[dict] = []
    bench_next_token(out)
    for r in out:
        print(r)
