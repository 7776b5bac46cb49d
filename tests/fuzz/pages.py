"""The table of pages that the fuzz, XSS, offline and load harnesses walk.

Adding a page to those harnesses is ONE entry in ``PAGES``: its script, its URL path, its URL parameters
(with the kind of value each accepts) and the views worth opening in the browser. Everything else (the
generated values, what counts as a rejection, the browser checks) is derived from the entry.

Parameter kinds (what the page's ``state.Param.parse`` accepts):
* ``Int(lo, hi)``: a whole number in [lo, hi]; ``hi`` may be ``LAYERS`` / ``HEADS`` (the active model's number of
  layers / attention heads), or ``LAYERS - 1`` / ``HEADS - 1`` written as ``LAST_LAYER`` / ``LAST_HEAD``.
* ``Float(lo, hi)``: a plain decimal number in [lo, hi] (no nan, inf or exponent).
* ``Choice("a", "b")``: exactly one of these strings.
* ``Text()``: any text (cleaned and capped, never rejected); ``Text(parsed=True)``: text the page parses (a token,
  a list of components), which it may refuse with a warning; ``long_warns=True`` when a text longer than
  ``components.state.MAX_TEXT_CHARS`` must say it was cut (the shared ``text``); ``Text(max_chars=n)``: a text
  longer than n characters is refused with a warning (components/inputs.py ``text_up_to``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from components import bpe_view, tour
from models import bpe, kv_cache, many_samples

# model-dependent upper bounds of Int: the active model's number of layers / heads (or that minus one)
LAYERS, LAST_LAYER, HEADS, LAST_HEAD = "layers", "last_layer", "heads", "last_head"
KV_HEADS = "kv_heads"  # the active model's number of key/value heads (grouped-query attention)


@dataclass(frozen=True)
class Int:
    lo: int
    hi: Union[int, str]

    def bounds(self, n_layers: int, n_heads: int = 1, n_kv: int = 1) -> tuple[int, int]:
        named = {LAYERS: n_layers, LAST_LAYER: n_layers - 1, HEADS: n_heads, LAST_HEAD: n_heads - 1, KV_HEADS: n_kv}
        return self.lo, named[self.hi] if isinstance(self.hi, str) else int(self.hi)


@dataclass(frozen=True)
class Float:
    lo: float
    hi: float


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def __init__(self, *options: str):
        object.__setattr__(self, "options", tuple(options))


@dataclass(frozen=True)
class Text:
    long_warns: bool = False
    max_chars: int | None = None  # a longer value is refused with a warning (e.g. a sentence of the pair view)
    parsed: bool = False  # the page parses it (one token, a list of components): any text may be refused


Kind = Union[Int, Float, Choice, Text]


@dataclass(frozen=True, eq=False)
class Page:
    file: str  # script path as st.Page knows it (AppTest.switch_page)
    path: str  # URL path in the browser
    title: str  # its label in the sidebar navigation
    params: dict[str, Kind] = field(default_factory=dict)  # the page's own URL parameters
    views: tuple[dict[str, str], ...] = ({},)  # extra URL params for each view the browser tests open
    # a page whose content depends on the shared text: the load test checks its marker word shows up here
    shows_text: bool = False
    # parameters whose value the page prints back (a title, a label, a warning), as templates: the XSS test
    # puts a payload at {p} and checks that it appears in the page as literal text
    echoes: dict[str, str] = field(default_factory=dict)
    # parameters of a section that only a model with a next-token head draws (the KV cache, 100 samples): an
    # encoder's page never reads them, so there a bad value may go unreported
    decoder_only: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return self.path.strip("/") or "home"


# Shared parameters (app.py's sidebar): every page reads them.
MODELS = ("smollm2-135m", "minilm-l6")  # the bundled models (hub ids are covered in tests/unit/test_faults.py)
SHARED: dict[str, Kind] = {"model": Choice(*MODELS), "text": Text(long_warns=True)}

# literal copies of the pages' choices (importing a page script would run Streamlit code)
ATTENTION_VIEWS = ("heatmap", "heads", "summary", "qk", "bertviz-head", "bertviz-model")

PAGES: tuple[Page, ...] = (
    Page("app_pages/home.py", "/", "Overview", {"step": Int(1, len(tour.STEPS))}, views=({}, {"step": "5"}, {"present": "1"})),
    Page("app_pages/tokens.py", "/tokens", "Tokens",
         {"token": Int(0, 511), "pair_a": Text(max_chars=1000), "pair_b": Text(max_chars=1000),
          "message": Text(max_chars=1000), "system": Text(max_chars=1000),
          "bpe_corpus": Choice(*bpe_view.CORPORA), "bpe_text": Text(max_chars=bpe_view.MAX_CORPUS_CHARS),
          "bpe_merges": Int(0, bpe.MAX_MERGES), "tax_a": Text(max_chars=bpe_view.TAX_MAX_CHARS),
          "tax_b": Text(max_chars=bpe_view.TAX_MAX_CHARS)},
         views=({}, {"token": "3"}, {"model": "minilm-l6", "pair_b": "penguins are flightless birds"}),
         shows_text=True),
    Page("app_pages/embeddings.py", "/embeddings", "Embeddings",
         {"layer": Int(0, LAYERS), "words": Text(), "word": Text(), "a": Text(), "b": Text(), "c": Text()},
         views=({}, {"layer": "2", "word": "queen"}), shows_text=True,
         echoes={"word": "{p}"}),
    Page("app_pages/similarity.py", "/similarity", "Similarity",
         {"words": Text(), "vectors": Choice("static", "contextual"), "layer": Int(0, LAYERS), "a": Text(),
          "b": Text(), "sentences": Text(), "target": Text(), "contexts": Text()},
         views=({}, {"vectors": "contextual", "layer": "2"}),
         echoes={"words": "{p}, cat", "target": "{p}"}),
    Page("app_pages/attention.py", "/attention", "Attention",
         {"view": Choice(*ATTENTION_VIEWS), "layer": Int(1, LAYERS), "head": Int(1, HEADS),
          "query": Int(0, 511), "agg": Choice("head", "layer", "all"), "level": Choice("tokens", "words"),
          "scale": Choice("sqrt", "linear"), "stat": Choice("entropy", "prev", "first", "self", "special", "distance")},
         views=tuple({"view": v} for v in ATTENTION_VIEWS) + ({"agg": "layer", "level": "words"},),
         shows_text=True),
    Page("app_pages/next-token.py", "/next-token", "Next token",
         {"temperature": Float(0.0, 2.0), "top_k": Int(0, 200), "top_p": Float(0.0, 1.0),
          "samples_tokens": Int(1, many_samples.MAX_NEW_TOKENS), "seed": Int(0, 2**31 - 1 - many_samples.N_SAMPLES)},
         views=({}, {"temperature": "0.5", "top_k": "10", "top_p": "0.9"}), shows_text=True,
         decoder_only=frozenset({"samples_tokens", "seed"})),
    Page("app_pages/block.py", "/block", "Inside a block",
         {"position": Int(-1, 511), "target": Text(parsed=True), "layer": Int(1, LAYERS),
          "ablate": Text(parsed=True), "ablation": Choice("zero", "mean")},
         views=({}, {"ablate": "a1.1,m2", "ablation": "mean", "layer": "2"}), shows_text=True),
    Page("app_pages/generate.py", "/generate", "Generate",
         {"mode": Choice("greedy", "sample", "beam", "compare"), "temperature": Float(0.0, 2.0),
          "top_k": Int(0, 200), "top_p": Float(0.0, 1.0), "seed": Int(0, 2**31 - 1),
          "max_new_tokens": Int(1, 256), "beams": Int(2, 5), "input": Choice("text", "chat"),
          "message": Text(max_chars=1000), "system": Text(max_chars=1000),
          "kv_layer": Int(1, LAYERS), "kv_head": Int(1, KV_HEADS), "kv_step": Int(0, kv_cache.MAX_STEP_TOKENS)},
         views=({}, {"mode": "compare"}, {"input": "chat"}),
         decoder_only=frozenset({"kv_layer", "kv_head", "kv_step"})),
    Page("app_pages/glossary.py", "/glossary", "Glossary"),
    Page("app_pages/class_room.py", "/class", "Class"),  # room/teacher are read by hand (not state.Params)
)


def page(page_id: str) -> Page:
    return next(p for p in PAGES if p.id == page_id)
