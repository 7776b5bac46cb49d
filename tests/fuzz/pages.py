"""The table of pages that the fuzz, XSS, offline and load harnesses walk.

Adding a page to those harnesses is ONE entry in ``PAGES``: its script, its URL path, its URL parameters
(with the kind of value each accepts) and the views worth opening in the browser. Everything else (the
generated values, what counts as a rejection, the browser checks) is derived from the entry.

Parameter kinds (what the page's ``state.Param.parse`` accepts):
* ``Int(lo, hi)``: a whole number in [lo, hi]; ``hi`` may be ``LAYERS`` / ``HEADS`` (the active model's number of
  layers / attention heads), or ``LAYERS - 1`` / ``HEADS - 1`` written as ``LAST_LAYER`` / ``LAST_HEAD``.
* ``Float(lo, hi)``: a plain decimal number in [lo, hi] (no nan, inf or exponent).
  Numbers are never written here: they are read from the Params that parse them (:func:`script_numbers` for a
  page script's own, :func:`numbers` for a component's), so a changed bound cannot leave this table behind.
* ``Choice("a", "b")``: exactly one of these strings.
* ``Text()``: any text (cleaned and capped, never rejected); ``Text(parsed=True)``: text the page parses (a token,
  a list of components), which it may refuse with a warning; ``long_warns=True`` when a text longer than
  ``components.state.MAX_TEXT_CHARS`` must say it was cut (the shared ``text``); ``Text(max_chars=n)``: a text
  longer than n characters is refused with a warning (components/inputs.py ``text_up_to``).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Union

from components import bpe_view, kv_view, samples_view, state

REPO = Path(__file__).resolve().parents[2]

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


# ------------------------------------------------------------------------------- numbers, from the Params
def _kind(default: Any, lo: Any, hi: Any) -> Int | Float:
    """Streamlit's rule, as ``state.Param`` applies it: a float default makes a decimal parameter."""
    return Float(float(lo), float(hi)) if isinstance(default, float) else Int(lo, hi)


def numbers(*params: state.Param) -> dict[str, Kind]:
    """The bounded numbers among these (importable) Params, by name."""
    return {p.name: _kind(p.default, p.lo, p.hi) for p in params if p.lo is not None}


# the loaded model's facts a page's bounds depend on -> the names Int.bounds fills in per model
FACTS = {"n_layers": LAYERS, "n_heads": HEADS, "n_kv_heads": KV_HEADS}
MODEL_STANDIN = SimpleNamespace(facts=SimpleNamespace(**FACTS))  # for a component's params(lm) (kv_view)


def script_numbers(file: str) -> dict[str, Kind]:
    """The bounded numbers a page script defines (``NAME = state.Param("name", default, lo=..., hi=...)`` at its top
    level), read from its source: importing a page script would run Streamlit. Each default and bound is evaluated
    with the imports of the script that it names (``MAX_TOKENS``, ``sr.TOP_K_MAX``, ``tour.STEPS``), and a name the
    script binds to the loaded model's facts (``L, H = facts.n_layers, facts.n_heads``) stands for LAYERS / HEADS."""
    tree = ast.parse((REPO / file).read_text(), file)
    facts: dict[str, str] = {}  # L -> LAYERS
    found: list[tuple[str, ast.expr, ast.expr, ast.expr]] = []  # (name, default, lo, hi)
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        pairs = zip(target.elts, value.elts) if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) \
            else [(target, value)]
        for t, v in pairs:
            if isinstance(t, ast.Name) and isinstance(v, ast.Attribute) and v.attr in FACTS:
                facts[t.id] = FACTS[v.attr]
        call = value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "Param":
            kw = {k.arg: k.value for k in call.keywords}
            if "lo" in kw:
                found.append((ast.literal_eval(call.args[0]), call.args[1], kw["lo"], kw["hi"]))
    used = {n.id for _name, *exprs in found for e in exprs for n in ast.walk(e) if isinstance(n, ast.Name)}
    scope: dict[str, Any] = dict(facts)
    for node in tree.body:  # only the imports that bind a name the bounds use
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", None) != "__future__" and \
                {(a.asname or a.name).split(".")[0] for a in node.names} & used:
            exec(compile(ast.Module([node], []), file, "exec"), scope)

    def value(e: ast.expr) -> Any:
        try:
            return eval(compile(ast.Expression(e), file, "eval"), scope)
        except NameError as err:  # a bound the page computes itself: name it in an importable module instead
            raise NameError(f"{file}:{e.lineno}: a Param's bound must be built from imported names or the model's "
                            f"facts ({err})") from None

    return {name: _kind(value(d), value(lo), value(hi)) for name, d, lo, hi in found}


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

HOME, TOKENS, EMBEDDINGS, SIMILARITY, ATTENTION, NEXT_TOKEN, BLOCK, GENERATE = (
    f"app_pages/{name}.py" for name in ("home", "tokens", "embeddings", "similarity", "attention", "next_token", "block",
                                        "generate"))

PAGES: tuple[Page, ...] = (
    Page(HOME, "/", "Overview", script_numbers(HOME), views=({}, {"step": "5"}, {"present": "1"})),
    Page(TOKENS, "/tokens", "Tokens",
         {**script_numbers(TOKENS), "pair_a": Text(max_chars=1000), "pair_b": Text(max_chars=1000),
          "message": Text(max_chars=1000), "system": Text(max_chars=1000),
          "bpe_corpus": Choice(*bpe_view.CORPORA), "bpe_text": Text(max_chars=bpe_view.MAX_CORPUS_CHARS),
          **numbers(bpe_view.MERGES), "tax_a": Text(max_chars=bpe_view.TAX_MAX_CHARS),
          "tax_b": Text(max_chars=bpe_view.TAX_MAX_CHARS)},
         views=({}, {"token": "3"}, {"model": "minilm-l6", "pair_b": "penguins are flightless birds"}),
         shows_text=True),
    Page(EMBEDDINGS, "/embeddings", "Embeddings",
         {**script_numbers(EMBEDDINGS), "words": Text(), "word": Text(), "a": Text(), "b": Text(), "c": Text()},
         views=({}, {"layer": "2", "word": "queen"}), shows_text=True,
         echoes={"word": "{p}"}),
    Page(SIMILARITY, "/similarity", "Similarity",
         {**script_numbers(SIMILARITY), "words": Text(), "vectors": Choice("static", "contextual"), "a": Text(),
          "b": Text(), "sentences": Text(), "target": Text(), "contexts": Text()},
         views=({}, {"vectors": "contextual", "layer": "2"}),
         echoes={"words": "{p}, cat", "target": "{p}"}),
    Page(ATTENTION, "/attention", "Attention",
         {**script_numbers(ATTENTION), "view": Choice(*ATTENTION_VIEWS), "agg": Choice("head", "layer", "all"),
          "level": Choice("tokens", "words"), "scale": Choice("sqrt", "linear"),
          "stat": Choice("entropy", "prev", "first", "self", "special", "distance")},
         views=tuple({"view": v} for v in ATTENTION_VIEWS) + ({"agg": "layer", "level": "words"},),
         shows_text=True),
    Page(NEXT_TOKEN, "/next-token", "Next token",
         {**script_numbers(NEXT_TOKEN), **numbers(*samples_view.PARAMS)},
         views=({}, {"temperature": "0.5", "top_k": "10", "top_p": "0.9"}), shows_text=True,
         decoder_only=frozenset(p.name for p in samples_view.PARAMS)),
    Page(BLOCK, "/block", "Inside a block",
         {**script_numbers(BLOCK), "target": Text(parsed=True), "ablate": Text(parsed=True),
          "ablation": Choice("zero", "mean")},
         views=({}, {"ablate": "a1.1,m2", "ablation": "mean", "layer": "2"}), shows_text=True),
    Page(GENERATE, "/generate", "Generate",
         {**script_numbers(GENERATE), "mode": Choice("greedy", "sample", "beam", "compare"),
          "input": Choice("text", "chat"), "message": Text(max_chars=1000), "system": Text(max_chars=1000),
          **numbers(*kv_view.params(MODEL_STANDIN))},
         views=({}, {"mode": "compare"}, {"input": "chat"}),
         decoder_only=frozenset(p.name for p in kv_view.params(MODEL_STANDIN))),
    Page("app_pages/glossary.py", "/glossary", "Glossary"),
    Page("app_pages/class_room.py", "/class", "Class"),  # room/teacher are read by hand (not state.Params)
)


def page(page_id: str) -> Page:
    return next(p for p in PAGES if p.id == page_id)
