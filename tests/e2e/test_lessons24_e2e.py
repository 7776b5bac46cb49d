"""Issue #24's lessons in a real browser against the real server: train a tokenizer (the chips equal the `tokenizers`
library's segmentation after the first N merges, and follow the slider), the token tax (counts from the tokenizer
itself), the KV cache step by step (and timed on the server), and "Sample 100 times" (temperature 0: one answer).
The ``page`` fixture also asserts that no request leaves this computer."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SHOTS

pytestmark = pytest.mark.e2e

APP_SENTENCE = "The model reads the tokens of the text one layer at a time."
STORY = "Once upon a time, in a small village by the sea, there lived"


def section_shot(app, heading: str, name: str) -> None:
    """A viewport screenshot with this section's heading at the top (the sections sit far down their pages, below
    what the full-page helper keeps); the page's own screenshot is taken with app.screenshot as well."""
    pg = app.page
    app.wait_idle()
    pg.get_by_text(heading, exact=False).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    pg.wait_for_timeout(300)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), animations="disabled", caret="hide")


def chip_blocks(app) -> list[list[int]]:
    return [app.chip_ids(i) for i in range(app.page.locator(".tx-chips").count())]


def wait_for_block(app, ids: list[int], timeout: float = 60_000) -> None:
    app.page.wait_for_function(
        """(want) => [...document.querySelectorAll('*')].some(host => host.shadowRoot &&
             [...host.shadowRoot.querySelectorAll('.tx-chips')].some(b =>
               JSON.stringify([...b.querySelectorAll('.tx-chip')].map(c => +c.dataset.id)) === JSON.stringify(want)))
           || [...document.querySelectorAll('.tx-chips')].some(b =>
               JSON.stringify([...b.querySelectorAll('.tx-chip')].map(c => +c.dataset.id)) === JSON.stringify(want))""",
        arg=ids, timeout=timeout)


def test_train_a_tokenizer_follows_the_slider(app, tokenizer):
    from models import bpe

    corpus = bpe.app_corpus("en")
    pg = app.open("/tokens", text=APP_SENTENCE, bpe_merges="100")
    app.wait_for_chips()
    expect(pg.get_by_text("Where the vocabulary comes from", exact=False)).to_be_visible(timeout=120_000)
    app.wait_idle()
    blocks = chip_blocks(app)
    assert bpe.library_trained(corpus, bpe.N_BYTES + 100).encode(APP_SENTENCE).ids in blocks
    assert tokenizer("smollm2-135m")(APP_SENTENCE, add_special_tokens=False)["input_ids"] in blocks
    expect(pg.get_by_text("Checked live", exact=False)).to_be_visible()
    app.screenshot("lessons24-tokens-page")
    slider = app.slider("Use the first N merges")
    slider.focus()
    pg.keyboard.press("End")  # all the merges the corpus gives
    n = len(bpe.library_merges(bpe.library_trained(corpus, bpe.N_BYTES + bpe.MAX_MERGES)))
    app.wait_for_query(bpe_merges=str(n))
    wait_for_block(app, bpe.library_trained(corpus, bpe.N_BYTES + n).encode(APP_SENTENCE).ids)
    expect(pg.get_by_text(f"**Merge {n}:**".replace("**", ""), exact=False)).to_be_visible()
    assert app.exceptions().count() == 0
    section_shot(app, "Where the vocabulary comes from", "lessons24-train-a-tokenizer")


def test_token_tax_counts_the_tokenizers_tokens(app, tokenizer):
    pg = app.open("/tokens", text="hello")
    app.wait_for_chips()
    box = pg.get_by_label("Text B")
    box.fill("我爱自然语言处理")
    box.press("Enter")
    app.wait_for_query(tax_b="我爱自然语言处理")
    a = "The weather is very nice today, let's go for a walk in the park."
    na = len(tokenizer("smollm2-135m")(a, add_special_tokens=False)["input_ids"])
    nb = len(tokenizer("smollm2-135m")("我爱自然语言处理", add_special_tokens=False)["input_ids"])
    expect(pg.get_by_text(f"text B takes {nb:,} tokens, text A {na:,}", exact=False)).to_be_visible(timeout=60_000)
    assert app.exceptions().count() == 0
    section_shot(app, "The token tax", "lessons24-token-tax")


def test_the_kv_cache_lesson_is_drawn_when_the_student_opens_it(app, tokenizer):
    """Closed, the lesson runs nothing on the server; opened with a click, it is drawn (a rerun of the page)."""
    n = len(tokenizer("smollm2-135m")(STORY)["input_ids"])
    pg = app.open("/generate", text=STORY)
    app.wait_idle(120_000)
    title = pg.locator(".gtitle", has_text="key/value head 1")
    expect(title).to_have_count(0)
    pg.get_by_text("Inside each step: the KV cache, token by token").click()
    expect(title.first).to_have_text(f"Layer 1, key/value head 1: step {n} of {n}", timeout=120_000)
    assert app.exceptions().count() == 0


def test_kv_cache_steps_and_timing(app, tokenizer):
    n = len(tokenizer("smollm2-135m")(STORY)["input_ids"])
    pg = app.open("/generate", text=STORY, kv_layer="2", kv_head="1")
    title = pg.locator(".gtitle", has_text="key/value head 1")
    expect(title.first).to_have_text(f"Layer 2, key/value head 1: step {n} of {n}", timeout=120_000)
    app.wait_idle()
    app.slider("Step (token)").focus()
    pg.keyboard.press("Home")
    expect(title.first).to_have_text(f"Layer 2, key/value head 1: step 1 of {n}", timeout=30_000)
    app.wait_for_query(kv_step="1", kv_layer="2")
    expect(pg.get_by_text("That is exactly the formula", exact=False)).to_be_visible()
    pg.get_by_role("button", name="Time it on the server").click()
    expect(pg.locator(".gtitle", has_text="Time per step, measured on this server")).to_be_visible(timeout=180_000)
    expect(pg.get_by_text("After every step the real cache tensors held exactly", exact=False)).to_be_visible()
    assert app.exceptions().count() == 0
    section_shot(app, "Inside each step: the KV cache", "lessons24-kv-cache")


def test_sample_100_times_at_temperature_zero_and_one(app):
    pg = app.open("/next-token", text="Once upon a time, there was a", temperature="0", samples_tokens="4")
    button = pg.locator(".st-key-samples_go button")
    expect(button).to_be_visible(timeout=120_000)
    app.wait_idle()
    button.click()
    expect(pg.get_by_text("All 100 samples are the same", exact=False)).to_be_visible(timeout=180_000)
    app.wait_idle()
    pg = app.open("/next-token", text="Once upon a time, there was a", temperature="1", samples_tokens="4")
    button = pg.locator(".st-key-samples_go button")
    expect(button).to_be_visible(timeout=120_000)
    app.wait_idle()
    button.click()
    expect(pg.locator(".gtitle", has_text="First token of 100 samples vs its probability")).to_be_visible(
        timeout=180_000)
    expect(pg.get_by_text(re.compile(r"\d+ distinct continuations"))).to_be_visible()
    assert app.exceptions().count() == 0
    section_shot(app, "Sample 100 times", "lessons24-sample-100")
