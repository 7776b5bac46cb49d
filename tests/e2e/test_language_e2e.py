"""The language switch in real Chromium: the sidebar switch turns the page Chinese, `lang=zh` goes into the
address and stays when you move to another page; a link with `lang=zh` opens in Chinese. Expected words come
from the catalogue (i18n), so the test follows the translation instead of repeating it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from i18n import translations

pytestmark = pytest.mark.e2e

ZH = translations("zh").gettext
ZH_TEXT = "我爱自然语言处理。"


def nav_link(page, title: str):
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)


def test_switch_to_chinese_and_keep_it_across_pages(app):
    page = app.open("/tokens", text="students celebrate the graduation with a big party")
    app.wait_for_chips()
    app.wait_idle()
    expect(nav_link(page, "Attention")).to_be_visible()
    page.locator('[data-testid="stSidebar"] button', has_text="简体中文").click()
    expect(nav_link(page, ZH("Attention"))).to_be_visible(timeout=60_000)
    app.wait_for_query(lang="zh")
    app.wait_for_chips()
    expect(page.get_by_text(ZH("Model facts: {model}").format(model="SmolLM2-135M-Instruct"))).to_be_visible()
    app.wait_idle()
    nav_link(page, ZH("Attention")).click()
    expect(page.locator('[data-testid="stMain"] button', has_text=ZH("All heads"))).to_be_visible(timeout=120_000)
    app.wait_idle()
    app.wait_for_query(lang="zh")
    expect(nav_link(page, ZH("Glossary"))).to_be_visible()
    assert app.exceptions().count() == 0
    page.locator('[data-testid="stSidebar"] button', has_text="English").click()
    expect(nav_link(page, "Glossary")).to_be_visible(timeout=60_000)
    app.wait_for_query(lang=None)


def test_chinese_link_opens_in_chinese(app):
    page = app.open("/tokens", lang="zh", text=ZH_TEXT)
    app.wait_for_chips()
    app.wait_idle()
    expect(nav_link(page, ZH("Tokens"))).to_be_visible()
    assert app.exceptions().count() == 0
    app.screenshot("tokens-zh", canonical="tokens-zh")
