"""The only caching code: models once per process, traces per (model, text).

Models use ``st.cache_resource`` (one per process, shared by all sessions). Traces are shared too, never
copied (cache_data would pickle a 512-token SmolLM2 trace, ~340 MB of attention weights, on every rerun; trace
arrays are read-only, so sharing one object is safe), in a BudgetCache bounded by bytes: TX_TRACE_CACHE_MB,
default 600 MB, one hour at most.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Hashable

import streamlit as st

import config
from i18n import _
from models import loading
from models.loading import LoadedModel, LoadedTokenizer, ModelUnavailable
from models.registry import default_for, get_spec
from models.tokens import Encoding
from models.trace import NoTokens, Trace, analysed, compute_trace

_PREPARE_LOCK = threading.Lock()


def _ensure_prepared(model_id: str) -> None:
    """Convert a bundled GGUF on first use, with a progress bar (normally `make run` did it already)."""
    spec = get_spec(model_id)
    if spec.source != "bundled-gguf" or loading.is_prepared(spec):
        return
    bar = st.progress(0.0, text=_("Preparing {model} (first run only)...").format(model=spec.label))
    with _PREPARE_LOCK:
        loading.prepare(spec, lambda fraction, message: bar.progress(min(fraction, 1.0), text=message))
    bar.empty()


@st.cache_resource(show_spinner=False, max_entries=6)
def _model(model_id: str) -> LoadedModel:
    """The model exactly as transformers builds it (the generation engine reads its weights, serving/)."""
    return loading.load(model_id)


@st.cache_resource(show_spinner=False, max_entries=8)
def _tokenizer(model_id: str) -> LoadedTokenizer:
    return loading.load_tokenizer_only(model_id)


class BudgetCache:
    """A process-wide LRU bounded by BYTES and age (st.cache_resource only bounds the number of entries, and
    one 512-token SmolLM2 trace is ~340 MB while a short one is ~1 MB). Each key is computed once even when
    many sessions ask for it at the same moment; the newest entry is kept even if it alone exceeds the budget."""

    def __init__(self, budget_bytes: int, ttl: float, size_of: Callable[[Any], int],
                 clock: Callable[[], float] = time.monotonic):
        self.budget, self.ttl, self.size_of, self.clock = budget_bytes, ttl, size_of, clock
        self._items: OrderedDict[Hashable, tuple[Any, int, float]] = OrderedDict()  # key -> (value, bytes, born)
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.used = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        """Cached and not expired (does not count as a use)."""
        with self._lock:
            hit = self._items.get(key)
            return hit is not None and not self._expired(hit)

    def _expired(self, hit: tuple[Any, int, float]) -> bool:
        return self.clock() - hit[2] > self.ttl

    def _lookup(self, key: Hashable) -> tuple[bool, Any]:  # call with self._lock held
        hit = self._items.get(key)
        if hit is None:
            return False, None
        if self._expired(hit):
            self._drop(key)
            return False, None
        self._items.move_to_end(key)
        return True, hit[0]

    def _drop(self, key: Hashable) -> None:
        _, size, _ = self._items.pop(key)
        self.used -= size

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            found, value = self._lookup(key)
            if found:
                return value
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:  # one computation per key; the others wait for it and then find it
            with self._lock:
                found, value = self._lookup(key)
            if found:
                return value
            value = compute()
            size = int(self.size_of(value))
            with self._lock:
                self._items[key] = (value, size, self.clock())
                self.used += size
                while self.used > self.budget and len(self._items) > 1:
                    self._drop(next(iter(self._items)))
                self._computing.pop(key, None)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.used = 0


def trace_nbytes(trace: Trace) -> int:
    return sum(v.nbytes for v in vars(trace).values() if hasattr(v, "nbytes"))


TRACE_CACHE_MB = config.get().trace_cache_mb
TRACES = BudgetCache(TRACE_CACHE_MB * 2**20, ttl=3600, size_of=trace_nbytes)


def _trace(model_id: str, text: str) -> Trace:
    return TRACES.get((model_id, text), lambda: compute_trace(_model(model_id), text))


def trace_of(lm, text: str) -> Trace:
    """The same cached trace for an already loaded model, with no Streamlit call: for work done outside a script
    run (the export's files are built in Streamlit's download thread)."""
    return TRACES.get((lm.spec.id, text), lambda: compute_trace(lm, text))


_MADE: set[Hashable] = set()  # what once_with_spinner has made in this process (normally still cached)
_PREPARED: set[tuple[str, Path]] = set()  # (model id, cache folder) whose converted files get_model has checked


def once_with_spinner(key: Hashable, message: str, make: Callable[[], Any]) -> Any:
    """``make()`` (a cached resource) under a spinner the first time this process asks for ``key``, without one
    afterwards: st.spinner starts a thread on every call, and under a class's load (many script threads waiting
    for the GIL) that cost each page run ~0.1 s of waiting for a model that was loaded long ago."""
    if key in _MADE:
        return make()
    with st.spinner(message):
        value = make()
    _MADE.add(key)
    return value


def get_model(model_id: str) -> LoadedModel:
    """The loaded model; raises ModelUnavailable (one sentence) when it can't be loaded here."""
    # its converted files are checked once per process and cache folder (a manifest read), not on every call
    prepared = (model_id, config.from_env().cache_dir)
    if prepared not in _PREPARED:
        _ensure_prepared(model_id)
        _PREPARED.add(prepared)
    return once_with_spinner(("model", model_id), _("Loading {model}...").format(model=get_spec(model_id).label),
                             lambda: _model(model_id))


def get_model_cached(model_id: str) -> LoadedModel:
    """The process-wide model without any UI (serve.py's warm-up, outside a page run)."""
    return _model(model_id)


def get_tokenizer(model_id: str) -> LoadedTokenizer:
    _ensure_prepared(model_id)
    return _tokenizer(model_id)


def get_trace(model_id: str, text: str) -> Trace:
    get_model(model_id)
    return _trace(model_id, text)


def trace_or_stop(model_id: str, text: str, purpose: str) -> Trace:
    """The trace a page needs, or a friendly one-line message and the end of the page run (empty text, no
    token). ``purpose`` (translated by the caller) ends the sentence "Type or paste some text in the sidebar to
    ...". """
    return _or_stop(lambda: get_trace(model_id, text), text, purpose)


def tokens_or_stop(lm: LoadedModel, text: str, purpose: str) -> Encoding:
    """The tokens a trace of the text analyses, without the forward pass (the Tokens page), or the same
    messages as :func:`trace_or_stop`."""
    return _or_stop(lambda: analysed(lm, text), text, purpose)


def _or_stop(make: Callable[[], Any], text: str, purpose: str) -> Any:
    if not text.strip():
        st.info(_("Type or paste some text in the sidebar to {purpose}.").format(purpose=purpose), icon="✍️")
        st.stop()
    try:
        return make()
    except NoTokens as e:
        st.info(str(e), icon="✍️")
        st.stop()


def resolve_model(model_id: str) -> tuple[LoadedModel, str | None]:
    """The requested model, or the bundled model of the same family plus a one-sentence notice."""
    try:
        return get_model(model_id), None
    except ModelUnavailable as e:
        fallback = default_for(get_spec(model_id).family)
        if fallback == model_id:
            raise
        return get_model(fallback), _("{reason}; showing the bundled {model} instead.").format(
            reason=str(e).rstrip(".。"), model=get_spec(fallback).label)


def warm_models(model_ids: tuple[str, ...]) -> None:
    """Load what a first page needs into the process-wide caches: the imports, the models (each with its own
    tokenizer) and the stand-alone tokenizers of the models after the first, which the Tokens page of the first
    model compares with (serve.py, on its warm-up thread). The first model's stand-alone tokenizer is read only
    while another model is on screen: :func:`warm_pages` loads it, last. Loading one holds the interpreter lock for
    a long stretch (transformers parses tokenizer.json in Python's json module, one call: SmolLM2's takes about as
    long as loading its weights), which a first page run would wait behind."""
    loading.warm_imports()
    for model_id in model_ids:
        spec = get_spec(model_id)
        if not loading.is_prepared(spec):  # only a bundled GGUF is ever unprepared
            loading.prepare(spec, loading.terminal_progress)
        _model(model_id)
    for model_id in model_ids[1:]:
        _tokenizer(model_id)


def warm_pages(model_ids: tuple[str, ...], text: str) -> None:
    """Then what later pages reuse: the default text's trace and the neighbour index of each model (built here,
    not in a student's wait), and last the first model's stand-alone tokenizer (see :func:`warm_models`)."""
    for model_id in model_ids:
        _trace(model_id, text)
        _index(model_id)
    _tokenizer(model_ids[0])


@st.cache_resource(show_spinner=False, max_entries=6)
def _index(model_id: str):
    from models.similarity import EmbeddingIndex

    return EmbeddingIndex(_model(model_id))


def get_index(model_id: str):
    """The model's input-embedding matrix, normalised once, for nearest-neighbour queries."""
    get_model(model_id)
    return _index(model_id)


@st.cache_resource(show_spinner=False, max_entries=8, ttl=3600)
def _qkv(model_id: str, text: str, layer: int):
    from models.attention import capture_qkv

    return capture_qkv(_model(model_id), _trace(model_id, text).ids, layer)


def get_qkv(model_id: str, text: str, layer: int):
    """Queries, keys and values of one layer (all heads) for the text, captured with hooks (models.attention)."""
    get_model(model_id)
    return _qkv(model_id, text, layer)


@st.cache_resource(show_spinner=False, max_entries=24, ttl=3600)
def _head_stats(model_id: str, text: str) -> dict:
    from models.attention import head_stats

    trace = _trace(model_id, text)
    return head_stats(trace.attentions, trace.special, causal=get_spec(model_id).family == "decoder")


def get_head_stats(model_id: str, text: str) -> dict:
    """Per (layer, head) summaries of the text's attention: entropy, previous/first/self share, distance."""
    get_model(model_id)
    return _head_stats(model_id, text)


@st.cache_resource(show_spinner=False, max_entries=16, ttl=3600)
def _order_demo(model_id: str, text: str):
    from models.positions import reversal_demo

    return reversal_demo(_model(model_id), _trace(model_id, text))


def get_order_demo(model_id: str, text: str):
    """The text against its word reversal, with and without the model's positions (models.positions.reversal_demo):
    the text's cached trace plus one forward pass of three rows. NoSharedWord when no word matches."""
    get_model(model_id)
    return _order_demo(model_id, text)


# ---------------------------------------------------------------------------------- one view, many sessions
@st.cache_resource(show_spinner=False, max_entries=256, ttl=3600)
def _shared(key: tuple, _make: Callable[[], Any]) -> Any:
    return _make()


def shared(key: tuple, make: Callable[[], Any]) -> Any:
    """``make()`` once per process for ``key`` (in this run's language), then the same object for every session:
    when a class opens the same view at once (the teacher's push) its figures and numbers are made once, not once
    per student, and the students' runs, which share one interpreter lock, are that much shorter. Rules: the key
    names everything the result depends on (model, text, settings); nobody changes the result afterwards
    (show_chart copies a figure before restyling it for a projector)."""
    import i18n

    return _shared((i18n.language(), *key), make)

