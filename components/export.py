"""Export the current trace (what the pages draw from) and a link to the current view.

Formats (the README documents them):
* JSON, one file: ``{"model", "text", "tokens": [{position, token, id, start, end, special}], "attention":
  {"layer", "block_index", "numbering", "shape", "heads": [H][T][T]}, "next_token": [{rank, id, token, logit,
  probability}] | null}``.
* CSV, a zip of one CSV per table: ``tokens.csv``, ``attention.csv`` (long format: layer, head, query, key,
  weight) and, for decoders, ``next_token.csv``.

Layers and heads are written as the app shows them (models/numbering.py): ``layer`` is the layer NUMBER (1..L;
layer 0 is the embeddings, which have no attention), ``block_index`` its 0-based index (``model.layers[i]``);
heads are numbered 1..H (``heads[h - 1]`` in the JSON is head h). Token positions (``position``, ``query``,
``key``) are 0-based, as everywhere. Text cells that a spreadsheet would run as a formula get a leading
  apostrophe (``csv_safe``).

The builders are pure (no streamlit) so tests can parse the files back and compare them with compute_trace;
:func:`sidebar` draws the download buttons (the files are built only when clicked) and the copy-link box.
"""
from __future__ import annotations

import io
import json
import urllib.parse
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.numbering import index, number

TOP_N = 20  # next-token candidates exported


@dataclass(frozen=True)
class Export:
    model_id: str
    text: str
    layer: int  # 0-based block index (the layer number is layer + 1)
    tokens: pd.DataFrame  # position, token, id, start, end, special
    attention: np.ndarray  # [H, T, T] of ``layer``
    next_token: pd.DataFrame | None  # rank, id, token, logit, probability (decoders)


def build(trace, layer: int, top_texts=None, top_n: int = TOP_N) -> Export:
    """The tables of one trace, with the attention of block index ``layer`` (layer ``layer + 1``).
    ``top_texts(ids) -> list[str]`` decodes next-token candidates (the page's ``sampling.token_texts``); without
    it the vocabulary strings are used."""
    from models.sampling import softmax, top_ranked

    L = trace.attentions.shape[0]
    if not 0 <= layer < L:
        raise ValueError(f"block index must be between 0 and {L - 1} (layers 1 to {L})")
    tokens = pd.DataFrame({
        "position": np.arange(trace.n_tokens),
        "token": list(trace.tokens),
        "id": trace.ids.astype(np.int64),
        "start": trace.offsets[:, 0].astype(np.int64),
        "end": trace.offsets[:, 1].astype(np.int64),
        "special": trace.special.astype(bool),
    })
    nxt = None
    if trace.last_logits is not None:
        logits = np.asarray(trace.last_logits, dtype=np.float32)  # [V]
        probs = softmax(logits)  # [V]
        top = top_ranked(logits, top_n)
        texts = top_texts(top) if top_texts else [str(i) for i in top]
        nxt = pd.DataFrame({"rank": np.arange(1, len(top) + 1), "id": top.astype(np.int64), "token": texts,
                            "logit": logits[top].astype(np.float64), "probability": probs[top].astype(np.float64)})
    return Export(trace.model_id, trace.text, layer, tokens, np.asarray(trace.attentions[layer]), nxt)


def attention_frame(att: np.ndarray, layer: int) -> pd.DataFrame:
    """[H, T, T] of block index ``layer`` -> long table (layer, head, query, key, weight), one row per cell: the
    layer and head NUMBERS (1-based), the query and key token positions (0-based, as in tokens.csv)."""
    H, T, _ = att.shape
    h, q, k = np.meshgrid(np.arange(H), np.arange(T), np.arange(T), indexing="ij")
    return pd.DataFrame({"layer": number(layer), "head": number(0) + h.ravel(), "query": q.ravel(), "key": k.ravel(),
                         "weight": att.astype(np.float64).ravel()})


def to_json(ex: Export) -> bytes:
    doc = {
        "model": ex.model_id,
        "text": ex.text,
        "tokens": ex.tokens.to_dict(orient="records"),
        "attention": {"layer": number(ex.layer), "block_index": ex.layer, "numbering": NUMBERING,
                      "shape": list(ex.attention.shape), "heads": ex.attention.astype(np.float64).tolist()},
        "next_token": None if ex.next_token is None else ex.next_token.to_dict(orient="records"),
    }
    return json.dumps(doc, ensure_ascii=False, default=_plain).encode("utf-8")


NUMBERING = ("layer 0 is the embeddings (hidden_states[0]); layer l is model.layers[l-1] (block_index l-1) and "
             "hidden_states[l] is its output; heads[h-1] is head h; token positions count from 0")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_zip(ex: Export) -> bytes:
    from components.widgets import csv_safe

    tables = {"tokens.csv": ex.tokens, "attention.csv": attention_frame(ex.attention, ex.layer)}
    if ex.next_token is not None:
        tables["next_token.csv"] = ex.next_token
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, df in tables.items():
            z.writestr(name, csv_safe(df).to_csv(index=False))
    return buf.getvalue()


def view_url(base: str, url_path: str, params: dict[str, str]) -> str:
    """The link to a view, rebuilt on the server: scheme and host of ``base`` (the browser's address as Streamlit
    reports it, http(s) only), the page's path and the query params this run holds."""
    parts = urllib.parse.urlsplit(base or "")
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"{origin}/{url_path}" + (f"?{query}" if query else "")


# ------------------------------------------------------------------------------------------ streamlit
def shown_layer(url_path: str, n_layers: int) -> int:
    """The block index of the layer the Attention page shows (its slider now, or what it kept), else 0 (layer 1).
    The page, its URL and what it keeps hold layer NUMBERS (1..L)."""
    import streamlit as st

    slot = ("attention", "layer")
    kept = st.session_state.get("_kept_values", {}).get(slot)
    value = kept
    if url_path == "attention":  # the sidebar is drawn before the page: which value will the page show?
        if st.session_state.get("_current_page") == "attention":
            value = st.session_state.get("layer")  # the slider, as moved for this run
        elif slot not in st.session_state.get("_url_seeded", set()):
            raw = st.query_params.get("layer", "")  # first visit: the page will read the link's value
            value = int(raw) if raw.isdigit() and len(raw) <= 9 else None  # int() refuses > 4,300 digits
    return index(value) if isinstance(value, int) and 1 <= value <= n_layers else 0


def sidebar(lm, url_path: str, text: str) -> None:
    """The sidebar's "Export and share" expander: the trace as JSON or a zip of CSVs, and a link to this view.
    The files, and the trace itself when no page has computed it yet, are made only when a button is clicked
    (in Streamlit's download thread): on the Tokens page typing a text costs no forward pass."""
    import streamlit as st

    from components.cache import trace_of
    from models.sampling import token_texts
    from models.trace import NoTokens, analysed

    from i18n import _

    with st.sidebar.expander(_("Export and share"), icon=":material/ios_share:"):
        if st.button(_("Copy link to this view"), key="copy_link", icon=":material/link:",
                     help=_("Shows the address of what you see now, with a copy button.")):
            url = view_url(st.context.url or "", url_path, st.query_params.to_dict())
            st.code(url, language=None, wrap_lines=True)
            st.caption(_("Use the copy icon at the right of the box."))
        if not text.strip():
            st.caption(_("Type some text to export its trace."))
            return
        try:
            n_tokens = len(analysed(lm, text).ids)
        except NoTokens as e:  # no token at all
            st.caption(str(e))
            return
        facts = lm.facts
        layer = shown_layer(url_path, facts.n_layers)
        decoder = lm.spec.head == "causal-lm"  # its trace has the last position's logits
        if decoder:
            what = _("{n} tokens, their ids and character spans, the attention of layer {layer} ({heads} heads), "
                     "and the top {top} next tokens.")
        else:
            what = _("{n} tokens, their ids and character spans, the attention of layer {layer} ({heads} heads).")
        st.caption(what.format(n=n_tokens, layer=number(layer), heads=facts.n_heads, top=TOP_N))

        def file(write):
            def make() -> bytes:
                trace = trace_of(lm, text)
                with lm.tokenizer_lock:  # decoding the 20 candidates
                    ex = build(trace, layer, lambda ids: token_texts(lm.tokenizer, ids, lm.facts.tokenizer.kind))
                return write(ex)
            return make

        stem = f"trace-{lm.spec.id}"
        st.download_button(_("Trace as JSON"), file(to_json), file_name=f"{stem}.json", mime="application/json",
                           key="export_json", on_click="ignore", icon=":material/data_object:")
        st.download_button(_("Trace as CSV (zip)"), file(to_zip), file_name=f"{stem}-csv.zip",
                           mime="application/zip", key="export_zip", on_click="ignore", icon=":material/table:")
