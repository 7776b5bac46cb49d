"""The training signal on /next-token in real Chromium: the per-position loss chart draws one bar per predicted
token, hovering the tallest bar shows its token, p, −log p and rank, and the mean loss shown is transformers'
own loss for the text (expected values from the model, never typed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e

TEXT = "students celebrate the graduation with a big party"


def reference(lm, text: str):
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = lm.model(input_ids=ids, labels=ids)
        ce = torch.nn.CrossEntropyLoss(reduction="none")(out.logits[0, :-1].float(), ids[0, 1:]).numpy()
    return out.loss.item(), ce, ids[0].tolist()


def test_loss_chart_draws_and_a_hover_names_the_token(app, smollm2):
    page = app.open("/next-token", model="smollm2-135m", text=TEXT)
    chart = page.locator(".js-plotly-plot").filter(has_text="Loss at each of")
    expect(chart).to_have_count(1, timeout=120_000)
    app.wait_idle()
    assert app.exceptions().count() == 0
    mean, ce, ids = reference(smollm2, TEXT)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("Mean loss (cross-entropy)")
    expect(main).to_contain_text(f"{mean:.3f}")
    bars = chart.locator("g.point path")
    expect(bars).to_have_count(len(ids) - 1)  # the first token has no prediction
    worst = int(np.argmax(ce))
    token = smollm2.tokenizer.decode([ids[worst + 1]]).replace(" ", "␣")
    chart.scroll_into_view_if_needed()
    box = bars.nth(worst).bounding_box()  # plotly's drag layer lies on top and takes the mouse: move it there
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = chart.locator(".hoverlayer")
    expect(hover).to_contain_text(f"{worst + 1} {token}", timeout=10_000)
    expect(hover).to_contain_text(f"−log p = {ce[worst]:.3f}")
    expect(hover).to_contain_text("of 49,152")
    SHOTS.mkdir(parents=True, exist_ok=True)
    chart.screenshot(path=str(SHOTS / "next-token-loss-hover.png"))  # the section is below a full-page shot's cut


def test_loss_chart_in_chinese(app, smollm2):
    page = app.open("/next-token", lang="zh", model="smollm2-135m", text=TEXT)
    chart = page.locator(".js-plotly-plot").filter(has_text="次预测各自的损失")
    expect(chart).to_have_count(1, timeout=120_000)
    app.wait_idle()
    mean, ce, ids = reference(smollm2, TEXT)
    expect(page.locator('[data-testid="stMain"]')).to_contain_text(f"{mean:.3f}")
    expect(chart.locator("g.point path")).to_have_count(len(ids) - 1)
    expect(chart).to_contain_text("实际出现的下一个词元")  # the axis title
