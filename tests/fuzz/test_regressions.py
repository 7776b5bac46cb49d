"""Bugs the fuzz and load harnesses found, each pinned by the smallest test that showed it."""
from __future__ import annotations

from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox

from tests.app.helpers import APP


def test_tokens_page_survives_a_stale_selectbox_label(monkeypatch):
    """Found by `make load` (texts typed one after another in the browser): the browser keeps sending the
    LABEL it shows for the token selectbox ("#0  students  (id 29489)"); after the text changed that label
    is no longer an option, Streamlit 1.67 then hands the label itself (a str) to the page as the value,
    and the Tokens page compared it with an int: "This app has encountered an error".
    AppTest formats the value with the NEW labels, so the browser's message is sent by hand here."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("app_pages/tokens.py")
    at.run()
    # the picker's key follows the text (#25 item 11): find it by its prefix
    box = next(b for b in at.selectbox if str(b.key or "").startswith("token_pick_"))
    stale = box.options[box.index]  # what the browser shows, and sends back on the next run
    monkeypatch.setattr(Selectbox, "_widget_state",
                        property(lambda self: WidgetState(id=self.id, string_value=stale)))
    for text in ("Text 000: a completely different sentence", "Text 001: and yet another one"):
        at.text_area(key="text").input(text).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["token"] == 0
    assert at.get("metric")[1].value == str(len(at.get("selectbox")[0].options))  # the page ran to the end


def test_attention_qk_survives_a_stale_query_label(monkeypatch):
    """The same browser behaviour on the Attention page's query selectbox, whose labels ("5 ␣party") depend
    on the text: after a text change the stale label comes back as a str and must fall back to the last token."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["view"] = "qk"
    at.switch_page("app_pages/attention.py")
    at.run()
    box = at.selectbox(key="query")
    stale = box.options[box.index]
    monkeypatch.setattr(Selectbox, "_widget_state",
                        property(lambda self: WidgetState(id=self.id, string_value=stale)))
    for text in ("a completely different sentence", "and yet another one, longer than the first"):
        at.text_area(key="text").input(text).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["query"] == len(at.selectbox(key="query").options) - 1
        assert any("max difference from the attention" in s.value for s in at.success)
