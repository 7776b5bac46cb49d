"""The Overview's "Where the parameters are" in real Chromium against the real server: the treemap draws, with
the total that transformers itself counts for the same weights, and the Tokens page says what it cuts."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def stock_total(model_id: str) -> int:
    """sum(p.numel()) of the bundled model loaded by transformers alone, in this test process."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    from models.loading import weights_location
    from models.registry import get_spec

    spec = get_spec(model_id)
    cls = AutoModelForCausalLM if spec.head == "causal-lm" else AutoModel
    model = cls.from_pretrained(weights_location(spec), dtype=torch.float32)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_overview_draws_the_parameter_treemap(app, model_id):
    total = stock_total(model_id)
    page = app.open("/", model=model_id)
    section = page.locator('[data-testid="stMain"] [data-testid="stHeading"]', has_text="Where the parameters are")
    expect(section).to_be_visible(timeout=90_000)
    app.wait_idle()
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=f"Where the {total:,} parameters")
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_count(1, timeout=60_000)
    # plotly really drew the treemap: one box per part, the MLP and attention among them
    expect(chart.locator("g.trace.treemap path.surface").first).to_be_visible(timeout=60_000)
    assert chart.locator("g.trace.treemap path.surface").count() >= 5
    expect(chart).to_contain_text("MLP")
    expect(chart).to_contain_text(f"{total:,}")
    expect(page.locator('[data-testid="stMain"]')).to_contain_text(f"{total:,}.")  # the sentence above it
    assert app.exceptions().count() == 0
    shot = app.screenshot(f"overview-{model_id}")
    chart.screenshot(path=str(shot.with_name(f"parameters-{model_id}.png")))  # the treemap on its own
    table = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]').first  # the table of parts
    table.scroll_into_view_if_needed()
    expect(table.locator("canvas").first).to_be_visible()
    table.screenshot(path=str(shot.with_name(f"parameters-table-{model_id}.png")))


def test_tokens_page_says_what_is_cut(app):
    text = "The river runs past the old mill and the bridge. " * 80
    app.open("/tokens", model="smollm2-135m", text=text)
    app.wait_for_chips()
    notice = app.alerts().filter(has_text="tokens long")
    expect(notice).to_contain_text("The first 512 (positions 0–511)", timeout=60_000)
    expect(notice).to_contain_text("8,192")
    assert len(app.chip_ids()) == 512
