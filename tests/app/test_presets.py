"""Every preset link opens its page through the real app.py without an exception, with the link's model, text
and controls applied (no value rejected); a preset followed inside a running session replaces kept values."""
from __future__ import annotations

import html
import urllib.parse

import pytest

from streamlit.testing.v1 import AppTest

from components import presets
from tests.app.helpers import APP, session_language_in_test_thread


LINKS = presets.all_links()
SKIP = {"model", "text", presets.PRESET_PARAM}


def open_link(url: str) -> AppTest:
    """Open an app link as a browser would: its path's page with its query. The app runs once first (AppTest maps
    a page file to its st.Page only after st.navigation ran; next-token's url_path differs from its file name)."""
    page_file, query = presets.parse_url(url)
    at = AppTest.from_file(APP, default_timeout=300)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page_file).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["_current_page"] == page_file.split("/")[1].removesuffix(".py").replace("_", "-")
    return at


def follow_link(at: AppTest, url: str) -> None:
    """Follow an app link inside the running session (as st.page_link does): the address bar becomes the link's."""
    page_file, query = presets.parse_url(url)
    for k in list(at.query_params):
        del at.query_params[k]
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(page_file)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def widget_value(at, name: str):
    """A page parameter's value in the session (the Similarity and Block pages prefix their keys)."""
    for key in (name, f"sim_{name}", f"blk_{name}"):  # /block prefixes its keys too
        if key in at.session_state:
            return at.session_state[key]
    raise AssertionError(f"{name} is not in the session")


def same(value, raw: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value).replace("\n", "|") == raw.replace("\n", "|") or str(value) == raw
    return float(value) == float(raw)


@pytest.mark.parametrize("preset, label, url", LINKS, ids=[f"{p.id}:{lbl}" for p, lbl, _ in LINKS])
def test_preset_opens_with_its_values(preset, label, url):
    _, query = presets.parse_url(url)
    at = open_link(url)
    assert not [w.value for w in at.warning if "was not used" in w.value]
    assert at.session_state["model"] == query["model"]
    assert at.session_state["active_model"] == query["model"]
    assert at.session_state["text"] == query["text"]
    for name, raw in query.items():
        if name not in SKIP:
            assert same(widget_value(at, name), raw), (name, widget_value(at, name), raw)
    assert presets.PRESET_PARAM not in at.query_params  # dropped from the address bar once followed


def test_preset_followed_in_a_running_session_replaces_kept_values():
    at = open_link("/next-token?model=smollm2-135m&text=hello%20there&temperature=0.5")
    assert at.session_state["temperature"] == 0.5
    follow_link(at, presets.get("temperature").links()[2][1])  # T = 2
    assert at.session_state["temperature"] == 2.0
    assert at.session_state["text"] == presets.CAPITAL
    # without the preset marker, a session keeps its own values (the link is just the address bar)
    at.query_params["temperature"] = "1.5"
    at.switch_page("app_pages/next_token.py")
    at.run()
    assert at.session_state["temperature"] == 2.0


def test_copy_link_shows_the_address_of_this_view():
    url = presets.get("king-queen").links()[0][1]
    _, query = presets.parse_url(url)
    at = open_link(url)
    at.button(key="copy_link").click().run()
    shown = at.code[0].value
    parts = urllib.parse.urlsplit(shown)
    assert parts.path == "/embeddings"
    got = dict(urllib.parse.parse_qsl(parts.query))
    assert {k: v for k, v in query.items() if k != presets.PRESET_PARAM and k in got} == \
        {k: got[k] for k in query if k in got}
    assert got["model"] == query["model"] and got["text"] == query["text"] and got["word"] == "queen"
    assert presets.PRESET_PARAM not in got


def test_the_tokens_page_computes_no_trace_for_the_export(smollm2):
    """Typing a text on the Tokens page costs no forward pass: the export's caption counts the tokens, and the
    trace (and the files) are made when a download button is clicked (tests/e2e/test_tour_e2e.py downloads)."""
    from components.cache import TRACES, trace_of
    from components.export import TOP_N, build, to_json
    from tests.app.helpers import run_page

    text = "only this test sends this sentence to the tokens page"
    at = run_page("app_pages/tokens.py", model="smollm2-135m", text=text)  # straight to the page, as a link does
    assert ("smollm2-135m", text) not in TRACES
    trace = trace_of(smollm2, text)  # what a click on "Trace as JSON" builds the file from
    assert ("smollm2-135m", text) in TRACES
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert f"{trace.n_tokens} tokens, their ids" in caption
    # not opened yet: the export takes the Attention page's default, layer 1 (block index 0)
    assert f"attention of layer 1 ({trace.attentions.shape[1]} heads), and the top {TOP_N} next tokens" in caption
    assert b'"next_token": [' in to_json(build(trace, 0))


def test_export_offers_the_attention_pages_layer():
    at = open_link("/attention?model=minilm-l6&text=hello%20world&layer=3")
    caption = " ".join(c.value for c in at.sidebar.caption)
    assert "attention of layer 3 (12 heads)" in caption and "next tokens" not in caption  # the page's layer 3
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Trace as JSON" in labels and "Trace as CSV (zip)" in labels
    at = open_link("/tokens?model=smollm2-135m&text=hello%20world")
    assert "attention of layer 1 (9 heads), and the top 20 next tokens" in " ".join(
        c.value for c in at.sidebar.caption)


# ----------------------------------------------------------------------------------- in Chinese (issue #7)
ZH = __import__("i18n").translations("zh")


@pytest.mark.parametrize("preset, label, url", LINKS, ids=[f"{p.id}:{lbl}" for p, lbl, _ in LINKS])
@session_language_in_test_thread()
def test_preset_opens_in_chinese(preset, label, url):
    _, query = presets.parse_url(url)
    at = open_link(url + "&lang=zh")
    assert at.session_state["lang"] == "zh" and at.query_params["lang"] == "zh"
    assert at.session_state["text"] == query["text"] and at.session_state["active_model"] == query["model"]
    assert not [w.value for w in at.warning if "lang" in w.value]


def test_gallery_in_chinese_shows_every_preset():
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception
    bold = [m.value for m in at.markdown if m.value.startswith("**")]
    captions = [c.value for c in at.caption]
    for p in presets.PRESETS:
        assert f"**{html.escape(ZH.gettext(p.title))}**" in bold, p.id
        assert ZH.gettext(p.what) in captions, p.id
    labels = [link.proto.label for link in at.get("page_link")]
    assert ZH.gettext("SmolLM2 (byte-level BPE)") in labels and ZH.gettext("Chinese prompt") in labels
    assert "Open" not in labels and ZH.gettext("Open") in labels
    # the Chinese examples are their own group, after the others
    assert [h.value for h in at.subheader if h.proto.anchor == "chinese-examples"] == [ZH.gettext("Chinese examples")]
    shown = [next(p for p in presets.PRESETS if f"**{html.escape(ZH.gettext(p.title))}**" == b) for b in bold]
    assert [p.chinese for p in shown] == sorted(p.chinese for p in presets.PRESETS)


@session_language_in_test_thread()
def test_preset_followed_in_a_chinese_session_keeps_the_language():
    at = open_link("/tokens?model=smollm2-135m&text=hello&lang=zh")
    follow_link(at, presets.get("chinese-capital").links()[1][1])  # the English prompt
    assert at.session_state["text"] == "The capital of China is" and at.session_state["lang"] == "zh"
    assert at.query_params["lang"] == "zh"  # written back into the address bar
