"""The sidebar's model facts in real Chromium: how each bundled model was trained and where its weights come from
(SmolLM2: de-quantized from a Q4_1 GGUF; MiniLM: contrastive sentence embeddings, no GGUF), and the tour's
output step for MiniLM, which no longer calls it a masked LM. Expected words come from the loaded models' facts
(models/facts.py), so the test follows them instead of repeating them."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models.loading import load

pytestmark = pytest.mark.e2e


def facts_card(page):
    # the card is st.html (a shadow root): Playwright's CSS locators pierce it, innerText of the body does not
    return page.locator('[data-testid="stSidebar"] table').first


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_facts_card_says_how_the_model_was_trained_and_where_its_weights_come_from(app, model_id):
    facts = load(model_id).facts
    page = app.open("/", model=model_id, text="students celebrate the graduation with a big party")
    app.wait_idle(120_000)
    card = facts_card(page)
    expect(card).to_contain_text("Training", timeout=60_000)
    expect(card).to_contain_text(facts.training_text)
    expect(card).to_contain_text(facts.weights_text)
    text = card.inner_text()
    if model_id == "smollm2-135m":
        assert "Q4_1 GGUF" in text and "differ slightly" in text and "chat template" in text
    else:
        assert "GGUF" not in text and "contrastive fine-tuning" in text and "masked" not in text
    assert app.exceptions().count() == 0
    app.screenshot(f"facts-card-{model_id}")


def test_tour_output_step_for_minilm_in_the_browser(app):
    page = app.open("/", model="minilm-l6", step="8", text="students celebrate the graduation with a big party")
    app.wait_idle(120_000)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("fine-tuned contrastively on sentence pairs", timeout=60_000)
    assert "masked LM" not in main.inner_text() and "fill in blanks" not in main.inner_text()
    assert app.exceptions().count() == 0
