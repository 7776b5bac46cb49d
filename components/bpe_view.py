"""Two lessons at the end of the Tokens page: "Train a tokenizer" (byte-pair encoding learned merge by merge,
models/bpe.py) and "The token tax" (the same meaning in two languages, models/tokentax.py).

Each is a fragment: its widgets rerun only its own section. The page lists the URL parameters below in its PARAMS
(seeded and written back with the page's); the fragments also write them back when they rerun alone.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import i18n
from components import inputs, presets, state
from components.bpe_plots import merges_figure, tax_figure
from components.cache import get_tokenizer, shared
from components.glossary import glossary_link as g
from components.widgets import csv_download, md_literal, show_chart, token_chips, visible
from i18n import N_, _
from models import bpe, tokentax
from models.loading import ModelUnavailable
from models.registry import get_spec, other_family_default
from models.tokens import PieceInfo, describe, encode

MAX_CORPUS_CHARS = 50_000  # a pasted corpus
MAX_SEGMENT_CHARS = 2_000  # the part of the sidebar text cut with the learned merges
DEFAULT_MERGES = 50
CORPORA = ("app", "text", "own")
CORPUS_LABELS = {"app": N_("The app's glossary and tour (no download)"), "text": N_("The sidebar text"),
                 "own": N_("A text you paste")}
TAX_MAX_CHARS = 1_000
TAX_EN, TAX_ZH = presets.TAX_EN, presets.CHINESE_WEATHER  # the same sentence ("nice weather today, ...")
CURVE_POINTS = 40  # N values at which the sidebar text's token count is drawn

CORPUS = state.Param("bpe_corpus", "app", state.choice(*CORPORA))
CORPUS_TEXT = state.Param("bpe_text", "", inputs.text_up_to(MAX_CORPUS_CHARS))
MERGES = state.Param("bpe_merges", DEFAULT_MERGES, lo=0, hi=bpe.MAX_MERGES)
TAX_A = state.Param("tax_a", TAX_EN, inputs.text_up_to(TAX_MAX_CHARS))
TAX_B = state.Param("tax_b", TAX_ZH, inputs.text_up_to(TAX_MAX_CHARS))
TRAIN_PARAMS = [CORPUS, CORPUS_TEXT, MERGES]
TAX_PARAMS = [TAX_A, TAX_B]
PARAMS = TRAIN_PARAMS + TAX_PARAMS


# ------------------------------------------------------------------------------------------- caches
@st.cache_resource(show_spinner=False, max_entries=16, ttl=3600)
def _trained(key: str, _texts: tuple[str, ...], min_frequency: int) -> tuple[bpe.Trained, bool]:
    """The merges learned from the corpus (``key``: its hash), and whether the `tokenizers` library, trained on
    the same corpus with the same settings, learned the same ones in the same order (checked live)."""
    vocab_size = bpe.N_BYTES + bpe.MAX_MERGES
    trained = bpe.train(bpe.word_counts(_texts), vocab_size, min_frequency)
    return trained, bpe.agrees_with_library(list(_texts), trained, vocab_size)


def corpus_key(texts: list[str]) -> str:
    return hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()


def trained_for(texts: list[str]) -> tuple[bpe.Trained, bool]:
    return _trained(corpus_key(texts), tuple(texts), bpe.DEFAULT_MIN_FREQUENCY)


@st.cache_resource(show_spinner=False, max_entries=32, ttl=3600)
def _curve(key: str, _text: str, _trained_: bpe.Trained) -> tuple[np.ndarray, np.ndarray]:
    n = len(_trained_.merges)
    at = np.unique(np.linspace(0, n, min(CURVE_POINTS, n + 1)).round().astype(int))
    return at, np.array([len(bpe.segment(_text, _trained_, int(k))) for k in at])


def pieces_of(text: str, trained: bpe.Trained, n: int) -> list[PieceInfo]:
    """The text cut with the first n merges, as token chips (byte pieces of a character striped)."""
    out = []
    for i, p in enumerate(bpe.segment(text, trained, n)):
        partial = bpe.is_partial(p.token)
        out.append(PieceInfo(index=i, id=p.id, raw=p.token, decoded=p.data.decode("utf-8", "replace"),
                             text=text[p.span[0]:p.span[1]], span=p.span, special=False, byte_values=p.data,
                             partial=partial, unknown=False))
    return out


def _code(token: str) -> str:
    return md_literal(visible(bpe.readable(token)))


# -------------------------------------------------------------------------------------- train a tokenizer
def _corpus(choice: str, text: str) -> tuple[list[str], str]:
    """(the corpus texts, how to name it in sentences)."""
    if choice == "app":
        lang = i18n.language()
        return bpe.app_corpus(lang), _("the app's glossary and tour texts in {language}").format(
            language=i18n.LANGUAGES[lang])
    if choice == "text":
        return ([text] if text.strip() else []), _("the sidebar text")
    own = st.session_state.get(CORPUS_TEXT.name) or ""
    return ([own] if own.strip() else []), _("your text")


def _about_model(lm: Any) -> str:
    """How the loaded model's own tokenizer relates to what is trained here (by its kind, not assumed)."""
    kind, label, V = lm.facts.tokenizer.kind, lm.spec.label, lm.facts.vocab_size
    if kind == "byte-level BPE":
        return _("{model}'s own {V:,}-token vocabulary was made exactly this way, with the same byte-level "
                 "pre-tokenizer, on a far larger corpus.").format(model=label, V=V)
    if kind == "WordPiece":
        return _("{model}'s tokenizer is WordPiece ({V:,} tokens): its vocabulary is also built by merging pieces "
                 "(`##` marks a piece that continues a word), but it cuts a text differently: the longest piece of "
                 "its vocabulary first, not merge by merge, and it knows no bytes, so an unknown character becomes "
                 "[UNK].").format(model=label, V=V)
    return _("{model}'s tokenizer is {kind} ({V:,} tokens), a different way of building and using a "
             "vocabulary.").format(model=label, kind=kind, V=V)


@st.fragment
def train_section(lm: Any, text: str) -> None:
    st.subheader(_("Where the vocabulary comes from: train a tokenizer"))
    st.markdown(i18n.sentences(_(
        "A vocabulary is not written by hand: it is learned from text. {bpe} starts from the 256 possible bytes "
        "and then, again and again, finds the pair of neighbouring tokens that occurs most often in the corpus and "
        "adds it to the vocabulary as a new token (a *merge*). Frequent words end up as single tokens; rare words "
        "and other scripts stay in smaller pieces."
    ).format(bpe=g("BPE", _("Byte-pair encoding (BPE)"))), _about_model(lm)))
    st.radio(_("Train on"), CORPORA, key=CORPUS.name, format_func=lambda c: _(CORPUS_LABELS[c]), horizontal=True,
             on_change=state.forget_warning, args=(CORPUS.name,))
    choice = st.session_state[CORPUS.name]
    if choice == "own":
        st.text_area(_("Your corpus"), key=CORPUS_TEXT.name, max_chars=MAX_CORPUS_CHARS, height=120,
                     on_change=state.forget_warning, args=(CORPUS_TEXT.name,),
                     placeholder=_("Paste a text: a story, an article, a page of code…"))
    texts, corpus_name = _corpus(choice, text)
    if not texts:
        st.info(_("The corpus is empty: paste a text to train on, or pick another corpus."), icon="✍️")
        state.write_back(TRAIN_PARAMS, scope="tokens")
        return
    with st.spinner(_("Learning merges...")):
        trained, agrees = trained_for(texts)
    merges = trained.merges
    chars = sum(len(t) for t in texts)

    c1, c2, c3, c4 = st.columns(4)
    c1.metric(_("Corpus characters"), f"{chars:,}")
    c2.metric(_("Words (distinct)"), f"{trained.n_words:,} ({trained.n_distinct:,})")
    c3.metric(_("Merges learned"), f"{len(merges):,}")
    c4.metric(_("Vocabulary"), f"{bpe.N_BYTES} → {len(trained.vocab):,}")
    if trained.stop == "size":
        why = _("It stopped after {n:,} merges, the most this page learns.").format(n=bpe.MAX_MERGES)
    else:
        why = _("It stopped after {n:,} merges: no pair of neighbouring tokens occurs {k} times or more any "
                "more.").format(n=len(merges), k=trained.min_frequency)
    st.caption(i18n.sentences(_(
        "Trained on {corpus}, cut into words by GPT-2's byte-level pre-tokenizer (a space stays with the word after "
        "it, shown ␣); a pair must occur at least {k} times to be merged; no special tokens."
    ).format(corpus=corpus_name, k=trained.min_frequency), why))
    if not merges:
        st.info(_("No pair of neighbouring tokens occurs {k} times in this corpus, so nothing can be merged: every "
                  "token stays a single byte. A longer corpus learns more.").format(k=trained.min_frequency),
                icon="✍️")
        state.write_back(TRAIN_PARAMS, scope="tokens")
        return

    wanted = int(st.session_state.get(MERGES.name, DEFAULT_MERGES))
    if wanted > len(merges):  # a link (or another corpus) asked for more merges than this corpus gives
        st.caption(_("This corpus gives {n:,} merges, so N is {n:,}.").format(n=len(merges)))
        st.session_state[MERGES.name] = len(merges)
    st.slider(_("Use the first N merges"), **MERGES.bounds(hi=len(merges)), key=MERGES.name,  # this corpus's merges
              on_change=state.forget_warning, args=(MERGES.name,))
    n = int(st.session_state[MERGES.name])
    if n:
        m = merges[n - 1]
        same = _("The string {new} was already in the vocabulary (another pair made it), so this merge adds no new "
                 "entry.").format(new=_code(m.new)) if m.existed else ""
        st.markdown(i18n.sentences(_(
            "**Merge {n}:** {left} + {right} → {new} (id {id:,}), the most frequent pair at that point: {count:,} "
            "times in the corpus. The vocabulary now has {size:,} tokens.").format(
            n=n, left=_code(m.left), right=_code(m.right), new=_code(m.new), id=m.new_id, count=m.count,
            size=m.vocab_size), same))
    else:
        st.markdown(_("**No merges yet:** the vocabulary is the {n} bytes, and every byte is a token.").format(
            n=bpe.N_BYTES))

    # the sidebar text cut with the first N merges, next to the loaded model's real tokenizer
    sample = text[:MAX_SEGMENT_CHARS]
    if sample.strip():
        ours = pieces_of(sample, trained, n)
        enc = encode(lm.tokenizer, sample, lock=lm.tokenizer_lock)
        real = describe(lm.tokenizer, enc, sample, lm.facts.tokenizer.kind)
        real_count = int((~enc.special).sum())
        left, right = st.columns(2)
        with left:
            st.markdown("**" + _("Trained here, first {n:,} merges").format(n=n) + "** · " +
                        _("{n:,} tokens").format(n=len(ours)))
            token_chips(ours)
        with right:
            st.markdown(f"**{lm.spec.label}** ({lm.facts.tokenizer.kind}) · " +
                        _("{n:,} tokens").format(n=real_count))
            token_chips(real)
        cut = _(" (its first {n:,} characters)").format(n=MAX_SEGMENT_CHARS) if len(text) > MAX_SEGMENT_CHARS else ""
        st.caption(_("The sidebar text{cut}, cut by each tokenizer. The ids on the left are this little vocabulary's "
                     "own (0–255 the bytes, then one per merge); striped chips hold only some of a character's bytes. "
                     "The count on the right leaves out special tokens the tokenizer adds.").format(cut=cut))
        at, counts = _curve(corpus_key(texts) + corpus_key([sample]), sample, trained)
    else:
        at, counts, real_count = np.array([], dtype=int), np.array([], dtype=int), None
    def figure():
        labels = [f"{visible(bpe.readable(m.left))} + {visible(bpe.readable(m.right))} → {visible(bpe.readable(m.new))}"
                  for m in merges]
        return merges_figure(np.array([m.count for m in merges]), labels, n, counts, at, real_count, lm.spec.label,
                             _("{n:,} merges learned from {corpus}").format(n=len(merges), corpus=corpus_name))

    # everything the figure is made from: the corpus, N, the text cut, the model (cache.shared)
    view = (corpus_key(texts), n, corpus_key([sample]), real_count, lm.spec.id, corpus_name)
    show_chart(shared(("bpe-merges", *view), figure), "bpe-merges", key="bpe_merges_chart")
    st.caption(_("Left: each merge takes the most frequent pair, so the counts fall as training goes on (log scale). "
                 "Right: every merge can only join pieces, so the text never gets more tokens as N grows; words the "
                 "corpus used often shrink first."))
    if agrees:
        st.caption(":material/check_circle: " + _(
            "Checked live: the `tokenizers` library's own BpeTrainer, trained on the same corpus with the same "
            "settings, learns the same {n:,} merges in the same order.").format(n=len(merges)))
    else:
        st.warning(_("The `tokenizers` library's BpeTrainer, trained on the same corpus with the same settings, learns "
                     "different merges from the ones shown here."), icon="⚠️")

    def table() -> pd.DataFrame:
        return pd.DataFrame({"merge": [m.rank for m in merges], "left": [visible(bpe.readable(m.left)) for m in merges],
                             "right": [visible(bpe.readable(m.right)) for m in merges],
                             "new token": [visible(bpe.readable(m.new)) for m in merges],
                             "count": [m.count for m in merges], "id": [m.new_id for m in merges],
                             "vocabulary size": [m.vocab_size for m in merges]})

    def shown_table():  # in this run's language, as Arrow: what st.dataframe sends (made once per corpus)
        import pyarrow as pa

        shown = {"merge": _("merge"), "left": _("left"), "right": _("right"), "new token": _("new token"),
                 "count": _("count"), "id": _("id"), "vocabulary size": _("vocabulary size")}
        return pa.Table.from_pandas(table().rename(columns=shown), preserve_index=False)

    with st.expander(_("All {n:,} merges, in the order they were learned").format(n=len(merges))):
        st.dataframe(shared(("bpe-table", corpus_key(texts)), shown_table), hide_index=True, width="stretch",
                     height=300)
        csv_download(table, _("Download the merges (CSV)"), "bpe-merges.csv", key="bpe_csv")
    state.write_back(TRAIN_PARAMS, scope="tokens")


# ------------------------------------------------------------------------------------------- token tax
def _tokenizers(lm: Any) -> list[tuple[str, str, Any, Any, Any]]:
    """(label, kind, tokenizer, lock, context length) of the loaded model and the other family's bundled one."""
    out = [(lm.spec.label, lm.facts.tokenizer.kind, lm.tokenizer, lm.tokenizer_lock, lm.facts.context_length)]
    other_id = other_family_default(lm.spec.id)
    try:
        other = get_tokenizer(other_id)
    except ModelUnavailable as e:
        st.info(str(e), icon=":material/cloud_off:")
        return out
    out.append((get_spec(other_id).label, other.facts.kind, other.tokenizer, other.lock, None))
    return out


def _ratio(x: float | None, digits: str = ".2f") -> str:
    return "—" if x is None else format(x, digits)


@st.fragment
def tax_section(lm: Any) -> None:
    st.subheader(_("The token tax: the same meaning, a different price"))
    st.markdown(_(
        "A vocabulary learned mostly from English has whole tokens for English words, while a language it saw "
        "little of is cut into small pieces, often single bytes. Type the same sentence in two languages (or any "
        "two texts) and compare what each tokenizer makes of them."))
    a_col, b_col = st.columns(2)
    a_col.text_input(_("Text A"), key=TAX_A.name, max_chars=TAX_MAX_CHARS, on_change=state.forget_warning,
                     args=(TAX_A.name,))
    b_col.text_input(_("Text B"), key=TAX_B.name, max_chars=TAX_MAX_CHARS, on_change=state.forget_warning,
                     args=(TAX_B.name,))
    a, b = st.session_state.get(TAX_A.name) or "", st.session_state.get(TAX_B.name) or ""
    if not a.strip() or not b.strip():
        st.info(_("Type both texts to compare them."), icon="✍️")
        state.write_back(TAX_PARAMS, scope="tokens")
        return

    def compare():  # every tokenizer on both texts: a table (Arrow, as st.dataframe sends it), a figure, notes
        import pyarrow as pa

        rows, names, tokens_a, tokens_b, notes = [], [], [], [], []
        for label, kind, tok, lock, _ctx in tokenizers:
            ca, cb = tokentax.cost(tok, a, lock), tokentax.cost(tok, b, lock)
            names.append(label)
            tokens_a.append(ca.tokens)
            tokens_b.append(cb.tokens)
            for which, text_, c in (("A", a, ca), ("B", b, cb)):
                rows.append({_("tokenizer"): f"{label} ({kind})", _("text"): which, _("characters"): c.characters,
                             _("words"): str(c.words) if c.words is not None else "—", _("tokens"): c.tokens,
                             _("tokens per character"): f"{c.per_character:.2f}",
                             _("tokens per word"): _ratio(c.per_word), "[UNK]": c.unknown})
            r = tokentax.tax(ca, cb)
            if r is not None:
                notes.append(_("**{model}**: text B takes {nb:,} tokens, text A {na:,}: B costs {r:.2f} times as many "
                               "tokens as A.").format(model=label, na=ca.tokens, nb=cb.tokens, r=r))
            if cb.unknown or ca.unknown:
                notes.append(_("{model} turns {k:,} of text B's and {j:,} of text A's tokens into its unknown token "
                               "[UNK]: fewer tokens, but the model cannot tell those characters apart, so cheaper is "
                               "not better here.").format(model=label, k=cb.unknown, j=ca.unknown))
        figure = tax_figure(names, tokens_a, tokens_b, _("Text A"), _("Text B"), _("Tokens for each text"))
        return pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False), figure, notes

    # made once per (tokenizers, texts, language) and shared: a class that opens the page at once pays for it once
    tokenizers = _tokenizers(lm)  # here, not in compare(): it may say that the other family's tokenizer is missing
    table, figure, notes = shared(("token-tax", *(t[0] for t in tokenizers), a, b), compare)
    st.dataframe(table, hide_index=True, width="stretch")
    show_chart(figure, "token-tax", key="tax_chart")
    st.markdown("\n".join(f"- {n}" for n in notes))
    ca, cb = tokentax.cost(lm.tokenizer, a, lm.tokenizer_lock), tokentax.cost(lm.tokenizer, b, lm.tokenizer_lock)
    r = tokentax.tax(ca, cb)
    ctx = lm.facts.context_length
    if r is not None and ctx:
        st.markdown(_(
            "**What it means.** Everything is counted in tokens. A service that charges per token charges {r:.2f} "
            "times as much for text B; a decoder writes one token per step, so writing B takes {r:.2f} times as many "
            "steps; and {model}'s {context} of {ctx:,} tokens holds about {fa:,} characters of text like A but only "
            "about {fb:,} of text like B."
        ).format(r=r, model=lm.spec.label, context=g("context window", _("context window")), ctx=ctx,
                 fa=tokentax.fits(ctx, ca), fb=tokentax.fits(ctx, cb)))
    st.caption(_("Counts leave out the special tokens a tokenizer adds around a text ([CLS], [SEP], BOS). Words are "
                 "counted between spaces; a text in a script written without spaces (Chinese, Japanese, Thai) has no "
                 "word count (—), so compare the totals of two texts that say the same thing."))
    state.write_back(TAX_PARAMS, scope="tokens")
