"""The Generate page in a real browser against the real server: the text streams in token by token and equals the
model's greedy continuation (computed here with transformers' generate), Stop stops, a seed repeats, a hostile
prompt is shown literally. The ``page`` fixture also asserts that no request leaves this computer."""
from __future__ import annotations

import re
import time

import pytest
import torch
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PROMPT = "Once upon a time, in a small village by the sea, there lived"
INJECTED = """() => ({
  img: document.querySelectorAll('img[src="x"], img[onerror]').length,
  script: [...document.scripts].filter(s => s.textContent.includes('alert(1)')).length,
})"""


def greedy_continuation(lm, text: str, n: int) -> str:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n)
    return lm.tokenizer.decode(out[0, ids.shape[1]:])


def tokens(page):
    return page.locator('[data-testid="tx-generated"]').last.locator(".tx-tok")


def generated_text(page) -> str:
    return "".join(tokens(page).all_text_contents())


def click(page, label: str) -> None:
    """Our buttons by their widget key (the header has a "Stop" button of its own while a script runs)."""
    key = {"Generate": "gen_go", "Stop": "gen_stop"}[label]
    page.locator(f".st-key-{key} button").click()


def wait_done(app, page, timeout: float = 120_000) -> None:
    expect(page.locator(".tx-cursor")).to_have_count(0, timeout=timeout)
    app.wait_idle(timeout)


def generate(app, page) -> None:
    """Click Generate, wait until a NEW run is on screen (each run has its own data-run) and has finished."""
    output = page.locator('[data-testid="tx-generated"]')
    before = output.last.get_attribute("data-run") if output.count() else None
    if before is None:  # a page just opened: press when its first run has drawn all of it, as a reader would
        expect(page.get_by_text(re.compile("The text streams in token by token|文本会一个词元一个词元地流式出现"))
               ).to_be_visible(timeout=120_000)
        app.wait_idle()
    click(page, "Generate")
    if before is None:
        expect(output.last).to_be_attached(timeout=60_000)
    else:
        expect(output.last).not_to_have_attribute("data-run", before, timeout=60_000)
    wait_done(app, page)


def test_generate_streams_the_greedy_continuation(app, smollm2):
    n = 48
    page = app.open("/generate", text=PROMPT, mode="greedy", max_new_tokens=str(n))
    app.wait_idle()
    expected = greedy_continuation(smollm2, PROMPT, n)
    click(page, "Generate")
    # streaming: the page shows a partial continuation (with the cursor) before the whole one
    seen = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        count = tokens(page).count()
        seen.add(count)
        if count and page.locator(".tx-cursor").count() == 0:
            break
        page.wait_for_timeout(40)
    partial = sorted(c for c in seen if 0 < c < n)
    assert partial, f"no partial output seen while streaming (counts seen: {sorted(seen)})"
    wait_done(app, page)
    assert generated_text(page) == expected
    expect(page.get_by_text(f"{n} tokens in", exact=False)).to_be_visible()
    # the alternatives chart of the selected token, and the link to the attention page
    # (the KV cache lesson's charts sit in a closed expander above: count only the alternatives chart)
    expect(page.locator(".js-plotly-plot", has_text="The model's top 10 for token #0")).to_have_count(1)
    link = page.get_by_role("link", name="Open this text on the Attention page")
    assert "attention?model=smollm2-135m&text=" in link.get_attribute("href")
    assert app.exceptions().count() == 0
    app.screenshot("generate-greedy", canonical="generate")


def test_stop_stops_the_stream(app):
    page = app.open("/generate", text=PROMPT, mode="greedy", max_new_tokens="256")
    app.wait_idle()
    click(page, "Generate")
    expect(tokens(page).nth(3)).to_be_attached(timeout=60_000)
    click(page, "Stop")
    app.wait_idle()
    expect(page.get_by_text("stopped by you", exact=False)).to_be_visible()
    n = tokens(page).count()
    assert 3 < n < 256
    page.wait_for_timeout(1500)
    assert tokens(page).count() == n  # nothing arrives after Stop
    assert app.exceptions().count() == 0


def test_same_seed_gives_the_same_text(app):
    page = app.open("/generate", text=PROMPT, mode="sample", seed="42", temperature="1.1", max_new_tokens="12")
    app.wait_idle()
    generate(app, page)
    first = generated_text(page)
    generate(app, page)
    assert generated_text(page) == first and first


def test_hostile_prompt_is_shown_literally(app, browser_log):
    payload = "<img src=x onerror=alert(1)><script>alert(1)</script>"
    page = app.open("/generate", text=payload, max_new_tokens="4")
    app.wait_idle()
    generate(app, page)
    prompt = page.locator('[data-testid="tx-generated"]').last.locator(".tx-prompt")
    expect(prompt).to_have_text(payload)
    assert page.evaluate(INJECTED) == {"img": 0, "script": 0}
    assert browser_log.dialogs == []
    assert app.exceptions().count() == 0


def test_chinese_page_generates_the_same_tokens_and_the_switch_keeps_the_settings(app, smollm2):
    n = 8
    page = app.open("/generate", lang="zh", text=PROMPT, mode="greedy", max_new_tokens=str(n))
    expect(page.locator("h1").first).to_contain_text("生成：一次一个词元", timeout=90_000)
    app.wait_idle()
    main = page.locator('[data-testid="stMain"]')
    # in the collapsed "details for this model" (#25 item 16): present, not necessarily shown
    expect(main.get_by_role("link", name="束搜索", include_hidden=True).first).to_have_attribute(
        "href", re.compile(r"term=beam-search"))
    generate(app, page)
    assert generated_text(page) == greedy_continuation(smollm2, PROMPT, n)  # the engine's numbers, any language
    expect(main).to_contain_text(f"{n} 个词元，用时")
    expect(page.locator(".js-plotly-plot", has_text="第 #0 个词元处模型的前 10 名")).to_have_count(1)
    expect(main.get_by_role("link", name="在注意力页面打开这段文本")).to_be_visible()
    assert app.exceptions().count() == 0
    app.screenshot("generate-zh", canonical="generate-zh")
    page.locator('[data-testid="stSidebar"]').get_by_text("English", exact=True).click()  # the language switch
    expect(page.locator("h1").first).to_contain_text("Generate: one token at a time", timeout=60_000)
    expect(main).to_contain_text(f"{n} tokens in", timeout=60_000)  # the finished run is still there
    assert app.query().get("lang", ["en"]) == ["en"]
    assert app.query()["max_new_tokens"] == [str(n)]
    assert app.exceptions().count() == 0
