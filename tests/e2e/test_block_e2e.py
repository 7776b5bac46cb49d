"""/block (inside a block) in real Chromium against serve.py: the page draws, switching a head off from the
multiselect changes the next-token bars to what an ablation done here (a hook of this test on the model's W^O)
gives, the address bar follows, and opening that address again reproduces the view."""
from __future__ import annotations

import re

import pytest
import torch
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

CAPITAL = "The capital of France is"
PLOT = ".js-plotly-plot"


def p_paris(lm, head_off: tuple[int, int] | None = None) -> float:
    """p(" Paris") after CAPITAL, with block index l's head h zeroed before W^O (layer l + 1, head h + 1)."""
    ids = lm.tokenizer(CAPITAL, return_tensors="pt").input_ids
    paris = lm.tokenizer(" Paris", add_special_tokens=False).input_ids[0]
    handles = []
    if head_off is not None:
        layer, head = head_off
        d = lm.facts.d_head

        def zero(_m, args):
            x = args[0].clone()
            x[..., head * d:(head + 1) * d] = 0
            return (x,)

        handles.append(lm.model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(zero))
    try:
        with lm.lock, torch.inference_mode():
            return float(lm.model(input_ids=ids).logits[0, -1].softmax(-1)[paris])
    finally:
        for h in handles:
            h.remove()


def test_block_page_ablation_and_link(app, smollm2):
    pg = app.open("/block", model="smollm2-135m", text=CAPITAL, target=" Paris")
    charts = pg.locator(PLOT)
    expect(charts).to_have_count(4, timeout=180_000)  # stream, contributions, per layer, heads and W^O
    app.wait_idle(120_000)
    assert app.exceptions().count() == 0
    main = pg.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("Inside a block")
    expect(main).to_contain_text("the model's own logit")
    expect(charts.nth(1)).to_contain_text("Direct contribution of each head and MLP to the logit of ␣Paris")
    before = p_paris(smollm2)
    expect(main).to_contain_text(f"gets {before:.2%}")  # p(" Paris") as the model itself gives it
    app.screenshot("block-smollm2-paris", canonical="block")

    # switch off layer 24, head 5 (the head that pushes " Paris" most directly here) from the multiselect
    box = pg.locator('[data-testid="stMultiSelect"]').filter(has_text="Switch off")
    box.locator("input").click()
    pg.keyboard.type("layer 24, head 5")
    pg.get_by_role("option", name="layer 24, head 5", exact=True).click()
    pg.keyboard.press("Escape")
    app.wait_for_query(ablate="a24.5", timeout=120_000)
    expect(charts).to_have_count(5, timeout=120_000)
    app.wait_idle(120_000)
    bars = pg.locator(PLOT).filter(has_text="Next-token probabilities with 1 part(s) switched off")
    expect(bars).to_have_count(1)
    after = p_paris(smollm2, (23, 4))
    assert abs(after - before) > 1e-3  # the head matters: the bars must change
    metric = pg.locator('[data-testid="stMetric"]').filter(has_text="p(␣Paris) after")
    expect(metric).to_contain_text(f"{after:.2%}")
    expect(bars).to_contain_text(f"{before:.1%}")  # grey: the ordinary run
    expect(bars).to_contain_text(f"{after:.1%}")  # red: with the head off
    assert app.exceptions().count() == 0
    app.screenshot("block-smollm2-ablated")

    # the address bar is a link to this view: open it again (a new session) and get the same view
    link = pg.evaluate("location.href")
    assert re.search(r"[?&]ablate=a24\.5(&|$)", link) and "target=" in link
    pg.goto(link, wait_until="domcontentloaded")
    expect(pg.locator(PLOT)).to_have_count(5, timeout=180_000)
    app.wait_idle(120_000)
    expect(pg.locator('[data-testid="stMetric"]').filter(has_text="p(␣Paris) after")).to_contain_text(f"{after:.2%}")
    expect(pg.locator('[data-testid="stMultiSelect"]').filter(has_text="Switch off")).to_contain_text(
        "layer 24, head 5")
    assert app.exceptions().count() == 0
