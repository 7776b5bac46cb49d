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
        assert t.text in body
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
