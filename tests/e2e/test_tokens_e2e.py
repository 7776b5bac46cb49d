"""The Overview and Tokens pages in a real browser against the real server (serve.py).

Every test also checks, in the ``page`` fixture's teardown, that the browser made no request outside
this computer. Expected token ids always come from the model's own tokenizer, never hard-coded.
"""
from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

DEFAULT_TEXT = "students celebrate the graduation with a big party"


def ids_of(tokenizer, model_id: str, text: str) -> list[int]:
    return list(tokenizer(model_id)(text)["input_ids"])


def metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(rf"^\s*{label}\s*$"))
    ).locator('[data-testid="stMetricValue"]')


def test_tokens_default_chips_are_the_tokenizer_ids(app, tokenizer):
    page = app.open("/tokens")
    app.wait_for_chips()
    expected = ids_of(tokenizer, "smollm2-135m", DEFAULT_TEXT)
    assert app.chip_ids() == expected
    expect(app.sidebar_text()).to_have_value(DEFAULT_TEXT)
    expect(metric(page, "Tokens")).to_have_text(str(len(expected)))
    # side by side: the same text in both families' tokenizers
    blocks = [app.chip_ids(i) for i in range(page.locator(".tx-chips").count())]
    assert ids_of(tokenizer, "minilm-l6", DEFAULT_TEXT) in blocks[1:]
    # the URL is a link to this view
    q = app.query()
    assert q["model"] == ["smollm2-135m"] and q["text"] == [DEFAULT_TEXT]
    assert app.exceptions().count() == 0
    app.screenshot("tokens-smollm2-default", canonical="tokens")


def test_tokens_encoder_default_text(app, tokenizer):
    page = app.open("/tokens", model="minilm-l6")
    app.wait_for_chips()
    expected = ids_of(tokenizer, "minilm-l6", DEFAULT_TEXT)
    ids = app.chip_ids()
    assert ids == expected and ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]
    expect(page.locator(".tx-chips").first.locator(".tx-chip.tx-special")).to_have_count(2)
    assert app.exceptions().count() == 0
    app.screenshot("tokens-minilm-default", canonical="tokens-minilm")


def test_tokens_encoder_from_url(app, tokenizer):
    text = "Tokenizers split unbelievably rare words into pieces."
    page = app.open("/tokens", model="minilm-l6", text=text)
    app.wait_for_chips()
    expected = ids_of(tokenizer, "minilm-l6", text)
    ids = app.chip_ids()
    assert ids[0] == 101 and ids[-1] == 102
    assert len(ids) == len(expected) and ids == expected
    expect(metric(page, "Tokens")).to_have_text(str(len(expected)))
    expect(app.sidebar_text()).to_have_value(text)
    assert app.query()["model"] == ["minilm-l6"]


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "[link](javascript:alert(1))",
    "**bold** # heading",
]

INJECTED = """() => ({
  img: document.querySelectorAll('img[src="x"], img[onerror]').length,
  svg: document.querySelectorAll('svg[onload]').length,
  script: [...document.scripts].filter(s => s.textContent.includes('alert(1)')).length,
  js_links: [...document.querySelectorAll('a[href]')].filter(a => /^\\s*javascript:/i.test(a.getAttribute('href'))).length,
  bold: [...document.querySelectorAll('strong, b')].filter(e => e.textContent.trim() === 'bold').length,
  heading: [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(e => e.textContent.trim() === 'heading').length,
})"""


@pytest.mark.parametrize("payload", XSS_PAYLOADS, ids=["script", "img-onerror", "svg-onload", "js-link", "markdown"])
def test_text_from_url_is_shown_literally_never_executed(app, browser_log, payload):
    page = app.open("/tokens", text=payload)
    app.wait_for_chips()
    expect(app.sidebar_text()).to_have_value(payload)
    # the chips spell the payload (byte-level BPE writes a space as "Ġ"; visible() writes "␣")
    pieces = app.chip_pieces()
    assert "".join(pieces).replace("Ġ", " ").replace("␣", " ") == payload
    assert page.evaluate(INJECTED) == {"img": 0, "svg": 0, "script": 0, "js_links": 0, "bold": 0, "heading": 0}
    assert browser_log.dialogs == []
    assert app.exceptions().count() == 0


def test_bad_model_id_warns_and_falls_back(app, tokenizer, browser_log):
    page = app.open("/tokens", model="nope")
    app.wait_for_chips()
    warning = app.alerts().filter(has_text="nope")
    expect(warning).to_have_count(1)
    expect(warning).to_be_visible()
    assert app.chip_ids() == ids_of(tokenizer, "smollm2-135m", DEFAULT_TEXT)
    assert app.query()["model"] == ["smollm2-135m"]  # the link now names the model actually shown
    assert app.exceptions().count() == 0
    assert page.evaluate(INJECTED)["img"] == 0


def test_bad_model_payload_in_warning_is_not_executed(app, browser_log):
    payload = "<img src=x onerror=alert(1)>[x](javascript:alert(1))"
    page = app.open("/tokens", model=payload)
    app.wait_for_chips()
    expect(app.alerts().filter(has_text="was not used")).to_have_count(1)
    counts = page.evaluate(INJECTED)
    assert counts["img"] == 0 and counts["svg"] == 0 and counts["script"] == 0 and counts["js_links"] == 0
    assert browser_log.dialogs == []


def test_editing_the_text_updates_chips_and_url(app, tokenizer):
    page = app.open("/tokens")
    app.wait_for_chips()
    new_text = "The cat sat on the mat."
    expected = ids_of(tokenizer, "smollm2-135m", new_text)
    assert app.chip_ids() != expected
    box = app.sidebar_text()
    box.fill(new_text)
    box.press("Control+Enter")
    expect(page).to_have_url(re.compile(r"[?&]text=The(\+|%20)cat(\+|%20)sat"))
    expect(app.chips()).to_have_count(len(expected))
    app.wait_idle()
    assert app.chip_ids() == expected
    assert app.query()["text"] == [new_text]
    expect(metric(page, "Tokens")).to_have_text(str(len(expected)))
    # the address bar is a working link: opening it in a new session shows the same view
    app.open("/tokens", query=urllib.parse.urlsplit(page.url).query)
    app.wait_for_chips()
    assert app.chip_ids() == expected


def test_token_selectbox_writes_token_to_url(app):
    page = app.open("/tokens")
    app.wait_for_chips()
    assert "token" not in app.query()  # default (0) is left out of the link
    select = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=re.compile(r"^\s*Token\s*$"))
    )
    expect(select).to_have_count(1)
    select.click()
    page.get_by_role("option", name=re.compile(r"^#3\s")).click()
    expect(page).to_have_url(re.compile(r"[?&]token=3(&|$)"))
    expect(app.chips().nth(3)).to_have_class(re.compile(r"\btx-selected\b"))
    app.wait_idle()
    assert app.query()["token"] == ["3"]
    assert app.exceptions().count() == 0
    # and a link with token=N selects that token
    app.open("/tokens", token="2")
    app.wait_for_chips()
    expect(app.chips().nth(2)).to_have_class(re.compile(r"\btx-selected\b"))


def test_empty_text_shows_a_prompt(app):
    page = app.open("/tokens", query="text=")
    expect(page.get_by_text("Type or paste some text", exact=False)).to_be_visible(timeout=60_000)
    app.wait_idle()
    assert app.exceptions().count() == 0
    assert page.locator(".tx-chip").count() == 0
    expect(app.sidebar_text()).to_have_value("")


def test_home_renders_and_links_to_tokens(app, tokenizer):
    page = app.open("/")
    expect(page.get_by_role("heading", name="How a language model reads text")).to_be_visible(timeout=60_000)
    app.wait_idle()
    assert app.exceptions().count() == 0
    app.screenshot("overview", canonical="overview")
    link = page.locator('[data-testid="stMain"] [data-testid="stPageLink"] a', has_text="Tokens: how text becomes")
    expect(link).to_have_count(1)
    link.click()
    expect(page).to_have_url(re.compile(r"/tokens(\?|$)"))
    app.wait_for_chips()
    assert app.chip_ids() == ids_of(tokenizer, "smollm2-135m", DEFAULT_TEXT)


def test_rejected_url_value_is_quoted_literally(app):
    payload = "**bold** [log in here](https://example.org)"
    app.open("/tokens", model=payload)
    app.wait_for_chips()
    warning = app.alerts().filter(has_text="was not used")
    expect(warning).to_have_count(1)
    assert warning.locator("a[href]").count() == 0
    expect(warning).to_contain_text(payload)


def test_chinese_text_in_chinese_explains_its_byte_pieces(app, tokenizer):
    text = "今天天气很好，我们去公园散步。"
    page = app.open("/tokens", lang="zh", text=text)
    app.wait_for_chips()
    ids = ids_of(tokenizer, "smollm2-135m", text)
    assert app.chip_ids() == ids
    expect(page.locator("h1")).to_contain_text("词元（token）：文本 → 片段 → ID")
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("你的文本里有 13 个汉字，共 39 个 UTF-8 字节")
    han_ids = [i for i in ids if tokenizer("smollm2-135m").decode([i]) not in "，。"]  # punctuation: whole pieces
    expect(main).to_contain_text(f"一共占了 {len(han_ids)} 个词元")
    # striped chips are byte pieces: each holds only part of a character's 3 bytes
    assert app.chips().locator(":scope.tx-partial").count() > 0
    expect(main).to_contain_text("（U+4ECA）的 3 个 UTF-8 字节中的")
    assert app.exceptions().count() == 0
    app.screenshot("tokens-zh-bytes")
