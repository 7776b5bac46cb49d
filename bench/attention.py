"""`python -m bench.run --only attention`: how fast the attention heatmap follows the layer slider, and how
many bytes the page sends for attention compared with bertviz's own HTML for the same text.

1. Redraw: a fresh serve.py, /attention in headless Chromium, a classroom-sized sentence (every head sent), a
   200-token paragraph (the "cross": the layer's heads and the head's layers) and a 512-token text (one layer's
   heads) (trace cached after the first view). The one-head heatmap is the redraw component (components/attention_redraw.py):
   its layer slider, then its head slider, is moved with the keyboard and we time key press -> the heatmap's
   title shows the new layer/head (the cells and Plotly's title are redrawn inside the component's iframe); 40 layer moves and 20
   head moves per text. Target p95 <= 150 ms. A layer that the page did not send (at 512 tokens: any other layer)
   is fetched by the browser over HTTP (serving/attention_layers.py, installed by serve.py), with the layers
   next to it fetched ahead; that fetch, or a wait for one under way, is included in these times. The baseline is the old way,
   measured in the same session: a Streamlit slider in the page's fragment redrawing a server-side plotly
   figure (the "mean of this layer's heads" view still works that way: same figure size, one round trip).
2. Payload: bytes of the figure JSON the heatmap view sends (one head, float32 typed array) and of the
   all-heads view, against bertviz's own head-view HTML for the same trace (the baseline; target <= 1/4;
   generated for 64 tokens, estimated by components.bertviz_reference.bertviz_bytes_estimate for 512).
"""
from __future__ import annotations

import time

from bench.common import chromium, entry, served, serving, text_with_tokens

REDRAWS = 40
SHORT = "students celebrate the graduation with a big party"


def _percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


def _press_until(page, frame, key: str, want: str) -> float:
    """ms from a key press to the title of the heatmap in ``frame`` (a Playwright Frame) containing ``want``."""
    t0 = time.perf_counter()
    page.keyboard.press(key)
    frame.wait_for_function(
        "(want) => [...document.querySelectorAll('.js-plotly-plot .gtitle')].some("
        "t => t.textContent.includes(want))", arg=want, polling="raf", timeout=60_000)
    return (time.perf_counter() - t0) * 1000


def _redraws(url: str, results: list[dict], label: str, text: str) -> None:
    import urllib.parse

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium())
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        # layers and heads are shown from 1 (models/numbering.py): layer 1, head 3 = block index 0, head index 2
        query = urllib.parse.urlencode({"model": "smollm2-135m", "text": text, "layer": 1, "head": 3})
        page.goto(f"{url}/attention?{query}")
        page.frame_locator('iframe[src*="attention_heatmap"]').first.locator(".gtitle").wait_for(timeout=180_000)
        frame = next(f for f in page.frames if "attention_heatmap" in f.url)
        scope = frame.evaluate("() => document.getElementById('plot').dataset.scope")
        frame.focus("#layer")
        layers = [_press_until(page, frame, "Home" if i % 30 == 0 else "ArrowRight", f"layer {i % 30 + 1}, head 3")
                  for i in range(1, REDRAWS + 1)]
        layer = REDRAWS % 30 + 1
        frame.focus("#head")
        heads = [_press_until(page, frame, "Home" if (2 + i) % 9 == 0 else "ArrowRight",
                              f"layer {layer}, head {(2 + i) % 9 + 1}") for i in range(1, REDRAWS // 2 + 1)]
        # baseline: the same figure redrawn by the server (Streamlit slider -> fragment rerun -> plotly JSON)
        page.goto(f"{url}/attention?{urllib.parse.urlencode({'model': 'smollm2-135m', 'text': text, 'agg': 'layer'})}")
        # the figure whose title names the layer (others, e.g. in the page's collapsed details, stay hidden)
        page.locator(".js-plotly-plot .gtitle", has_text="of layer 1").first.wait_for(timeout=180_000)
        page.get_by_role("slider").first.focus()
        server = [_press_until(page, page.main_frame, "Home" if i % 30 == 0 else "ArrowRight", f"of layer {i % 30 + 1}")
                  for i in range(1, REDRAWS // 2 + 1)]
        browser.close()
    print(f"attention redraw {label}: payload scope {scope}; layer p50 {_percentile(layers, 50):.0f} "
          f"p95 {_percentile(layers, 95):.0f} ms; head p50 {_percentile(heads, 50):.0f} p95 {_percentile(heads, 95):.0f}"
          f" ms; server round trip p50 {_percentile(server, 50):.0f} p95 {_percentile(server, 95):.0f} ms")
    for what, times in (("", layers), ("_head", heads)):  # the layer slider keeps the names of earlier runs
        results.append(entry(f"attention/heatmap_redraw_{label}{what}_p50", _percentile(times, 50), "ms"))
        results.append(entry(f"attention/heatmap_redraw_{label}{what}_p95", _percentile(times, 95), "ms",
                             target=150.0))
    results.append(entry(f"attention/heatmap_redraw_{label}_server_roundtrip_p50", _percentile(server, 50), "ms"))
    results.append(entry(f"attention/heatmap_redraw_{label}_p95_vs_server_roundtrip",
                         _percentile(layers, 95), "ms", target=1.0, baseline=_percentile(server, 95)))


def _payloads(results: list[dict]) -> None:
    import numpy as np

    from components import attention_plots as ap
    from components import bertviz_reference as bv
    from models.trace import compute_trace

    for model_id in ("smollm2-135m", "minilm-l6"):
        lm = served(model_id)
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

        tokenizer = load_tokenizer_only("smollm2-135m").tokenizer
        _redraws(url, results, "200_tokens", text_with_tokens(tokenizer, 200))  # a paragraph: the "cross" scope
        _redraws(url, results, "512_tokens", text_with_tokens(tokenizer, 512))


if __name__ == "__main__":  # pragma: no cover
    out: list[dict] = []
    bench_attention(out)
    for r in out:
        print(r)
