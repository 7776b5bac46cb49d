"""Hypothesis strategies for hostile input: the shared text and every URL value of a page.

Every URL value is generated together with what the app must do with it: ``OK`` (used, no warning),
``REJECT`` (not used, and a warning names the parameter) or ``ANY`` (either, e.g. arbitrary text for a
number; the other properties still hold). The expectation comes from how the value was built (a number
in range, a number out of range, NaN...), not from the parser under test.
"""
from __future__ import annotations

import math

from hypothesis import strategies as st

from tests.fuzz.pages import Choice, Float, Int, Kind, Text

OK, REJECT, ANY = "ok", "reject", "any"

BIG = 100_000  # components.state.MAX_TEXT_CHARS, spelled out: the contract is "100 KB of text is cut"

RTL = ["مرحبا بالعالم، النص من اليمين إلى اليسار", "שלום עולם, טקסט מימין לשמאל", "abc \u202eevil\u202c def",
       "\u200f\u200e mixed עברית and English"]
EMOJI = ["👩‍👩‍👧‍👦", "👨🏽‍💻 codes 🏳️‍🌈 and 🏴‍☠️", "🇫🇷🇯🇵", "❤️‍🔥" * 20, "e\u0301\u0301\u0301\u0301"]
CONTROL = ["\x00", "\x00\x01\x02\x03\x7f", "\x1b[31mred\x1b[0m", "line\rfeed\x0bvt\x0cff", "\u200b\u200d\u2060\ufeff",
           "\ufffd\ufffd", "\x85\u2028\u2029"]
WHITESPACE = ["", " ", "   \t\n  ", "\n\n\n", "\u3000\u00a0"]
MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
          "**bold** _it_ `code` $x^2$ :red[red]", "</script><script>alert(1)</script>", "&lt;b&gt; &amp;",
          "{{7*7}} ${7*7} %s %d {0}", "../../../../etc/passwd", "\\x00\\u0000", "' OR 1=1 --"]
NUMBERS_AS_TEXT = ["NaN", "nan", "inf", "-inf", "Infinity", "1e309", "-0", "0x1F", "1_000", "١٢", "３", "½",
                   "true", "None", "[1, 2]", '{"a": 1}', "1,5", "1.5", "3.7e2"]


def _no_surrogates(alphabet=None):
    return st.characters(exclude_categories=["Cs"]) if alphabet is None else alphabet


def text_values(max_size: int = 300) -> st.SearchStrategy[str]:
    """Hostile text: named corner cases, random Unicode (no lone surrogates: AppTest has to URL-encode
    them; components.state.clean_text is fuzzed with them directly), and rarely ~100 KB."""
    named = st.sampled_from(RTL + EMOJI + CONTROL + WHITESPACE + MARKUP + NUMBERS_AS_TEXT)
    mixed = st.lists(st.one_of(named, st.text(_no_surrogates(), max_size=40)), min_size=1, max_size=8).map("".join)
    huge = st.sampled_from(["party " * (BIG // 6 + 50), "👩‍👩‍👧‍👦" * (BIG // 10), "x" * (BIG + 1)])
    usual = st.one_of(named, st.text(_no_surrogates(), max_size=min(max_size, 300)), mixed)
    if max_size < BIG:
        return usual
    return st.integers(0, 9).flatmap(lambda i: huge if i == 0 else usual)  # ~1 in 10: 100 KB


def int_values(lo: int, hi: int) -> st.SearchStrategy[tuple[str, str]]:
    inside = st.integers(lo, hi)
    return st.one_of(
        inside.map(lambda n: (str(n), OK)),
        st.tuples(inside, st.sampled_from([" ", "  ", "\t"])).map(lambda t: (f"{t[1]}{t[0]}{t[1]}", OK)),
        st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1)).map(lambda n: (str(n), REJECT)),
        st.just((str(10 ** 30), REJECT)),
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: x != int(x) if x == x and abs(x) != float("inf")
                                                               else True).map(lambda x: (repr(x), REJECT)),
        st.sampled_from(["", " ", "abc", "1.5", "NaN", "nan", "inf", "-inf", "1e3", "0x1", "١", "３", "[1]", "{}",
                         "true", "None", "1,2", "--1", "+-1"]).map(lambda s: (s, REJECT)),
        st.text(_no_surrogates(), max_size=20).map(lambda s: (s, ANY)),
    )


def float_values(lo: float, hi: float) -> st.SearchStrategy[tuple[str, str]]:
    inside = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    whole = st.integers(math.ceil(lo), math.floor(hi)) if math.ceil(lo) <= math.floor(hi) else st.nothing()
    return st.one_of(
        inside.map(lambda x: (f"{x:.4f}", OK if lo <= float(f"{x:.4f}") <= hi else ANY)),
        whole.map(lambda n: (str(n), OK)),
        st.one_of(st.floats(max_value=lo, exclude_max=True, allow_nan=False, allow_infinity=False),
                  st.floats(min_value=hi, exclude_min=True, allow_nan=False, allow_infinity=False))
        .map(lambda x: (f"{x:.6f}", ANY if lo <= float(f"{x:.6f}") <= hi else REJECT)),  # "-0.000000" is 0
        st.sampled_from(["", " ", "abc", "NaN", "nan", "inf", "-inf", "Infinity", "1e-3", "0x1", "١", "1,5", "[1]",
                         "true", "--1", "1.2.3"]).map(lambda s: (s, REJECT)),
        st.text(_no_surrogates(), max_size=20).map(lambda s: (s, ANY)),
    )


def choice_values(options: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str]]:
    return st.one_of(
        st.sampled_from(options).map(lambda s: (s, OK)),
        st.sampled_from(options).map(lambda s: (s.upper(), REJECT)),
        st.sampled_from(options).map(lambda s: (f" {s}", REJECT)),
        st.sampled_from(["", "../../etc/passwd", "/tmp/model", "gpt2 ", "hf://x/y", "file:///etc/passwd",
                         "1", "NaN", "<script>alert(1)</script>"]).map(lambda s: (s, REJECT)),
        st.text(_no_surrogates(), max_size=30).map(lambda s: (s, OK if s in options else REJECT)),
    )


def text_param_values(long_warns: bool, max_chars: int | None = None) -> st.SearchStrategy[tuple[str, str]]:
    """Text is never rejected; the shared text longer than 100 KB is cut with a warning that names it; a text
    with a ``max_chars`` is refused above it (with a warning)."""
    if long_warns:
        return text_values(BIG).map(lambda s: (s, REJECT if len(s) > BIG else OK))
    if max_chars is not None:
        longer = st.integers(1, 50).map(lambda k: "word " * ((max_chars + k) // 5 + 1))
        return st.one_of(text_values(), longer).map(lambda s: (s, REJECT if len(s) > max_chars else OK))
    return text_values().map(lambda s: (s, OK))


HUGE_VALUES = ["9" * BIG, "x" * BIG, "<b>&" * (BIG // 4), "1" + "0" * (BIG - 1)]  # issue 25: ~100 KB values
MAX_PARAM = 50_000  # components.state.MAX_PARAM_CHARS, spelled out: a longer value of any parameter is dropped


def is_huge(value: str) -> bool:
    return len(value) > MAX_PARAM


def values_for(kind: Kind, n_layers: int, n_heads: int = 1, n_kv: int = 1) -> st.SearchStrategy[tuple[str, str]]:
    """A value with its expectation; about 1 in 15 is ~100 KB long, which any parameter but the shared text (cut,
    never dropped) must refuse with one warning (and the page must still draw)."""
    usual = _values_for(kind, n_layers, n_heads, n_kv)
    if isinstance(kind, Text) and kind.long_warns:
        return usual
    huge = st.sampled_from(HUGE_VALUES).map(lambda s: (s, REJECT))
    return st.integers(0, 14).flatmap(lambda i: huge if i == 0 else usual)


def _values_for(kind: Kind, n_layers: int, n_heads: int = 1, n_kv: int = 1) -> st.SearchStrategy[tuple[str, str]]:
    if isinstance(kind, Int):
        return int_values(*kind.bounds(n_layers, n_heads, n_kv))
    if isinstance(kind, Float):
        return float_values(kind.lo, kind.hi)
    if isinstance(kind, Choice):
        return choice_values(kind.options)
    if isinstance(kind, Text) and kind.parsed:  # a token, a list of components: used or refused, both fine
        return text_values().map(lambda s: (s, ANY))
    if isinstance(kind, Text):
        return text_param_values(kind.long_warns, kind.max_chars)
    raise TypeError(kind)


@st.composite
def url_params(draw, params: dict[str, Kind], n_layers: int, n_heads: int = 1,
               n_kv: int = 1) -> dict[str, tuple[list[str], str]]:
    """A subset of ``params`` with hostile values: name -> (values in the URL, expectation of the LAST one,
    which is the one Streamlit's pages use). Some parameters are repeated (``?layer=1&layer=x``)."""
    out = {}
    if not params:
        return out
    for name in draw(st.lists(st.sampled_from(sorted(params)), unique=True, max_size=len(params))):
        values = draw(st.lists(values_for(params[name], n_layers, n_heads, n_kv), min_size=1, max_size=3))
        # a ~100 KB value anywhere drops the whole parameter (with one warning), whatever the last value is
        huge = any(is_huge(v) for v, _ in values) and not (isinstance(params[name], Text) and params[name].long_warns)
        out[name] = ([v for v, _ in values], REJECT if huge else values[-1][1])
    return out
