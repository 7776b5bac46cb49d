"""Tokens: the text as the model's pieces and ids, compared with the other family's tokenizer."""
import hashlib

import pandas as pd
import streamlit as st

from components import bpe_view, inputs, state
from components.lead import lead
from components.cache import get_model, get_tokenizer, shared, tokens_or_stop
from components.plots import one_hot_vs_dense
from components.glossary import glossary_link as g
from components.widgets import csv_download, kv_table, marker_notes, show_chart, token_chips, tokenizer_caption, visible
from i18n import N_, _
from models.loading import ModelUnavailable
from models.registry import get_spec, other_family_default
from models.tokens import MAX_TOKENS, describe, encode, han_summary, pieces_table
from models.trace import token_embedding
from models.window import cut_of, window_of
from components.window import cut_notice, recipe_notice

TOKEN = state.Param("token", 0, lo=0, hi=MAX_TOKENS - 1)
# the two input lessons at the end of the page (components/inputs.py): a sentence pair, a chat
PAIR_A = state.Param("pair_a", inputs.DEFAULT_A, inputs.text_up_to(inputs.MAX_SENTENCE_CHARS))
PAIR_B = state.Param("pair_b", inputs.DEFAULT_B, inputs.text_up_to(inputs.MAX_SENTENCE_CHARS))
MESSAGE = state.Param("message", _(inputs.DEFAULT_MESSAGE), inputs.text_up_to(inputs.MAX_SENTENCE_CHARS))
SYSTEM = state.Param("system", "", inputs.text_up_to(inputs.MAX_SENTENCE_CHARS))
PARAMS = [TOKEN, PAIR_A, PAIR_B, MESSAGE, SYSTEM] + bpe_view.PARAMS  # + the two lessons below (issue #24)
# Column headers of the table on screen; the CSV keeps the English names (a stable export format).
COLUMNS = {"position": N_("position"), "piece": N_("piece"), "id": N_("id"), "vocabulary string": N_("vocabulary string"),
           "decoded": N_("decoded"), "start": N_("start"), "end": N_("end"), "special": N_("special"),
           "bytes": N_("bytes"), "note": N_("note")}

with state.bound(PARAMS, scope="tokens") as b:
    lm = get_model(st.session_state.active_model)
    facts = lm.facts
    text = state.current_text()

    st.title(_("Tokens: text → pieces → ids"))
    lead(_("A language model does not read letters or words: it cuts the text into pieces, called tokens, and reads "
           "each piece as a number, its id."), tokenizer_caption(facts.tokenizer, lm.spec.label))

    # only the tokenizer here: a text typed on this page costs no forward pass (the other pages trace it)
    enc = tokens_or_stop(lm, text, _("see how the model cuts it into tokens"))
    pieces = describe(lm.tokenizer, enc, text, facts.tokenizer.kind)
    window = window_of(lm)
    cut = cut_of(enc, window)
    if cut is not None:  # which tokens are dropped, and whether the app's cap or the model's window cut them
        st.info(cut_notice(cut, window, lm.spec.label, text), icon="✂️")
    if (recipe_cut := recipe_notice(enc.n_total, window, lm.spec.label)) is not None:
        st.caption(recipe_cut)

    # The "Token" picker's widget key names this tokenization: a new text (or model) gets a new picker, made from the
    # kept token number, so the label in the box can never be an old text's token while the details show a new one
    # (Streamlit 1.67 keeps a keyed selectbox's old option label in the browser when its options change under it).
    PICK_KEY = "token_pick_" + hashlib.blake2b(repr((lm.spec.id, [p.id for p in pieces])).encode(),
                                               digest_size=8).hexdigest()
    selected = st.session_state.get(TOKEN.name, 0)
    if not isinstance(selected, int) or not 0 <= selected < len(pieces):
        st.session_state[TOKEN.name] = selected = 0
    picked = st.session_state.get(PICK_KEY)
    # a value set from outside the picker (a link, a preset, the kept value of an earlier visit) wins over the picker's
    if not isinstance(picked, int) or not 0 <= picked < len(pieces) or st.session_state.get("_token_synced") != selected:
        st.session_state[PICK_KEY] = selected
    selected = st.session_state[TOKEN.name] = st.session_state["_token_synced"] = st.session_state[PICK_KEY]


    def _picked() -> None:
        st.session_state[TOKEN.name] = st.session_state["_token_synced"] = st.session_state[PICK_KEY]
        state.forget_warning(TOKEN.name)


    c1, c2, c3, c4 = st.columns(4)
    c1.metric(_("Characters"), f"{len(text):,}")
    c2.metric(_("Tokens"), f"{enc.n_total:,}")
    c3.metric(_("Characters per token"), f"{len(text) / max(1, enc.n_total):.2f}")
    c4.metric(_("Special tokens"), int(enc.special.sum()))

    token_chips(pieces, selected)
    st.caption(_("Each chip is one {token}: the piece on top, its {id} below. Hover a chip for details. "
                 "Dashed: special token · striped: bytes of an incomplete character · red border: unknown.")
               .format(token=g("token"), id=g("id")))

    notes = marker_notes(pieces, facts.tokenizer)
    if notes:
        st.markdown("\n".join(f"- {n}" for n in notes))
    han = han_summary(pieces, text)
    if han is not None:  # Chinese text: how many characters became byte pieces, [UNK] or whole pieces
        st.markdown("**" + _("Chinese characters") + "** · " + " ".join(han.sentences(lm.tokenizer.unk_token)))

    # ------------------------------------------------------------------------------------ one token
    st.subheader(_("One token up close"))
    st.selectbox(
        _("Token"), range(len(pieces)), key=PICK_KEY, on_change=_picked,
        format_func=lambda i: _("#{index}  {piece}  (id {id})").format(index=i, piece=visible(pieces[i].display),
                                                                       id=pieces[i].id),
    )
    p = pieces[st.session_state[PICK_KEY]]
    left, right = st.columns([2, 3])
    with left:
        kv_table(
            [(_("Position"), str(p.index)), (_("Id"), str(p.id)), (_("Vocabulary string"), visible(p.raw)),
             (_("Decodes to"), visible(p.decoded)),
             (_("Character span"), f"{p.span[0]}–{p.span[1]}" if p.covers_text else "—"),
             (_("Text it covers"), visible(p.text) if p.covers_text else "—"),
             (_("Bytes"), p.byte_values.hex(" ").upper() if p.byte_values else "—"),
             (_("Note"), p.note or "—")],
            font_size="0.95rem",
        )
    with right:
        show_chart(shared(("onehot", lm.spec.id, p.id, p.display), lambda: one_hot_vs_dense(
            p.id, facts.vocab_size, token_embedding(lm, p.id), visible(p.display))), "onehot")
    T, V, d = len(pieces), facts.vocab_size, facts.d_model
    st.markdown(_(
        "**One-hot vs dense.** As a {one_hot} vector this token is {V:,} numbers with a single 1; the whole text would be "
        "{T:,} × {V:,} = {TV:,} numbers ({mb:,.1f} MB in float32). The model instead looks up row {id:,} of its "
        "{embedding} matrix: {d} numbers per token, {Td:,} for the text ({kb:,.1f} kB). Multiplying the one-hot vector "
        "by the matrix would give exactly that row, so the lookup is the same maths, done cheaply. Related words get "
        "similar vectors (rows that point in similar directions, wherever they sit in the matrix); a one-hot vector "
        "says nothing about meaning."
    ).format(V=V, T=T, TV=T * V, mb=T * V * 4 / 1e6, id=p.id, embedding=g("embedding"), d=d, Td=T * d,
             one_hot=g("one-hot"),
             kb=T * d * 4 / 1e3))

    # ------------------------------------------------------------------------ other family side by side
    st.subheader(_("The same text in the other family's tokenizer"))
    other_id = other_family_default(lm.spec.id)
    try:
        other = get_tokenizer(other_id)
    except ModelUnavailable as e:  # e.g. its cache cannot be written: say so, keep the page
        other = None
        st.info(str(e), icon=":material/cloud_off:")
    if other is not None:
        other_enc = encode(other.tokenizer, text, lock=other.lock)
        other_pieces = describe(other.tokenizer, other_enc, text, other.facts.kind)
        mine, theirs = st.columns(2)
        for col, label, family, tfacts, ps, n_total in (
            (mine, lm.spec.label, lm.spec.family, facts.tokenizer, pieces, enc.n_total),
            (theirs, get_spec(other_id).label, get_spec(other_id).family, other.facts, other_pieces, other_enc.n_total),
        ):
            with col:
                family_name = _("decoder") if family == "decoder" else _("encoder")
                st.markdown(f"**{label}** ({family_name}) · {tfacts.kind} · **" + _("{n:,} tokens").format(n=n_total) + "**")
                token_chips(ps)
        st.caption(_(
            "Different {vocabularies} cut the same text differently. BERT's uncased {wordpiece} lower-cases and wraps the "
            "text in {cls_sep}; byte-level {bpe} keeps case and spaces and never meets an unknown character: a Chinese "
            "character or an emoji it has no piece for becomes byte pieces."
        ).format(vocabularies=g("vocabulary", _("vocabularies")), wordpiece=g("WordPiece", "WordPiece"),
                 cls_sep=g("[CLS] / [SEP]", "[CLS] … [SEP]"), bpe=g("BPE", "BPE")))

    # -------------------------------------------------------------------------------------- table
    st.subheader(_("Tokens and ids"))
    table = pd.DataFrame(pieces_table(pieces))
    # on screen: whitespace visible as on the chips, and "—" for the span of a token added by the tokenizer (the CSV keeps
    # empty cells, a stable export format)
    on_screen = table.assign(piece=table["piece"].map(visible), decoded=table["decoded"].map(visible),
                             start=[str(q.span[0]) if q.covers_text else "—" for q in pieces],
                             end=[str(q.span[1]) if q.covers_text else "—" for q in pieces])
    st.dataframe(on_screen.rename(columns={k: _(v) for k, v in COLUMNS.items()}), hide_index=True, width="stretch",
                 height=min(400, 38 + 35 * len(table)))
    if not all(q.covers_text for q in pieces):
        st.caption(_("— in start and end: a special token the tokenizer added ({tokens}); it covers no characters of "
                     "your text.").format(tokens=", ".join(dict.fromkeys(f"`{q.raw}`" for q in pieces if not q.covers_text))))
    csv_download(table, _("Download as CSV"), f"tokens-{lm.spec.id}.csv", key="tokens_csv")

    # -------------------------------------------------------------------- what else a model is given as input
    if lm.spec.family == "encoder":
        inputs.pair_view(lm, PAIR_A.name, PAIR_B.name)
    if lm.spec.family == "decoder" or inputs.has_chat_template(lm.tokenizer):
        inputs.chat_view(lm, MESSAGE.name, SYSTEM.name)

    # ------------------------------------------------- where the vocabulary comes from; the token tax (components/bpe_view.py)
    bpe_view.train_section(lm, text)
    bpe_view.tax_section(lm)
