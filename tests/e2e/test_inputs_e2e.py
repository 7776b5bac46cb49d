"""The input lessons in a real browser against the real server: the sentence pair on the Tokens page (chips with
the tokenizer's segment ids, the 'no NSP head' sentence), the chat view (the template's tokens and text) and the
Generate page's chat mode answering a message. Expected ids come from the tokenizers, never hard-coded; the
``page`` fixture also asserts that no request leaves this computer."""
from __future__ import annotations

import pytest
import torch
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

A, B = "the man went to the store", "he bought a gallon of milk"


def block_with(page, selector: str):
    """The chip block that has chips matching ``selector``."""
    return page.locator(".tx-chips").filter(has=page.locator(selector))


def test_pair_view_draws_segment_ids(app, tokenizer):
    page = app.open("/tokens", model="minilm-l6")
    app.wait_for_chips()
    block = block_with(page, ".tx-chip[data-segment]")
    expect(block).to_have_count(1, timeout=60_000)
    block.scroll_into_view_if_needed()
    chips = block.locator(".tx-chip")
    ref = tokenizer("minilm-l6")(A, B)
    assert [int(x) for x in chips.evaluate_all("els => els.map(e => e.dataset.id)")] == ref["input_ids"]
    assert [int(x) for x in chips.evaluate_all("els => els.map(e => e.dataset.segment)")] == ref["token_type_ids"]
    # the segment id is drawn under each chip, and A and B have different colours
    assert block.locator(".tx-seg").all_text_contents() == [str(s) for s in ref["token_type_ids"]]
    bg = chips.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    words_a = [c for c, s, t in zip(bg, ref["token_type_ids"], ref["input_ids"]) if s == 0 and t not in (101, 102)]
    words_b = [c for c, s, t in zip(bg, ref["token_type_ids"], ref["input_ids"]) if s == 1 and t not in (101, 102)]
    assert len(set(words_a)) == 1 and len(set(words_b)) == 1 and words_a[0] != words_b[0]
    expect(page.get_by_text("no next-sentence-prediction head", exact=False)).to_be_visible()
    assert app.exceptions().count() == 0
    app.screenshot("tokens-minilm-pair")


def test_chat_view_draws_the_template(app, tokenizer):
    page = app.open("/tokens", model="smollm2-135m")
    app.wait_for_chips()
    tok = tokenizer("smollm2-135m")
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    block = block_with(page, ".tx-chip[data-origin]")
    expect(block).to_have_count(1, timeout=60_000)
    block.scroll_into_view_if_needed()
    chips = block.locator(".tx-chip")
    assert [int(x) for x in chips.evaluate_all("els => els.map(e => e.dataset.id)")] == ids
    assert block.locator(".tx-chip.tx-special.tx-template").count() == 5  # <|im_start|> × 3, <|im_end|> × 2
    # the exact template text, newlines included (the grey ⏎ marks are drawn beside them)
    pre = page.locator('[data-testid="tx-chat-text"]')
    expect(pre).to_be_visible()
    shown = pre.evaluate("e => { const c = e.cloneNode(true); c.querySelectorAll('.tx-nl').forEach(n => n.remove());"
                         " return c.textContent; }")
    assert shown == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert app.exceptions().count() == 0
    app.screenshot("tokens-smollm2-chat")


def test_generate_answers_a_chat_message(app, smollm2):
    message = "Name one planet."
    page = app.open("/generate", model="smollm2-135m", input="chat", message=message, max_new_tokens="8")
    app.wait_idle()
    expect(page.get_by_text("chat template writes it", exact=False)).to_be_visible()
    page.locator(".st-key-gen_go button").click()
    expect(page.locator('[data-testid="tx-generated"]')).to_be_attached(timeout=60_000)
    expect(page.locator(".tx-cursor")).to_have_count(0, timeout=120_000)
    app.wait_idle()
    ids = smollm2.tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=True,
                                                add_generation_prompt=True, return_dict=True)["input_ids"]
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = smollm2.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=8,
                                     pad_token_id=smollm2.model.config.eos_token_id)
    tokens = page.locator('[data-testid="tx-generated"]').last.locator(".tx-tok")
    assert "".join(tokens.all_text_contents()) == smollm2.tokenizer.decode(out[0, len(ids):])
    assert app.query()["input"] == ["chat"] and app.query()["message"] == [message]
    assert app.exceptions().count() == 0
    app.screenshot("generate-chat")
