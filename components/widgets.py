"""Reusable widgets: token chips, the model facts card, captions, download buttons.

Every piece of user text that reaches HTML goes through ``html.escape`` (and control characters are made
visible), so text such as ``<script>`` is shown literally and never executed.
"""
from __future__ import annotations

import html
from typing import Callable, Iterable

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

# visible and md_literal live in components/literal.py (below this module and components/window.py); they are
# re-exported here (redundant aliases), where the pages import them with the other widgets
from components.literal import md_literal as md_literal, visible as visible
from components.window import facts_line
from i18n import _
from models.facts import ModelFacts, TokenizerFacts
from models.tokens import MAX_TOKENS, PieceInfo, char_groups

# The app's figures have the plotly_white look as plotly's default template (Streamlit sets a default of its own
# when it is imported, i.e. before this line). As the default, plotly gives each new figure the template without
# validating it again; passed by name to each figure it would be deep-copied and re-validated every time, a
# cost paid on every figure of every page run.
pio.templates.default = "plotly_white"

# Soft colours that stay readable with dark text on a projector; cycled per token.
CHIP_COLOURS = ["#fde68a", "#bbf7d0", "#bfdbfe", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc", "#e9d5ff"]

CHIP_CSS = """
<style>
.tx-chips {display:flex; flex-wrap:wrap; gap:4px 3px; line-height:1.1; margin:0.25rem 0 0.75rem 0;}
.tx-chip {display:inline-flex; flex-direction:column; align-items:center; padding:3px 5px 2px 5px;
  border-radius:6px; border:1px solid rgba(0,0,0,0.12); color:#111827; min-width:1.4em;}
.tx-chip.tx-special {background:#e5e7eb !important; border:1px dashed #6b7280; font-style:italic;}
.tx-chip.tx-partial {background-image:repeating-linear-gradient(45deg, rgba(0,0,0,0.06) 0 4px, transparent 4px 8px);}
.tx-chip.tx-unk {border:2px solid #dc2626;}
.tx-chip.tx-selected {outline:3px solid #1d4ed8; outline-offset:1px;}
.tx-piece {font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:1.0rem; white-space:pre;}
.tx-id {font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:0.72rem; color:#374151; margin-top:2px;}
.tx-legend {font-size:0.8rem; color:#4b5563;}
.tx-group {display:inline-flex; flex-direction:column; align-items:stretch;}
.tx-group-chips {display:flex; gap:3px;}
.tx-group-char {margin-top:2px; border:2px solid #4b5563; border-top:none; border-radius:0 0 6px 6px; height:1.25rem;
  display:flex; align-items:flex-end; justify-content:center; font-size:1.0rem; line-height:1.1; padding:0 2px;}
</style>
"""


def piece_label(p: PieceInfo) -> str:
    """A token as an axis label: its position and the text it stands for, whitespace visible ("3 ␣party");
    special tokens as the vocabulary writes them, byte pieces of an incomplete character in hex ("4 ␣<E6>")."""
    return f"{p.index} {visible(p.display if p.special or p.partial else p.decoded)}"


def chip_title(p: PieceInfo) -> str:
    lines = [_("#{index} · id {id}").format(index=p.index, id=p.id),
             _("vocabulary string: {raw}").format(raw=visible(p.raw)),
             _("decodes to: {text}").format(text=visible(p.decoded))]
    if p.covers_text:
        lines.append(_("characters {start}–{end}: {text}").format(start=p.span[0], end=p.span[1], text=visible(p.text)))
    if p.note:
        lines.append(p.note)
    return "\n".join(lines)


def _chip(p: PieceInfo, colour: str, selected: int | None) -> str:
    classes = ["tx-chip"]
    if p.special:
        classes.append("tx-special")
    if p.partial:
        classes.append("tx-partial")
    if p.unknown:
        classes.append("tx-unk")
    if p.index == selected:
        classes.append("tx-selected")
    return (f'<span class="{" ".join(classes)}" role="listitem" style="background:{colour}" '
            f'data-index="{p.index}" data-id="{p.id}" title="{html.escape(chip_title(p), quote=True)}">'
            f'<span class="tx-piece">{html.escape(visible(p.display))}</span>'
            f'<span class="tx-id">{p.id}</span></span>')


def chips_html(pieces: Iterable[PieceInfo], selected: int | None = None) -> str:
    """HTML for token chips (piece on top, id below). Everything from the text is escaped. The byte pieces of one
    character (models.tokens.char_groups) share one colour and stand over one bracket with that character under
    it, so 🍕 reads as one character in three pieces rather than three unrelated chips."""
    pieces = list(pieces)
    groups = {g.first: g for g in char_groups(pieces)}
    parts = ['<div class="tx-chips" role="list">']
    i = 0
    while i < len(pieces):
        p = pieces[i]
        colour = CHIP_COLOURS[p.index % len(CHIP_COLOURS)]
        g = groups.get(p.index)
        if g is None:
            parts.append(_chip(p, colour, selected))
            i += 1
            continue
        members = pieces[i:i + g.last - g.first + 1]
        label = _("{n} pieces, the bytes of {chars}").format(n=len(members), chars=visible(g.chars))
        parts.append(f'<span class="tx-group" role="group" aria-label="{html.escape(label, quote=True)}" '
                     f'title="{html.escape(label, quote=True)}" data-first="{g.first}" data-last="{g.last}">'
                     '<span class="tx-group-chips">' + "".join(_chip(m, colour, selected) for m in members) +
                     f'</span><span class="tx-group-char">{html.escape(visible(g.chars))}</span></span>')
        i += len(members)
    parts.append("</div>")
    return "".join(parts)


def token_chips(pieces: list[PieceInfo], selected: int | None = None) -> None:
    st.html(CHIP_CSS + chips_html(pieces, selected))


def compact_number(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f} B"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    return f"{n:,}"


def facts_rows(f: ModelFacts) -> list[tuple[str, str]]:
    heads = _("{n} per layer").format(n=f.n_heads)
    if f.gqa:
        heads = _("{n} query / {kv} key-value (grouped-query)").format(n=f.n_heads, kv=f.n_kv_heads)
    family = _("decoder (GPT-style, sees only earlier tokens)") if f.family == "decoder" else \
        _("encoder (BERT-style, sees both directions)")
    positions = {"rope": _("RoPE (rotary)"), "learned": _("learned table"), "sinusoidal": _("sine/cosine")}
    return [
        (_("Family"), family),
        (_("Architecture"), f"{f.architecture} ({f.model_type})"),
        (_("Layers"), str(f.n_layers)),
        (_("Attention heads"), heads),
        ("d_model", _("{d} ({d_head} per head)").format(d=f.d_model, d_head=f.d_head)),
        (_("Vocabulary"), _("{n:,} ids · {kind}").format(n=f.vocab_size, kind=f.tokenizer.kind)),
        (_("Parameters"), compact_number(f.n_params)),
        (_("Context length"), _("{n:,} tokens").format(n=f.context_length)),
        (_("Positions"), positions[f.positions]),
        (_("Output head"), f.head_text),
        (_("Training"), f.training_text),
        (_("Weights"), f.weights_text),
    ]


def kv_table(rows: list[tuple[str, str]], font_size: str = "0.8rem") -> None:
    """A two-column key/value table; keys and values are escaped plain text."""
    body = "".join(
        f"<tr><th style='text-align:left;vertical-align:top;padding:2px 10px 2px 0;font-weight:600'>"
        f"{html.escape(k)}</th><td style='padding:2px 0;word-break:break-word'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    st.html(f"<table style='font-size:{font_size};border-collapse:collapse'>{body}</table>")


def model_facts_card(f: ModelFacts) -> None:
    kv_table(facts_rows(f))
    st.caption(facts_line(f.context_length, MAX_TOKENS))  # what the context length means (glossary link)


def tokenizer_caption(t: TokenizerFacts, label: str) -> str:
    """One plain-language paragraph about how THIS tokenizer cuts text."""
    if t.kind == "WordPiece":
        how = _("{model} uses **WordPiece**: it lower-cases the text (uncased vocabulary), splits on spaces and "
                "punctuation, then cuts rare words into known pieces; a piece that continues a word starts with `##`.")
    elif t.kind == "byte-level BPE":
        how = _("{model} uses **byte-level BPE**: it works on the UTF-8 bytes of the text and merges frequent byte "
                "pairs into pieces, so any text can be encoded. Its vocabulary writes a space as `Ġ` and a newline as "
                "`Ċ`; this app shows them as ␣ and ⏎ for every model.")
    elif t.kind.startswith("SentencePiece"):
        how = _("{model} uses **{kind}**: its vocabulary writes a space as `▁`; this app shows it as ␣ for every "
                "model.")
    else:
        how = _("{model} uses a {kind} tokenizer.")
    if t.wraps_cls_sep:
        wrap = _("It wraps every input in `{cls}` … `{sep}`.")
    elif t.adds_bos:
        wrap = _("It puts `{bos}` (beginning of sequence) in front.")
    else:
        wrap = _("It adds no special token to plain text (no BOS): the first piece is your first word.")
    size = _("Each piece has one integer id in a vocabulary of {n:,}.")
    return " ".join((how, wrap, size)).format(model=label, kind=t.kind, cls=t.cls_token, sep=t.sep_token,
                                              bos=t.bos_token, n=t.vocab_size)


def show_chart(fig, name: str, **kwargs):
    """st.plotly_chart with the app's settings: large fonts and no Streamlit theme in presentation mode
    (``present=1``), and the camera button saves ``name-<model>`` as a PNG at projector size, or as SVG when the
    sidebar toggle is on. Extra kwargs (on_select, ...) pass through."""
    from components import present
    from components.plots import chart_config

    if present.active():
        fig = go.Figure(fig)  # a copy: the figure may be shared by every session on this view (cache.shared)
        present.style(fig)
        kwargs.setdefault("theme", None)
    model_id = st.session_state.get("active_model", "model")
    return st.plotly_chart(fig, config=chart_config(f"{name}-{model_id}", svg=bool(st.session_state.get("svg"))),
                           key=kwargs.pop("key", name), **kwargs)


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading apostrophe."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v)
    return out


def csv_download(df: pd.DataFrame | Callable[[], pd.DataFrame], label: str, file_name: str, key: str) -> None:
    """A CSV download of ``df`` (or of what ``df()`` makes), written only when the button is clicked: a 512-token
    attention table takes a noticeable time to write, and a table of decoded tokens to make; not on every rerun."""
    def data() -> bytes:
        return csv_safe(df() if callable(df) else df).to_csv(index=False).encode("utf-8")

    st.download_button(label, data, file_name=file_name,
                       mime="text/csv", key=key, on_click="ignore", icon=":material/download:")


def marker_notes(pieces: list[PieceInfo], t: TokenizerFacts) -> list[str]:
    """Plain-language notes for the markers that actually appear in these pieces."""
    raws = [p.raw for p in pieces if not p.special]
    notes = []
    if t.kind == "byte-level BPE":
        if any(r.startswith("Ġ") for r in raws):
            # the app shows a space as ␣ everywhere (the caption above names the vocabulary's own Ġ, once). The pieces
            # are written ␣party, not as a code span with a leading space (which Markdown renders as "party")
            notes.append(_("**␣** at the start of a piece is a **space**: byte-level BPE keeps the space attached to "
                           "the word that follows it, so ␣party and party are different pieces with different ids."))
        if any("Ċ" in r for r in raws):
            notes.append(_("**⏎** is a **newline** (byte 0x0A)."))
        if any(p.partial for p in pieces):
            notes.append(_("Pieces shown as `<F0><9F>`… are **raw bytes** of a character that needs several UTF-8 "
                           "bytes (emoji, Chinese, accented letters): the vocabulary has no piece for the whole "
                           "character, so it is split into byte pieces that only make sense together. The pieces of "
                           "one character share a colour and a bracket with the character under it."))
    if t.marker == "##" and any(r.startswith("##") for r in raws):
        notes.append(_("`##` marks a piece that **continues the previous word** (WordPiece): a rare word is built "
                       "from common pieces instead of having its own id."))
    if t.marker == "▁" and any("▁" in r for r in raws):
        notes.append(_("**␣** is a **space**: SentencePiece writes it into the piece that follows it."))
    if any(p.unknown for p in pieces):
        notes.append(_("**Unknown** pieces (red border): characters that are not in this vocabulary at all, for "
                       "example emoji in BERT's vocabulary. The model sees only the single unknown id."))
    specials = sorted({p.raw for p in pieces if p.special})
    if specials:
        shown = ", ".join(f"`{s}`" for s in specials)
        notes.append(_("{tokens}: **special tokens** the tokenizer adds around your text (dashed chips); they "
                       "have ids like any piece but no characters of your text.").format(tokens=shown))
    return notes
