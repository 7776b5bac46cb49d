"""URL query params <-> widget state.

The URL is read once per session (a shared link sets the view), bad values fall back to the default with a
visible warning, and after the widgets are drawn their values are written back so the address bar is always
a link to the current view. We do this by hand rather than with ``bind="query-params"`` so that the model
picker can show readable labels while the URL keeps the short registry id, and so that rejected values are
reported instead of silently dropped.

One way to write a page (app_pages/*.py):

* Its parameters are :class:`Param` objects defined at the top of the script. A number's bounds live in its Param
  (``lo``, ``hi``, ``step``): the parser of the link's value is built from them and the widget draws them
  (``st.slider(label, **LAYER.bounds(), key=LAYER.name)``), so the URL and the widget can never disagree.
* The page body runs inside ``with state.bound(PARAMS, scope="tokens") as b:``. Entering seeds the widgets'
  values (:func:`seed`), runs ``fix`` (the page's repair of kept values that no longer fit, e.g. a layer of a
  bigger model) and writes the URL; leaving writes it again, so the address is a link to what the page shows.
  A value the page learns late that stands for the default (similarity's "first word of the list") goes into
  ``b.implicit[name]``.
* The page ends a run early with ``b.stop()``, never ``st.stop()``: once a stop is requested Streamlit raises at
  every message a script sends, so nothing can be written after it. ``b.stop()`` writes first. A stop inside a
  component (``trace_or_stop`` on an empty text) leaves the URL that entering wrote, which already holds the
  values this run shows (widget values are in session_state before the script starts).
* A fragment (``@st.fragment``) that draws a parameter's widget ends with ``state.write_back(its params,
  scope=..., prefix=...)``: a fragment rerun runs only the fragment, not the page's ``with`` block. This is also
  the call to write the URL now, before a long step (generate's stream).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

import i18n

from components.widgets import md_literal
from i18n import _
from models.registry import DEFAULT_MODEL, REGISTRY

MAX_TEXT_CHARS = 100_000  # longer text is cut (with a notice); the model sees at most models.tokens.MAX_TOKENS anyway
MAX_URL_TEXT = 2_000  # longer text is not written into the URL
# The longest value a link may hand any parameter but ``text`` (the largest any parser accepts: a pasted BPE
# corpus). Longer values are dropped from the address before anything reads them, with a warning: a 100 KB value
# must cost nothing (a hostile link once left pages running), and the app never writes more than MAX_URL_TEXT.
MAX_PARAM_CHARS = 50_000
DEFAULT_TEXT = "students celebrate the graduation with a big party"

_SEEDED = "_url_seeded"
_WARNINGS = "_url_warnings"
_KEPT = "_kept_values"  # (page, param) -> last value, restored when the user comes back to a page
_PAGE = "_current_page"
_IMPLICIT = "_url_implicit"  # scope -> the implicit stand-ins of that page's last run (see bound)


class BadParam(ValueError):
    """A link's value that its parameter cannot use; the message is the reason, already in the session's language.
    Parsers raise this (or a typed i18n.Error of the model they ask); anything else they raise is a bug."""


@dataclass(frozen=True)
class Param:
    """One URL parameter bound to one widget key.

    A number gives its bounds instead of a parser: ``Param("top_k", 0, lo=0, hi=TOP_K_MAX)``. The parser is then
    :func:`int_in` (or :func:`float_in` when the default is a float, Streamlit's own rule for its number widgets)
    of exactly those bounds, and :meth:`bounds` hands the same numbers to the widget."""

    name: str  # query parameter name (also the session_state key)
    default: Any
    parse: Callable[[str], Any] | None = None  # raises BadParam (or an i18n.Error) with a short reason on a bad value
    to_url: Callable[[Any], str] = str
    always: bool = False  # write it even when it equals the default
    max_chars: int = MAX_PARAM_CHARS  # a longer link value is not parsed (rejected with a warning)
    lo: int | float | None = None  # a number's bounds, inclusive; the parser is built from them
    hi: int | float | None = None
    step: int | float | None = None  # the widget's step (None: Streamlit's, 1 for whole numbers)
    below: str | None = None  # why a whole number under ``lo`` is refused (see int_in)

    def __post_init__(self) -> None:
        if (self.lo is None) != (self.hi is None):
            raise TypeError(f"Param {self.name!r}: give both lo and hi, or neither")
        if self.lo is None:
            if self.parse is None:
                raise TypeError(f"Param {self.name!r} needs a parser or bounds")
            return
        if self.parse is not None:  # two sources of the range would drift apart: the bounds are the one
            raise TypeError(f"Param {self.name!r}: a bounded number's parser is built from lo and hi")
        if isinstance(self.default, float):
            object.__setattr__(self, "lo", float(self.lo))
            object.__setattr__(self, "hi", float(self.hi))
            parse = float_in(self.lo, self.hi)
        else:
            parse = int_in(self.lo, self.hi, below=self.below)
        object.__setattr__(self, "parse", parse)

    def bounds(self, lo: int | float | None = None, hi: int | float | None = None) -> dict[str, Any]:
        """The widget's range, ``st.slider(label, **p.bounds(), key=p.name)`` (also st.number_input).

        ``lo`` / ``hi`` narrow it for this run to what the data offers (a slider over the text's tokens:
        ``p.bounds(lo=1, hi=T)``); they must lie inside the Param's own bounds, which stay the link's range."""
        if self.lo is None:
            raise TypeError(f"Param {self.name!r} has no bounds")
        lo = self.lo if lo is None else type(self.lo)(lo)
        hi = self.hi if hi is None else type(self.hi)(hi)
        if not self.lo <= lo <= hi <= self.hi:
            raise ValueError(f"Param {self.name!r}: {lo}..{hi} is not inside its bounds {self.lo}..{self.hi}")
        out = {"min_value": lo, "max_value": hi}
        if self.step is not None:
            out["step"] = self.step
        return out


def clean_text(value: str) -> str:
    """Text as the app uses it: lone surrogates (invalid UTF-16 from a URL) become U+FFFD; capped length."""
    value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value[:MAX_TEXT_CHARS]


def current_text() -> str:
    """The shared text, cleaned (what every page analyses)."""
    return clean_text(st.session_state.get(TEXT.name) or "")


def parse_model(value: str) -> str:
    if value not in REGISTRY:
        raise BadParam(_("unknown model id; known ids: {ids}").format(ids=", ".join(REGISTRY)))
    return value


def parse_text(value: str) -> str:
    return clean_text(value)


def int_in(lo: int, hi: int, below: str | None = None) -> Callable[[str], int]:
    """A whole number in [lo, hi]. ``below``: the reason given for a number under ``lo`` instead of the range
    alone (e.g. why layer 0 is not an Attention layer)."""
    def parse(value: str) -> int:
        m = re.fullmatch(r"\s*([+-]?[0-9]+)(\.0*)?\s*", value)
        if not m:
            raise BadParam(_("not a whole number"))
        negative, digits = m.group(1).startswith("-"), m.group(1).lstrip("+-").lstrip("0") or "0"
        # Python refuses int() of over 4,300 digits (leading zeros count); past 30 digits it is out of range anyway
        number = (-1 if negative else 1) * int(digits) if len(digits) <= 30 else (lo - 1 if negative else hi + 1)
        if not lo <= number <= hi:
            reason = _("must be between {lo} and {hi}").format(lo=lo, hi=hi)
            raise BadParam(_("{range}; {why}").format(range=reason, why=below) if below and number < lo else reason)
        return number

    return parse


def float_in(lo: float, hi: float) -> Callable[[str], float]:
    """A plain decimal number in [lo, hi]; rejects nan, inf, hex and exponents ("1e9")."""
    def parse(value: str) -> float:
        if not re.fullmatch(r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*", value):
            raise BadParam(_("not a decimal number"))
        number = float(value)
        if not lo <= number <= hi:
            raise BadParam(_("must be between {lo} and {hi}").format(lo=f"{lo:g}", hi=f"{hi:g}"))
        return number

    return parse


def choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in options:
            raise BadParam(_("must be one of: {options}").format(options=", ".join(options)))
        return value

    return parse


MODEL = Param("model", DEFAULT_MODEL, parse_model, always=True)
TEXT = Param("text", DEFAULT_TEXT, parse_text, always=True, max_chars=MAX_TEXT_CHARS)  # longer: cut, not dropped


def _shown(value: str, limit: int = 60) -> str:
    """A rejected URL value quoted for a warning: cut to ``limit`` characters and Markdown-escaped, so a
    crafted link shows its text literally (no formatting, no clickable link)."""
    cut = value if len(value) <= limit else value[:limit] + "..."
    return md_literal(cut)


def too_long(name: str, values: list[str], cap: int = MAX_PARAM_CHARS) -> bool:
    """Whether a link value of ``name`` is over the length cap (``text`` has its own: it is cut, never dropped)."""
    return name != TEXT.name and any(len(v) > cap for v in values)


def _long_warning(name: str, length: int, cap: int) -> str:
    # a parameter name is app text unless the link made it up: then it is shown literally (no Markdown)
    shown = name if re.fullmatch(r"[a-z_]{1,30}", name) else _shown(name)
    return _("The link's {name}=… was {n:,} characters long (at most {most:,} are read) and was not used; "
             "showing the default instead.").format(name=shown, n=length, most=cap)


def drop_long_values(skip: set[str] = frozenset()) -> list[str]:
    """Remove every over-long parameter value from the address (called by every :func:`seed`: the first one of a
    run is app.py's, before the sidebar, the share link or any page reads the URL); returns the warnings to show,
    one per parameter not in ``skip`` (those got theirs from their own Param). Cheap: one length per value."""
    out = []
    for name in list(st.query_params):
        values = st.query_params.get_all(name)
        if too_long(name, values):
            del st.query_params[name]
            if name not in skip:
                out.append(_long_warning(name, max(map(len, values)), MAX_PARAM_CHARS))
    return out


def seed(params: list[Param], scope: str = "shared", prefix: str = "") -> None:
    """Set these widgets' values before they are drawn, and warn about rejected link values.

    The first time a page (``scope``) runs in a session its values come from the URL (or the defaults).
    Streamlit deletes a widget's value whenever a run does not draw it, and two pages may use the same
    parameter name with different meanings (``words``), so when the user comes back to a page its values are
    restored from what :func:`write_back` kept for that page. With a ``prefix`` the widgets use the session
    keys ``prefix + name`` (a page whose widgets must never share a key with another page's)."""
    seeded: set = st.session_state.setdefault(_SEEDED, set())
    warnings: dict = st.session_state.setdefault(_WARNINGS, {})
    kept: dict = st.session_state.setdefault(_KEPT, {})
    entering = scope != "shared" and st.session_state.get(_PAGE) != scope
    if scope != "shared":
        st.session_state[_PAGE] = scope
    for p in params:
        slot, key = (scope, p.name), prefix + p.name
        if slot in seeded:
            if (entering or key not in st.session_state) and slot in kept:
                st.session_state[key] = kept[slot]
            continue
        seeded.add(slot)
        raw = st.query_params.get_all(p.name)
        value = p.default
        if raw and len(raw[-1]) > p.max_chars and p.name != TEXT.name:  # a Param's own, tighter cap
            warnings[p.name] = _long_warning(p.name, len(raw[-1]), p.max_chars)
        elif raw:
            try:
                value = p.parse(raw[-1])
            except (BadParam, i18n.Error) as e:
                warnings[p.name] = _("The link's {name}={value} was not used ({reason}); showing the default "
                                     "instead.").format(name=p.name, value=_shown(raw[-1]), reason=e)
            else:
                if p.name == TEXT.name and len(raw[-1]) > MAX_TEXT_CHARS:
                    warnings[p.name] = _("The link's text was longer than {n:,} characters and was cut.").format(
                        n=MAX_TEXT_CHARS)
        st.session_state[key] = value
        kept[slot] = value
    # a 100 KB value of any parameter (this page's or not): gone from the URL, one warning now, the page draws
    for message in drop_long_values(skip={p.name for p in params}):
        st.warning(message, icon="⚠️")
    for p in params:  # shown on every run until the user changes that widget
        if p.name in warnings:
            st.warning(warnings[p.name], icon="⚠️")


def from_link(params: list[Param], scope: str) -> list[str]:
    """Names of ``params`` that the next :func:`seed` of ``scope`` will read from the URL (first visit of the page
    in this session, or a preset link followed): a page can say how it reads them."""
    seeded = st.session_state.get(_SEEDED, set())
    return [p.name for p in params if (scope, p.name) not in seeded and st.query_params.get_all(p.name)]


def forget_warning(name: str) -> None:
    st.session_state.get(_WARNINGS, {}).pop(name, None)


def write_back(params: list[Param], scope: str = "shared", prefix: str = "",
               implicit: dict[str, Any] | None = None) -> None:
    """Mirror widget values into the URL and keep them for the next visit of this page (see :func:`seed`).
    Left out of the URL: default values of optional params, values equal to their ``implicit`` stand-in (e.g.
    "the first word of the list" when the default is ""), and texts longer than MAX_URL_TEXT."""
    kept: dict = st.session_state.setdefault(_KEPT, {})
    implicit = implicit or {}
    for p in params:
        if prefix + p.name not in st.session_state:
            continue
        value = st.session_state[prefix + p.name]
        kept[(scope, p.name)] = value
        url_value = p.to_url(value)
        if len(url_value) > MAX_URL_TEXT:
            url_value = None
        if url_value is None or (value == p.default and not p.always) or implicit.get(p.name) == value:
            if p.name in st.query_params:
                del st.query_params[p.name]
        elif st.query_params.get(p.name) != url_value:
            st.query_params[p.name] = url_value


class Bound:
    """A page's parameters for one run of its script: made by :func:`bound`, used as a context manager."""

    def __init__(self, params: list[Param], scope: str, prefix: str = "", implicit: dict[str, Any] | None = None,
                 fix: Callable[[], None] | None = None):
        self.params, self.scope, self.prefix, self.fix = params, scope, prefix, fix
        # this run's stand-ins for defaults, often known late in the run: the page sets b.implicit[name] = value
        self.implicit: dict[str, Any] = dict(implicit or {})

    def _write(self, implicit: dict[str, Any] | None = None) -> None:
        implicit = self.implicit if implicit is None else implicit
        write_back(self.params, scope=self.scope, prefix=self.prefix, implicit=implicit)
        st.session_state.setdefault(_IMPLICIT, {})[self.scope] = dict(implicit)

    def __enter__(self) -> "Bound":
        seed(self.params, scope=self.scope, prefix=self.prefix)
        if self.fix is not None:
            self.fix()
        # Written before the body: a stop inside a component (trace_or_stop) can write nothing after it. The body has
        # not set this run's implicit values yet: those of the page's last run stand in, so this write does not add
        # a value that the write on leaving removes again.
        last = st.session_state.get(_IMPLICIT, {}).get(self.scope, {})
        self._write({**last, **self.implicit})
        return self

    def stop(self) -> None:
        """End this run here (st.stop()), after writing the URL: nothing can be written once a stop is requested."""
        self._write()
        st.stop()

    def __exit__(self, exc_type, exc, tb) -> bool:
        # Written again on a normal end (widgets drawn, values the body set). A StopException cannot write (see
        # stop()); a RerunException reruns the page, which writes; a bug keeps its own traceback.
        if exc_type is None:
            self._write()
        return False


def bound(params: list[Param], scope: str, prefix: str = "", implicit: dict[str, Any] | None = None,
          fix: Callable[[], None] | None = None) -> Bound:
    """The frame of a page: ``with state.bound(PARAMS, scope="tokens") as b:`` around its body.

    Entering seeds the widgets (:func:`seed`), calls ``fix`` (the page's repair of values kept from an earlier
    visit that no longer fit, e.g. a layer of a bigger model) and writes the URL (:func:`write_back`); leaving
    writes it again. ``b.implicit[name] = value``: this run's stand-in for a default (left out of the URL).
    ``b.stop()`` ends the run early, after writing the URL."""
    return Bound(params, scope, prefix, implicit, fix)
