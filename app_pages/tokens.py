"""Tokens: the text as the model's pieces and ids, compared with the other family's tokenizer."""
import pandas as pd
import streamlit as st

from components import state
from components.cache import get_model, get_tokenizer, trace_or_stop
from components.plots import one_hot_vs_dense
from components.widgets import csv_download, kv_table, marker_notes, show_chart, token_chips, tokenizer_caption, visible
from models.loading import ModelUnavailable
from models.registry import get_spec, other_family_default
from models.tokens import MAX_TOKENS, Encoding, describe, encode, pieces_table

TOKEN = state.Param("token", 0, state.int_in(0, MAX_TOKENS - 1))
state.seed([TOKEN], scope="tokens")

lm = get_model(st.session_state.active_model)
facts = lm.facts
text = state.current_text()

st.title("Tokens: text → pieces → ids")
st.markdown(tokenizer_caption(facts.tokenizer, lm.spec.label))

trace = trace_or_stop(lm.spec.id, text, "see how the model cuts it into tokens")

enc = Encoding(ids=trace.ids, offsets=trace.offsets, special=trace.special, n_total=trace.n_total)
pieces = describe(lm.tokenizer, enc, text, facts.tokenizer.kind)
if trace.truncated:
    st.info(f"This text is {trace.n_total:,} tokens long; the model analyses the first {MAX_TOKENS}, "
            f"shown here. The rest is left out on every page.", icon="✂️")

selected = st.session_state.get(TOKEN.name, 0)
# Streamlit 1.67's selectbox hands back the browser's old option LABEL (a str) when the options changed under it
if not isinstance(selected, int) or not 0 <= selected < len(pieces):
    st.session_state[TOKEN.name] = 0
selected = st.session_state.get(TOKEN.name, 0)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Characters", f"{len(text):,}")
c2.metric("Tokens", f"{trace.n_total:,}")
c3.metric("Characters per token", f"{len(text) / max(1, trace.n_total):.2f}")
c4.metric("Special tokens", int(trace.special.sum()))

token_chips(pieces, selected)
st.caption("Each chip is one token: the piece on top, its id below. Hover a chip for details. "
           "Dashed: special token · striped: bytes of an incomplete character · red border: unknown.")

notes = marker_notes(pieces, facts.tokenizer)
if notes:
    st.markdown("\n".join(f"- {n}" for n in notes))

# ------------------------------------------------------------------------------------ one token
st.subheader("One token up close")
st.selectbox(
    "Token", range(len(pieces)), key=TOKEN.name, on_change=state.forget_warning, args=(TOKEN.name,),
    format_func=lambda i: f"#{i}  {visible(pieces[i].shown)}  (id {pieces[i].id})",
)
p = pieces[st.session_state[TOKEN.name]]
left, right = st.columns([2, 3])
with left:
    kv_table(
        [("Position", str(p.index)), ("Id", str(p.id)), ("Vocabulary string", visible(p.raw)),
         ("Decodes to", visible(p.decoded)), ("Characters", f"{p.span[0]}–{p.span[1]}" if p.covers_text else "—"),
         ("Text it covers", visible(p.text) if p.covers_text else "—"),
         ("Bytes", p.byte_values.hex(" ").upper() if p.byte_values else "—"),
         ("Note", p.note or "—")],
        font_size="0.95rem",
    )
with right:
    fig = one_hot_vs_dense(p.id, facts.vocab_size, trace.token_embeddings[p.index], visible(p.shown))
    show_chart(fig, "onehot")
T, V, d = len(pieces), facts.vocab_size, facts.d_model
st.markdown(
    f"**One-hot vs dense.** As a one-hot vector this token is {V:,} numbers with a single 1; the whole text "
    f"would be {T:,} × {V:,} = {T * V:,} numbers ({T * V * 4 / 1e6:,.1f} MB in float32). The model instead "
    f"looks up row {p.id:,} of its embedding matrix: {d} numbers per token, {T * d:,} for the text "
    f"({T * d * 4 / 1e3:,.1f} kB). Multiplying the one-hot vector by the matrix would give exactly that row, "
    "so the lookup is the same maths, done cheaply. Related words get nearby rows; a one-hot vector says nothing "
    "about meaning."
)

# ------------------------------------------------------------------------ other family side by side
st.subheader("The same text in the other family's tokenizer")
other_id = other_family_default(lm.spec.id)
try:
    other = get_tokenizer(other_id)
except ModelUnavailable as e:  # e.g. its cache cannot be written: say so, keep the page
    other = None
    st.info(str(e), icon=":material/cloud_off:")
if other is not None:
    other_enc = encode(other.tokenizer, text, lock=other.lock)
    other_pieces = describe(other.tokenizer, other_enc, text, other.facts.kind)
    a, b = st.columns(2)
    for col, label, family, tfacts, ps, n_total in (
        (a, lm.spec.label, lm.spec.family, facts.tokenizer, pieces, trace.n_total),
        (b, get_spec(other_id).label, get_spec(other_id).family, other.facts, other_pieces, other_enc.n_total),
    ):
        with col:
            st.markdown(f"**{label}** ({family}) · {tfacts.kind} · **{n_total:,} tokens**")
            token_chips(ps)
    st.caption(
        "Different vocabularies cut the same text differently. BERT's uncased WordPiece lower-cases and wraps the text "
        "in [CLS] … [SEP]; byte-level BPE keeps case and spaces and never meets an unknown character."
    )

# -------------------------------------------------------------------------------------- table
st.subheader("Tokens and ids")
table = pd.DataFrame(pieces_table(pieces))
st.dataframe(table, hide_index=True, width="stretch", height=min(400, 38 + 35 * len(table)))
csv_download(table, "Download as CSV", f"tokens-{lm.spec.id}.csv", key="tokens_csv")

state.write_back([TOKEN], scope="tokens")
