"""Every page of tests/fuzz/pages.py through the real app.py (AppTest) with hostile links.

Properties for each generated link (model, text and the page's own parameters; some repeated):
* the run raises nothing (``at.exception`` is empty) and no element shows traceback text;
* every value that must be rejected (a number out of range, NaN, an unknown model id, 100 KB of text...)
  produces a warning that names its parameter; a value that must be used produces none;
* changing the text in the sidebar afterwards still runs cleanly.
Models are cached across AppTest runs in one process (st.cache_resource), so a case costs ~0.5-2 s.
"""
from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.runtime.state.query_params import CLIENT_STATE_QUERY_STRING_MAX_LENGTH
from streamlit.testing.v1 import AppTest

from models.registry import DEFAULT_MODEL, REGISTRY
from tests.app.helpers import APP, switch_to
from tests.fuzz.pages import PAGES, SHARED, Page
from tests.fuzz.record import count, sized
from tests.fuzz.strategies import ANY, OK, REJECT, is_huge, text_values, url_params, values_for

TRACEBACK_MARKS = ("Traceback (most recent call last)", 'File "/', "Error:", "Exception:")
ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "text", "code", "warning", "error", "info",
            "success", "toast", "exception", "json", "latex")


def all_text(at: AppTest) -> list[str]:
    out = []
    for kind in ELEMENTS:
        for el in getattr(at, kind, []):
            value = getattr(el, "value", None) or getattr(el, "body", None)
            if isinstance(value, str):
                out.append(value)
    return out


def layers_and_heads(model_id: str) -> tuple[int, int, int]:
    """(layers, attention heads, key/value heads) of the model."""
    from components.cache import _model  # the same process-wide cache the AppTest runs use

    facts = _model(model_id).facts
    return facts.n_layers, facts.n_heads, facts.n_kv_heads


def check_run(at: AppTest, expectations: dict[str, str]) -> None:
    assert not at.exception, [e.value for e in at.exception]
    shown = all_text(at)
    bad = [s for s in shown if any(m in s for m in TRACEBACK_MARKS[:2])]
    assert not bad, bad
    warnings = [w.value for w in at.warning]
    for name, expect in expectations.items():
        named = [w for w in warnings if f"link's {name}=" in w or f"link's {name} " in w]
        if expect == REJECT:
            assert len(named) == 1, f"{name}: expected one warning naming it, got {warnings}"
            assert "\n" not in named[0]
        elif expect == OK:
            assert not named, f"{name}: a good value was reported as bad: {named}"


@st.composite
def link(draw, page: Page) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(query params, expectation per param) for one hostile link to ``page``."""
    params: dict[str, list[str]] = {}
    expect: dict[str, str] = {}
    model = DEFAULT_MODEL
    if draw(st.booleans()):
        values = draw(st.lists(values_for(SHARED["model"], 0), min_size=1, max_size=2))
        raw, ok = values[-1]
        if raw in REGISTRY and ok != OK:  # a hub id: falls back with its own notice (tests/unit/test_faults.py)
            raw, ok = DEFAULT_MODEL, OK
            values[-1] = (raw, ok)
        if any(is_huge(v) for v, _ in values):  # a ~100 KB value anywhere: the parameter is dropped (one warning)
            ok = REJECT
        params["model"] = [v for v, _ in values]
        expect["model"] = ok
        model = raw if ok == OK else DEFAULT_MODEL
    if draw(st.booleans()):
        values = draw(st.lists(values_for(SHARED["text"], 0), min_size=1, max_size=2))
        params["text"] = [v for v, _ in values]
        expect["text"] = values[-1][1]
    decoder = REGISTRY[model].head == "causal-lm"
    for name, (values, ok) in draw(url_params(page.params, *layers_and_heads(model))).items():
        params[name] = values
        expect[name] = ok if decoder or name not in page.decoder_only else ANY
    return params, expect


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.id)
@given(data=st.data())
@sized(ci=9, full=130)
def test_hostile_links_never_break_a_page(page, data):
    params, expect = data.draw(link(page), label="link")
    count(f"apptest/{page.id}")
    at = AppTest.from_file(APP, default_timeout=180)
    for name, values in params.items():
        at.query_params[name] = values if len(values) > 1 else values[0]
    if len(urllib.parse.urlencode(params, doseq=True)) > CLIENT_STATE_QUERY_STRING_MAX_LENGTH:
        # Streamlit's server ignores a query string over 512 Ki characters (it logs a warning): the page
        # opens with the defaults, and no parameter is seen, so none can be reported.
        expect = {name: ANY for name in expect}
    switch_to(at, page.file)
    at.run()
    check_run(at, expect)
    if data.draw(st.integers(0, 3), label="then type") == 0:  # a quarter of the cases: then edit the text
        at.text_area(key="text").input(data.draw(text_values(), label="typed text")).run()
        check_run(at, {k: v for k, v in expect.items() if v == ANY})
