"""The glossary page through the real app.py: every entry has its heading with the anchor glossary_link uses,
and links from the tour land on existing entries."""
from __future__ import annotations

import re

from components import glossary
from tests.app.helpers import run_page


def test_every_entry_has_its_anchor():
    at = run_page("app_pages/glossary.py")
    headings = {h.proto.anchor: h.value for h in at.subheader}
    for t in glossary.TERMS:
        assert headings.get(t.anchor) == t.name
    body = " ".join(m.value for m in at.markdown)
    for t in glossary.TERMS:
        assert t.body() in body  # placeholders filled ("at most 512 tokens": models.tokens.MAX_TOKENS)
    assert "{" not in body
    assert at.session_state["active_model"]  # the sidebar still works on this page


def test_tour_links_point_at_existing_entries():
    at = run_page("app_pages/home.py", step="5")
    links = re.findall(r"\]\(/glossary\?term=([a-z0-9-]+)#\1\)", " ".join(m.value for m in at.markdown))
    assert {"softmax", "causal-mask", "gqa", "query-key-value"} <= set(links)
    anchors = {t.anchor for t in glossary.TERMS}
    assert set(links) <= anchors


def test_presentation_mode_is_kept_on_the_glossary():
    at = run_page("app_pages/glossary.py", present="1")
    assert at.query_params["present"] == "1"
    assert any(".tx-piece" in h.proto.body and "font-size" in h.proto.body for h in at.get("html"))


# ----------------------------------------------------------------------------------- in Chinese (issue #7)
ZH = __import__("i18n").translations("zh")


def test_glossary_in_chinese_keeps_the_english_anchors():
    at = run_page("app_pages/glossary.py", lang="zh")
    assert at.title[0].value == ZH.gettext("Glossary") != "Glossary"
    headings = {h.proto.anchor: h.value for h in at.subheader}
    assert list(headings) == [t.anchor for t in glossary.TERMS]  # the same anchors as in English
    for t in glossary.TERMS:
        zh = ZH.gettext(t.name)
        assert headings[t.anchor] == (t.name if zh == t.name else f"{zh} ({t.name})")  # "词元 (token)"
    assert headings["token"] == f"{ZH.gettext('token')} (token)" != "token"
    body = " ".join(m.value for m in at.markdown)
    for t in glossary.TERMS:
        assert t.body(ZH.gettext) in body and t.body(str) not in body
    assert re.findall(r"\]\(#([a-z0-9-]+)\)", body) == [t.anchor for t in glossary.TERMS]  # the index
    pages = re.findall(r"\]\((/[a-z-]+[^)]*)\)", body)  # "where the app shows it": a new session, same language
    assert len(pages) == len([t for t in glossary.TERMS if t.see]) and all(u.endswith("?lang=zh") for u in pages)


def test_english_glossary_links_carry_no_language():
    at = run_page("app_pages/glossary.py")
    assert "lang=" not in " ".join(m.value for m in at.markdown)


def test_tour_links_in_chinese_point_at_the_same_entries():
    at = run_page("app_pages/home.py", step="5", lang="zh")
    text = " ".join(m.value for m in at.markdown)
    links = re.findall(r"\]\(/glossary\?term=([a-z0-9-]+)&lang=zh#\1\)", text)
    assert {"softmax", "causal-mask", "gqa", "query-key-value"} <= set(links) <= {t.anchor for t in glossary.TERMS}
    assert not re.findall(r"\]\(/glossary\?term=[a-z0-9-]+#", text)  # none without the language


# --------------------------------------------------------------------------- true for the models (issue #18)
def test_glossary_entries_fixed_for_the_bundled_models():
    at = run_page("app_pages/glossary.py")
    body = " ".join(m.value for m in at.markdown)
    headings = {h.proto.anchor for h in at.subheader}
    assert {"feed-forward-network", "sentence-embedding"} <= headings
    assert "small feed-forward" not in body
    assert "most of a block's parameters" in body
    assert "how BERT was trained" not in body and "next-sentence prediction" in body and "15%" in body
    assert "the most likely whole sequence wins" not in body and "divided by their length" in body
    assert "√d_head" in body


def test_chinese_glossary_divides_the_logits_by_the_temperature():
    at = run_page("app_pages/glossary.py", lang="zh")
    body = " ".join(m.value for m in at.markdown)
    assert "去除" not in body and "把 logit 除以温度" in body
    assert "BOS 词元" not in body
    assert ZH.gettext("feed-forward network") != "feed-forward network" and "75%" in body
