"""`python -m bench.run --only attention`: how fast the attention heatmap follows the layer slider, and how
many bytes the page sends for attention compared with bertviz's own HTML for the same text.

1. Redraw: a fresh serve.py, /attention in headless Chromium; the layer slider is moved with the keyboard and
   we time key press -> the heatmap's title shows the new layer (plotly has redrawn), 40 times per text, for a
   classroom-sized text and a 512-token one (trace cached after the first view). Target p95 <= 150 ms. The
   baseline is a full page reload of the same view in the same session (what a page without a fragment and a
   cached trace would cost at best).
2. Payload: bytes of the figure JSON the heatmap view sends (one head, float32 typed array) and of the
   all-heads view, against bertviz's own head-view HTML for the same trace (the baseline; target <= 1/4;
   generated for 64 tokens, estimated by components.bertviz_offline.bertviz_bytes_estimate for 512).
"""
from __future__ import annotations

import time

from bench.run import chromium, entry, serving, text_with_tokens

REDRAWS = 40
SHORT = "students celebrate the graduation with a big party"


def _percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


def _redraws(url: str, results: list[dict], label: str, text: str) -> None:
    import urllib.parse

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium())
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        query = urllib.parse.urlencode({"model": "smollm2-135m", "text": text, "layer": 0, "head": 2})
        page.goto(f"{url}/attention?{query}")
        title = page.locator(".js-plotly-plot .gtitle").first
        title.wait_for(timeout=180_000)
        slider = page.get_by_role("slider").first
        times = []
        for i in range(1, REDRAWS + 1):
            layer = i % 30
            slider.focus()
            t0 = time.perf_counter()
            page.keyboard.press("Home" if layer == 0 else "ArrowRight")
            page.wait_for_function(
                "(want) => { const t = document.querySelector('.js-plotly-plot .gtitle');"
                " return t && t.textContent.includes(want); }",
                arg=f"layer {layer}, head 2", polling="raf", timeout=30_000)
            times.append((time.perf_counter() - t0) * 1000)
        reloads = []
        for _ in range(5):
            t0 = time.perf_counter()
            page.reload()
            page.locator(".js-plotly-plot .gtitle").first.wait_for(timeout=60_000)
            reloads.append((time.perf_counter() - t0) * 1000)
        browser.close()
    p95 = _percentile(times, 95)
    results.append(entry(f"attention/heatmap_redraw_{label}_p50", _percentile(times, 50), "ms"))
    results.append(entry(f"attention/heatmap_redraw_{label}_p95", p95, "ms", target=150.0))
    results.append(entry(f"attention/heatmap_redraw_{label}_p95_vs_page_reload", p95, "ms", target=1.0,
                         baseline=_percentile(reloads, 50)))


def _payloads(results: list[dict]) -> None:
    import numpy as np

    from components import attention_plots as ap
    from components import bertviz_offline as bv
    from models.loading import load
    from models.trace import compute_trace

    for model_id in ("smollm2-135m", "minilm-l6"):
        lm = load(model_id)
        for n in (64, 512):
            trace = compute_trace(lm, text_with_tokens(lm.tokenizer, n))
            T = trace.n_tokens
            labels = [str(i) for i in range(T)]
            masked = np.triu(np.ones((T, T), bool), 1) if lm.spec.family == "decoder" else None
            one = len(ap.attention_heatmap(trace.attentions[0, 0], labels, labels, "t", masked=masked).to_json())
            # bertviz's real HTML at 64 tokens; at 512 (GBs of JSON) its tested size estimate
            ref = (bv.bertviz_reference_bytes if T <= 64 else bv.bertviz_bytes_estimate)(trace, "head")
            results.append(entry(f"attention/payload_heatmap_vs_bertviz/{model_id}/{T}_tokens", one / 1e6, "MB",
                                 target=0.25, baseline=ref / 1e6))


def bench_attention(results: list[dict]) -> None:
    _payloads(results)
    with serving() as (url, _):
        _redraws(url, results, "short_text", SHORT)
        from models.loading import load_tokenizer_only

        long_text = text_with_tokens(load_tokenizer_only("smollm2-135m").tokenizer, 512)
        _redraws(url, results, "512_tokens", long_text)


if __name__ == "__main__":  # pragma: no cover
    out: list[dict] = []
    bench_attention(out)
    for r in out:
        print(r)
