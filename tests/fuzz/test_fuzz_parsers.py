"""Cheap properties, many cases: every parser a URL value or the text goes through, fed hostile input directly.

These cover what AppTest cannot send: lone surrogates and invalid UTF-8 percent-encodings in a raw query
string (the browser's address bar can carry them; Streamlit's server decodes the query string itself).
"""
from __future__ import annotations

import html
import re
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from components import state
from components.widgets import md_literal, visible
from models import similarity as sim
from models.registry import REGISTRY
from tests.fuzz.pages import PAGES, SHARED, Choice, Float, Int, Text
from tests.fuzz.record import count, sized
from tests.fuzz.strategies import ANY, BIG, OK, REJECT, choice_values, float_values, int_values, text_values

ANY_UNICODE = st.text(st.characters(), max_size=200)  # lone surrogates included
WITH_SURROGATES = st.lists(st.one_of(ANY_UNICODE, st.sampled_from(["\ud800", "\udfff", "a\udc80b", "\ud83d"])),
                           max_size=6).map("".join)


def one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message and "Traceback" not in message


@given(st.one_of(WITH_SURROGATES, text_values(BIG)))
@sized(ci=40, full=400)
def test_clean_text_always_gives_valid_capped_unicode(value):
    count("parser/clean_text")
    out = state.clean_text(value)
    out.encode("utf-8")  # no lone surrogate survives: this would raise UnicodeEncodeError
    assert len(out) <= state.MAX_TEXT_CHARS
    assert state.clean_text(out) == out
    if not re.search("[\ud800-\udfff]", value):
        assert out == value[:state.MAX_TEXT_CHARS]


@given(st.integers(-1000, 1000), st.integers(0, 1000), st.data())
@sized(ci=40, full=400)
def test_int_params_accept_in_range_and_reject_with_a_reason(lo, width, data):
    count("parser/int_in")
    hi = lo + width
    raw, expect = data.draw(int_values(lo, hi))
    try:
        value = state.int_in(lo, hi)(raw)
    except ValueError as e:
        assert expect in (REJECT, ANY), f"{raw!r} should be accepted"
        assert one_line(str(e))
    else:
        assert expect in (OK, ANY), f"{raw!r} should be rejected, got {value}"
        assert type(value) is int and lo <= value <= hi
        if expect == OK:
            assert value == int(raw.strip())


@given(st.floats(-10, 10, allow_nan=False), st.floats(0, 10, allow_nan=False), st.data())
@sized(ci=20, full=300)
def test_float_params_accept_in_range_and_reject_with_a_reason(lo, width, data):
    count("parser/float_in")
    hi = lo + width
    raw, expect = data.draw(float_values(lo, hi))
    try:
        value = state.float_in(lo, hi)(raw)
    except ValueError as e:
        assert expect in (REJECT, ANY), f"{raw!r} should be accepted in [{lo}, {hi}]"
        assert one_line(str(e))
    else:
        assert expect in (OK, ANY), f"{raw!r} should be rejected, got {value}"
        assert lo <= value <= hi and value == value


@given(choice_values(tuple(REGISTRY)))
@sized(ci=25, full=300)
def test_model_param_accepts_registry_ids_only(case):
    count("parser/model")
    raw, expect = case
    try:
        value = state.parse_model(raw)
    except ValueError as e:
        assert expect == REJECT and raw not in REGISTRY
        assert one_line(str(e))
    else:
        assert expect == OK and value == raw and value in REGISTRY


# ------------------------------------------------------------------------ raw query strings (server side)
PERCENT_JUNK = ["%ff", "%fe%ff", "%ED%A0%80", "%ed%bf%bf", "%F0%9F", "%C0%AF", "%", "%%", "%zz", "%u0041", "+",
                "%00", "%0A", "%E2%80%AE", "&", "=", "==", ";"]


@st.composite
def raw_query(draw) -> str:
    names = sorted({*SHARED, *(n for p in PAGES for n in p.params)})
    parts = []
    for _ in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(names))
        pieces = draw(st.lists(st.one_of(st.sampled_from(PERCENT_JUNK),
                                         st.text(st.characters(exclude_categories=["Cs"]), max_size=10)
                                         .map(urllib.parse.quote)), max_size=5))
        parts.append(f"{name}={''.join(pieces)}")
    return "&".join(parts)


def _parser(name: str, page_params: dict):
    kind = page_params.get(name) or SHARED[name]
    if name == "model":
        return state.parse_model
    if isinstance(kind, Int):
        return state.int_in(*kind.bounds(30, 9))
    if isinstance(kind, Float):
        return state.float_in(kind.lo, kind.hi)
    if isinstance(kind, Choice):
        def choice(value: str) -> str:
            if value not in kind.options:
                raise ValueError("not an option")
            return value
        return choice
    assert isinstance(kind, Text)
    return state.parse_text


@given(raw_query())
@sized(ci=30, full=300)
def test_invalid_utf8_in_a_raw_query_string_reaches_the_parsers_as_valid_text(query):
    """Streamlit's server parses the browser's query string itself; invalid UTF-8 becomes U+FFFD there, and
    every page parameter's parser then either takes the value or rejects it with a one-line reason."""
    count("parser/raw_query_string")
    from streamlit.runtime.state.query_params import _parse_query_string

    parsed = _parse_query_string(query)
    for page in PAGES:
        for name, values in parsed.items():
            if name not in page.params and name not in SHARED:
                continue
            for value in values:
                value.encode("utf-8")
                try:
                    out = _parser(name, page.params)(value)
                except ValueError as e:
                    assert one_line(str(e))
                else:
                    if isinstance(out, str):
                        out.encode("utf-8")


# ---------------------------------------------------------------------- list parsers of the pages
@given(text_values(BIG))
@sized(ci=25, full=300)
def test_word_and_sentence_lists_never_fail(raw):
    count("parser/lists")
    for parse in (sim.parse_words, sim.parse_sentences):
        items, notices = parse(state.clean_text(raw))
        assert all(isinstance(i, str) and i.strip() == i and i for i in items)
        assert all(one_line(n) for n in notices)
    pairs, notices = sim.parse_groups(state.clean_text(raw))
    assert all(w for _, w in pairs) and all(one_line(n) for n in notices)


# ------------------------------------------------------------------------- escaping into Markdown
_MD = MarkdownIt("commonmark")


@given(st.one_of(text_values(), ANY_UNICODE))
@sized(ci=40, full=400)
def test_md_literal_renders_exactly_the_visible_text(value):
    """User text quoted with md_literal renders (CommonMark) as one code span holding the text itself:
    no tag, link, emphasis or HTML comes out of it, whatever it contains."""
    count("parser/md_literal")
    rendered = _MD.renderInline(md_literal(value))
    assert re.fullmatch(r"<code>[^<>]*</code>", rendered), rendered
    shown = html.unescape(rendered[len("<code>"):-len("</code>")])
    expected = "".join(c if c == " " else visible(c) for c in value)
    # CommonMark strips one leading and trailing space of a code span when both are there
    assert shown == expected or shown.strip() == expected.strip()


@given(st.integers(1, 3 * BIG), st.sampled_from(["9", "0", "-9", " ", "+1", "1.0"]), st.integers(-5, 5),
       st.integers(0, 600))
@sized(ci=25, full=300)
def test_whole_numbers_of_any_length_are_refused_with_a_range_not_a_crash(n, unit, lo, width):
    """Issue 25 #19: Python's int() refuses over 4,300 digits (leading zeros included); a link value of any length
    must still give a one-line reason (or a number in range), never another exception."""
    count("parser/int_long")
    value = (unit * (n // len(unit) + 1))[:n]
    try:
        got = state.int_in(lo, lo + width)(value)
    except ValueError as e:
        assert one_line(str(e)) and "digits" not in str(e)
    else:
        assert lo <= got <= lo + width and len(value.strip().lstrip("+-").lstrip("0")) <= 30


@given(st.integers(0, 3 * BIG), st.sampled_from(["text", "beams", "sentences", "layer", "x"]))
@sized(ci=25, full=300)
def test_only_the_shared_text_may_be_longer_than_the_parameter_cap(n, name):
    count("parser/too_long")
    assert state.too_long(name, ["a" * n]) == (name != "text" and n > state.MAX_PARAM_CHARS)
