"""The only caching code: models once per process, traces per (model, text).

Traces use ``st.cache_resource`` rather than ``st.cache_data``: a 512-token SmolLM2 trace holds ~300 MB of
attention weights, and cache_data would pickle and copy it on every rerun. Trace arrays are read-only, so
sharing one object between sessions is safe.
"""
from __future__ import annotations

import threading

import streamlit as st

from models import loading
from models.loading import LoadedModel, LoadedTokenizer, ModelUnavailable
from models.registry import default_for, get_spec
from models.trace import Trace, compute_trace

_PREPARE_LOCK = threading.Lock()


def _ensure_prepared(model_id: str) -> None:
    """Convert a bundled GGUF on first use, with a progress bar (normally `make run` did it already)."""
    spec = get_spec(model_id)
    if spec.source != "bundled-gguf" or loading.is_prepared(spec):
        return
    bar = st.progress(0.0, text=f"Preparing {spec.label} (first run only)...")
    with _PREPARE_LOCK:
        loading.prepare(spec, lambda fraction, message: bar.progress(min(fraction, 1.0), text=message))
    bar.empty()


@st.cache_resource(show_spinner=False, max_entries=6)
def _model(model_id: str) -> LoadedModel:
    return loading.load(model_id)


@st.cache_resource(show_spinner=False, max_entries=8)
def _tokenizer(model_id: str) -> LoadedTokenizer:
    return loading.load_tokenizer_only(model_id)


@st.cache_resource(show_spinner=False, max_entries=24, ttl=3600)
def _trace(model_id: str, text: str) -> Trace:
    return compute_trace(_model(model_id), text)


def get_model(model_id: str) -> LoadedModel:
    """The loaded model; raises ModelUnavailable (one sentence) when it can't be loaded here."""
    _ensure_prepared(model_id)
    with st.spinner(f"Loading {get_spec(model_id).label}..."):
        return _model(model_id)


def get_tokenizer(model_id: str) -> LoadedTokenizer:
    _ensure_prepared(model_id)
    return _tokenizer(model_id)


def get_trace(model_id: str, text: str) -> Trace:
    get_model(model_id)
    return _trace(model_id, text)


def resolve_model(model_id: str) -> tuple[LoadedModel, str | None]:
    """The requested model, or the bundled model of the same family plus a one-sentence notice."""
    try:
        return get_model(model_id), None
    except ModelUnavailable as e:
        fallback = default_for(get_spec(model_id).family)
        if fallback == model_id:
            raise
        return get_model(fallback), f"{str(e).rstrip('.')}; showing the bundled {get_spec(fallback).label} instead."


def warm_up(model_ids: tuple[str, ...], text: str) -> None:
    """Fill the process-wide caches before the server accepts sessions (see serve.py)."""
    loading.warm_imports()
    for model_id in model_ids:
        spec = get_spec(model_id)
        if spec.source == "bundled-gguf" and not loading.is_prepared(spec):
            loading.prepare(spec, loading.terminal_progress)
        _model(model_id)
        _tokenizer(model_id)
        _trace(model_id, text)


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
