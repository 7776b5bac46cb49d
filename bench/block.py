"""`python -m bench.run --only block`: what /block (inside a block) makes a student wait for, in-process.

1. One ablated forward pass (models.block.ablate: three heads and an MLP switched off with hooks, zero ablation)
   against an ordinary forward pass of the same 16-token text on SmolLM2 (the same call the ablation makes:
   last-position logits only), interleaved so both see the same load. Target: ratio <= 1.5.
2. The contribution chart for a cached run: models.block.attribute for a target token, the two figures
   (components/block_plots.py) and their JSON, what the server does for a new target. Target p95 <= 100 ms.
3. "Find the most important heads": models.block.rank_single on a 16-token text, every head and every MLP
   switched off alone (SmolLM2: 270 heads + 30 MLPs), batched. Target: median <= 10 s on this 2-core machine.
   MiniLM's time is reported beside it (no target).
"""
from __future__ import annotations

import time

from bench.common import entry, median, served, text_with_tokens

N_TOKENS = 16
RUNS = 15


def _percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q))


def bench_block(results: list[dict]) -> None:
    import gc

    import numpy as np
    import plotly.io as pio
    import torch

    from components import block_plots as bp
    from models import block

    lm = served("smollm2-135m")
    text = text_with_tokens(lm.tokenizer, N_TOKENS)
    ids = np.array(lm.tokenizer(text).input_ids)
    assert len(ids) == N_TOKENS
    run = block.capture(lm, ids, len(ids) - 1)
    comps = block.parse_components("a3.2,a12.5,a25.1,m20", lm.facts.n_layers, lm.facts.n_heads)
    x = torch.tensor(ids)[None]

    def ordinary() -> None:
        with lm.lock, torch.inference_mode():
            lm.model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False, logits_to_keep=1)

    def ablated() -> None:
        block.ablate(lm, run, comps, "zero")

    for _ in range(3):  # warm-up
        ordinary()
        ablated()
    plain, hooked = [], []
    for r in range(RUNS):  # interleaved, alternating who goes first
        for name, fn, out in ((("o", ordinary, plain), ("a", ablated, hooked))[::1 if r % 2 else -1]):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    results.append(entry("block/ablated_forward_16_tokens", median(hooked) * 1000, "ms", target=1.5,
                         baseline=median(plain) * 1000))

    target = block.default_target(lm, run)
    chart_ms = []
    for i in range(40):
        t0 = time.perf_counter()
        a = block.attribute(lm, run, (target + 97 * i) % lm.facts.vocab_size)  # a new target each time
        figs = [bp.component_grid(a.heads, a.mlps, "contributions", "logit", attn_bias=a.attn_bias),
                bp.layer_totals(a.attention, a.mlps, "per layer", "logit")]
        for fig in figs:
            pio.to_json(fig, validate=False)
        chart_ms.append((time.perf_counter() - t0) * 1000)
    results.append(entry("block/contribution_chart_p95", _percentile(chart_ms, 95), "ms", target=100.0))

    seconds = []
    for _ in range(3):
        seconds.append(block.rank_single(lm, run, target, "zero").seconds)
    results.append(entry("block/rank_all_heads_16_tokens/smollm2-135m", median(seconds), "s", target=10.0))

    mini = served("minilm-l6")
    mids = np.array(mini.tokenizer(text_with_tokens(mini.tokenizer, N_TOKENS)).input_ids)
    mrun = block.capture(mini, mids, 3)
    mseconds = [block.rank_single(mini, mrun, block.default_target(mini, mrun), "zero").seconds for _ in range(3)]
    results.append(entry("block/rank_all_heads_16_tokens/minilm-l6", median(mseconds), "s"))


if __name__ == "__main__":  # pragma: no cover
    out: list[dict] = []
    bench_block(out)
    for r in out:
        print(r)
