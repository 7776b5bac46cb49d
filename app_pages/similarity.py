"""Similarity: compare vectors — words, sentences, one word in two contexts, and three ways to measure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import i18n
from components import state
from components.lead import lead
from components.cache import get_index, get_model, get_trace
from components.glossary import glossary_link
from components.order_text import curve_text
from components.plots import heatmap, layer_drift
from components.widgets import csv_download, md_literal, show_chart, visible
from i18n import N_, _, ngettext
from models.positions import layer0_text as model_layer0_text
from models import similarity as sim
from models.checkpoint import model_folder
from models.trace import NoTokens

lm = get_model(st.session_state.active_model)
facts = lm.facts
L = facts.n_layers
KIND = facts.tokenizer.kind
index = get_index(lm.spec.id)


def _capped(limit: int):
    return lambda value: state.clean_text(value)[:limit]


DEFAULT_WORDS = "cat, dog, car, banana, king, queen"
DEFAULT_SENTENCES = "\n".join([
    "The students celebrated their graduation with a big party.",
    "After finishing school, the pupils threw a huge celebration.",
    "The stock market fell sharply this morning.",
])
DEFAULT_CONTEXTS = "\n".join([
    "students celebrate the graduation with a big party",
    "the deputy leader is highly respected in the party",
])
MAX_CONTEXTS = 6
MAX_CONTEXTUAL_WORDS = 16  # contextual vectors cost one model run per word (traces are cached 24 at a time)

WORDS = state.Param("words", DEFAULT_WORDS, _capped(3000))
VECTORS = state.Param("vectors", "static", state.choice("static", "contextual"))
LAYER = state.Param("layer", L, lo=0, hi=L)
A = state.Param("a", "", _capped(sim.MAX_WORD_CHARS))  # "" = the first word of the list
B = state.Param("b", "", _capped(sim.MAX_WORD_CHARS))  # "" = the second word
SENTENCES = state.Param("sentences", DEFAULT_SENTENCES, _capped(5000))
TARGET = state.Param("target", "party", _capped(sim.MAX_WORD_CHARS))
CONTEXTS = state.Param("contexts", DEFAULT_CONTEXTS, _capped(3000))
PARAMS = [WORDS, VECTORS, LAYER, A, B, SENTENCES, TARGET, CONTEXTS]

# ------------------------------------------------------------------------------------- URL state
# /embeddings also has `words` and `layer` (other meanings): this page's widgets use private session keys
# (sim_words, ...) so the two pages never share a widget key; the URL keeps the plain names.
PREFIX = "sim_"


def key(p: state.Param) -> str:
    return PREFIX + p.name


forget = state.forget_warning


def _fit_model() -> None:
    if st.session_state[key(LAYER)] > L:  # the model changed under the layer (fewer layers)
        st.session_state[key(LAYER)] = L


with state.bound(PARAMS, scope="similarity", prefix=PREFIX, fix=_fit_model) as b:
    def notice(n: sim.Notice) -> str:
        """A notice of models.similarity in the session's language, the user's text in it as a literal code span."""
        return n.markdown(md_literal)


    def joined(items, sep: str = ", ") -> str:
        """A list inside a sentence: ", " or "; " between the items, as full-width 、 / ； in Chinese."""
        return ({", ": "、", "; ": "；"}[sep] if i18n.language() == "zh" else sep).join(items)


    def layer0_text() -> str:
        """What layer 0 (hidden_states[0]) is for this model, in words (models.positions.layer0_text)."""
        return model_layer0_text(lm)


    def upper_first(text: str) -> str:
        return text[:1].upper() + text[1:]


    def wrap_text() -> str:
        t = facts.tokenizer
        if t.wraps_cls_sep:
            return _("wrapped in `{cls}` … `{sep}` as the tokenizer always does").format(cls=t.cls_token, sep=t.sep_token)
        if t.adds_bos:
            return _("after the `{bos}` the tokenizer puts in front").format(bos=t.bos_token)
        if KIND == "byte-level BPE":
            return _("as the whole text, with the leading space it has inside a sentence and no BOS token")
        return _("as the whole text")


    VECTOR_KINDS = {"static": N_("static: input embedding rows"), "contextual": N_("contextual: after a layer")}

    st.title(_("Similarity: comparing vectors"))
    lead(_("Here you compare words and sentences through their vectors: the more two vectors point the same way, "
           "the more alike the model treats them."), _(
        "Every word or sentence becomes a vector of {d} numbers in {model}. Two vectors that point the same way mean "
        "similar things to the model. **{cosine}** measures exactly that angle: cos = a·b / (|a| |b|) is 1 for the "
        "same direction, 0 for unrelated (at right angles) and −1 for opposite."
    ).format(d=facts.d_model, model=lm.spec.label, cosine=glossary_link("cosine", _("Cosine similarity"))))

    # ---------------------------------------------------------------------------- 1. word matrix
    st.header(_("1. Words: a cosine matrix"))
    st.text_input(_("Words (comma separated)"), key=key(WORDS), on_change=forget, args=(WORDS.name,), max_chars=3000)
    c1, c2 = st.columns([2, 3])
    c1.radio(_("Vectors"), list(VECTOR_KINDS), key=key(VECTORS), on_change=forget, args=(VECTORS.name,),
             horizontal=True, format_func=lambda v: _(VECTOR_KINDS[v]))
    contextual = st.session_state[key(VECTORS)] == "contextual"
    c2.slider(_("Layer"), **LAYER.bounds(), key=key(LAYER), on_change=forget, args=(LAYER.name,), disabled=not contextual,
              help=_("Contextual vectors only. {layer0}; layer l = the output of block l.").format(
                  layer0=upper_first(layer0_text())))
    layer = st.session_state[key(LAYER)]

    words, notices = sim.parse_words(st.session_state[key(WORDS)])
    words, long_notices = sim.clip_words(words)
    notices += long_notices
    # byte-level BPE has no unknown piece (its "unk" token is a control token); WordPiece maps unknowns to [UNK]
    UNK = None if KIND == "byte-level BPE" else lm.tokenizer.unk_token_id
    specials = {i for i in getattr(lm.tokenizer, "all_special_ids", []) if i != UNK}
    pieces: dict[str, sim.WordPieces] = {}
    if contextual and len(words) > MAX_CONTEXTUAL_WORDS:
        notices.append(sim.Notice(N_("Contextual vectors need one run of the model per word: only the first {limit} of "
                                     "{n} words are used (static vectors take up to {most})."),
                                  limit=MAX_CONTEXTUAL_WORDS, n=len(words), most=sim.MAX_WORDS))
        words = words[:MAX_CONTEXTUAL_WORDS]
    for w in words:
        wp = sim.word_pieces(lm, w)
        if not wp.ids:
            notices.append(sim.Notice(N_("{word} becomes no token at all in this vocabulary (the tokenizer drops it); it "
                                         "is left out."), word=w))
        elif set(wp.ids) & specials:
            notices.append(sim.Notice(N_("{word} is or contains a special token of this tokenizer, not a word; it is left "
                                         "out."), word=w))
        else:
            pieces[w] = wp
    words = [w for w in words if w in pieces]
    for n in notices:
        st.caption(notice(n))

    vectors: np.ndarray | None = None  # [n, d] the vectors of section 1 (section 4 compares two of them)
    if not words:
        st.info(_("Type some words, separated by commas, to compare them (for example: cat, dog, car)."), icon="✍️")
    elif len(words) == 1:
        st.info(_("A similarity matrix needs at least two words: add another word after {word}, separated by a "
                  "comma.").format(word=md_literal(words[0])), icon="✍️")
    else:
        wps = [pieces[w] for w in words]
        if contextual:
            traces = [get_trace(lm.spec.id, sim.word_form(w, KIND)) for w in words]
            vectors = np.stack([sim.contextual_word_vector(t, layer) for t in traces])  # [n, d]
            what = (_("contextual, after layer {layer} of {n}") if layer else _("contextual, layer 0 of {n}")).format(
                layer=layer, n=L)
        else:
            vectors = np.stack([sim.static_word_vector(index, wp) for wp in wps])  # [n, d]
            what = _("static input embeddings")
        M = sim.cosine_matrix(vectors)
        show_chart(heatmap(M, words, words, _("Cosine similarity ({what})").format(what=what), zmin=-1,
                                         zmax=1, show_values=True, hover_name=_("cosine")), "words")
        if contextual:
            how = [_("Contextual: each word is run **alone** through the model ({wrap}); its vector is the hidden state "
                     "after {layer_term} {layer}, averaged over the word's pieces (special tokens left out). "
                     "{layer0}.").format(wrap=wrap_text(), layer_term=glossary_link("layer", _("layer")), layer=layer,
                                         layer0=upper_first(layer0_text()))]
        else:
            how = [_("Static: each word's vector is its row of the input {embedding} matrix ({rows:,} rows × {d}), "
                     "before any position or context.").format(embedding=glossary_link("embedding", _("embedding")),
                                                               rows=facts.vocab_size, d=facts.d_model)]
            if KIND == "byte-level BPE":
                how.append(_("Words are looked up as they appear inside a sentence, with their leading space (␣)."))
        how.append(_("A word cut into several pieces gets the **mean** of its pieces' vectors. Hover a cell for the exact "
                     "value; the diagonal is each word with itself (1)."))
        st.caption(i18n.sentences(*how))
        split = [f"{md_literal(w)} → {md_literal(' '.join(visible(p) for p in wp.pieces))}"
                 for w, wp in zip(words, wps) if not wp.single and UNK not in wp.ids]
        if split:
            st.markdown(_("**Split into pieces** ({k} of {n} words; the mean of the pieces is used): {pieces}.").format(
                k=len(split), n=len(words), pieces=joined(split, "; ")))
        unknown = [w for w, wp in zip(words, wps) if UNK is not None and UNK in wp.ids]
        if unknown:
            unk = lm.tokenizer.unk_token
            st.warning(_(
                "Not in the vocabulary: {words}. The tokenizer maps characters it has no piece for to `{unk}`, so these "
                "words share the one `{unk}` row: the model cannot tell them apart, and two words that are only `{unk}` "
                "get cosine 1.").format(words=joined(md_literal(w) for w in unknown), unk=unk), icon="❓")
        shares = [sim.top_share(v) for v in vectors] if contextual and facts.family == "decoder" else []
        mean_share = float(np.mean([s for s, _dims in shares])) if shares else 0.0
        if mean_share > 0.5:  # measured, not assumed: shown only when a few dimensions dominate the vectors
            dims = {tuple(sorted(d)) for _s, d in shares}
            where = (_("the same 3 of its {d} dimensions ({dims})").format(
                d=facts.d_model, dims=", ".join(map(str, sorted(dims.pop())))) if len(dims) == 1
                else _("its 3 largest of {d} dimensions").format(d=facts.d_model))
            st.markdown(_(
                "**Why do the words look alike here?** Run alone, every word is the first token of its text. In this "
                "decoder the first position is an *attention sink*: the model learned to let spare {attention} rest on "
                "whatever token comes first, and that token's hidden state carries a few huge numbers, whatever the "
                "word. After layer {layer}, on average **{share:.0%}** of a word vector's squared length sits in "
                "{where}, so the words point almost the same way and their cosines are close to 1. Inside a sentence "
                "a word is not at position 0: section 3 follows one word in context."
            ).format(attention=glossary_link("attention", _("attention")), layer=layer, share=mean_share, where=where))
        csv_download(pd.DataFrame(M, index=words, columns=words).reset_index(names="word"), _("Matrix as CSV"),
                     f"cosine-words-{lm.spec.id}-{'layer' + str(layer) if contextual else 'static'}.csv",
                     key="sim_words_csv")

    # ------------------------------------------------------------------------------- 2. sentences
    st.header(_("2. Sentences"))
    st.text_area(_("Sentences (one per line, or separated by |)"), key=key(SENTENCES), height=110, max_chars=5000,
                 on_change=forget, args=(SENTENCES.name,))
    sentences, s_notices = sim.parse_sentences(st.session_state[key(SENTENCES)])
    for n in s_notices:
        st.caption(notice(n))
    folder = model_folder(lm.spec, lm.model)  # the model's own files: a sentence-transformers recipe is read there
    recipe = sim.sentence_recipe(folder) if folder is not None else None
    traced = {}
    for s in sentences:
        try:
            traced[s] = get_trace(lm.spec.id, s)
        except NoTokens:  # the tokenizer drops every character of it
            st.caption(_("{sentence} becomes no token at all; it is left out.").format(sentence=md_literal(s)))
    sentences = [s for s in sentences if s in traced]
    if len(sentences) < 2:
        st.info(_("Give at least two sentences (one per line) to compare them."), icon="✍️")
    else:
        s_traces = [traced[s] for s in sentences]
        labels = [f"S{i + 1}: " + (s if len(s) <= 30 else s[:29] + "…") for i, s in enumerate(sentences)]
        short = [f"S{i + 1}" for i in range(len(sentences))]
        use_recipe = recipe is not None and recipe.pooling in (("mean",), ("cls",), ("max",))
        if use_recipe:
            S = np.stack([sim.recipe_vector(t, recipe) for t in s_traces])
            pooling = "+".join(recipe.pooling)
            name = (_("{pooling} pooling, L2-normalised") if recipe.normalize else _("{pooling} pooling")).format(
                pooling=pooling)
        else:
            S = np.stack([sim.sentence_vector(t, -1, "mean") for t in s_traces])
            name = _("mean of the last layer")
        SM = sim.cosine_matrix(S)
        cols = st.columns(2) if facts.family == "encoder" else [st.container()]
        with cols[0]:
            show_chart(heatmap(SM, short, labels, _("Sentence cosine ({what})").format(what=name), zmin=-1,
                                             zmax=1, show_values=True, hover_name=_("cosine")), "sentences")
        if facts.family == "encoder":
            CLS = np.stack([sim.sentence_vector(t, -1, "cls") for t in s_traces])
            cls_title = (_("Sentence cosine ({cls} vector of the last layer)").format(cls=facts.tokenizer.cls_token)
                         if facts.tokenizer.cls_token else _("Sentence cosine (first-token vector of the last layer)"))
            with cols[1]:
                show_chart(heatmap(sim.cosine_matrix(CLS), short, labels, cls_title, zmin=-1, zmax=1,
                                                 show_values=True, hover_name=_("cosine")), "sentences_cls")
        st.markdown("\n".join(f"{i + 1}. {md_literal(s)}" for i, s in enumerate(sentences)))
        tok = facts.tokenizer
        if use_recipe:
            pooled = {"mean": _("the **mean** of the last layer's token vectors (every token, including `{cls}` and "
                                "`{sep}`: the {attention} mask is all ones)").format(
                                    cls=tok.cls_token, sep=tok.sep_token,
                                    attention=glossary_link("attention", _("attention")))
                              if tok.wraps_cls_sep else _("the **mean** of the last layer's token vectors"),
                      "cls": _("the **first-token** vector of the last layer"),
                      "max": _("the **maximum** of each dimension")}[recipe.pooling[0]]
            modules, pool_config = recipe.files
            made = (_("{model} is a sentence-transformers model. Its own recipe ({modules} and {pooling} in the model "
                      "folder) makes a sentence vector as {pooled}, then **L2-normalises** it (scales it to length 1).")
                    if recipe.normalize else
                    _("{model} is a sentence-transformers model. Its own recipe ({modules} and {pooling} in the model "
                      "folder) makes a sentence vector as {pooled}."))
            text = [made.format(model=lm.spec.label, modules=modules, pooling=pool_config, pooled=pooled),
                    _("The first matrix uses exactly that.")]
            if recipe.normalize:
                text.append(_("Normalising changes no cosine: cosine already divides by both lengths."))
            long = [i + 1 for i, t in enumerate(s_traces) if recipe.max_seq_length and t.n_total > recipe.max_seq_length]
            if long:
                text.append(ngettext(
                    "Sentence {which} is longer than the recipe's {n} tokens: sentence-transformers would cut it "
                    "there; here all the tokens analysed are averaged.",
                    "Sentences {which} are longer than the recipe's {n} tokens: sentence-transformers would cut them "
                    "there; here all the tokens analysed are averaged.", len(long)).format(
                        which=", ".join(map(str, long)), n=recipe.max_seq_length))
            if facts.family == "encoder":
                second = (
                    _("The second matrix uses the `{cls}` vector instead: this model was trained with the pooling above, "
                      "not with it, so compare how clearly each matrix separates the paraphrases from an unrelated "
                      "sentence.") if recipe.pooling != ("cls",) else
                    _("The second matrix uses the `{cls}` vector instead: the same vector the recipe uses, here without "
                      "normalisation (cosine is unchanged)."))
                text.append(second.format(cls=tok.cls_token))
            st.caption(i18n.sentences(*text))
        elif facts.family == "encoder":
            st.caption(_(
                "Sentence vectors here: the **mean** of the last layer's token vectors (left), or the `{cls}` vector "
                "(right). {model} has no sentence-transformers recipe: it was not trained to make sentence vectors, so "
                "both are rough; compare which pairs are closer rather than the values."
            ).format(cls=tok.cls_token, model=lm.spec.label))
        else:
            st.caption(_(
                "Sentence vector here: the **mean** of the last layer's token vectors. That is only a rough sentence "
                "vector for a decoder: {model} was trained to predict the next token, not to compare sentences, and each "
                "token sees only the tokens to its left ({causal_mask}), so the first tokens know little about the rest "
                "of the sentence. Compare which pairs are closer rather than the values."
            ).format(model=lm.spec.label, causal_mask=glossary_link("causal mask", _("causal mask"))))
        cut = [(i + 1, t) for i, t in enumerate(s_traces) if t.truncated]
        if cut:
            st.caption(i18n.sentences(*[
                _("Sentence {i} has {total:,} tokens; the model analyses its first {n}.").format(
                    i=i, total=t.n_total, n=t.n_tokens) for i, t in cut]))
        csv_download(pd.DataFrame(SM, index=sentences, columns=short).reset_index(names="sentence"),
                     _("Sentence matrix as CSV"), f"cosine-sentences-{lm.spec.id}.csv", key="sim_sentences_csv")

    # ---------------------------------------------------------------------- 3. same word, contexts
    st.header(_("3. Same word, different contexts"))
    t1, t2 = st.columns([1, 3])
    t1.text_input(_("Word"), key=key(TARGET), on_change=forget, args=(TARGET.name,), max_chars=sim.MAX_WORD_CHARS)
    t2.text_area(_("Sentences that contain it (one per line, or separated by |)"), key=key(CONTEXTS), height=90,
                 max_chars=3000, on_change=forget, args=(CONTEXTS.name,))
    target = " ".join(st.session_state[key(TARGET)].split())
    contexts, c_notices = sim.parse_sentences(st.session_state[key(CONTEXTS)], limit=MAX_CONTEXTS)
    for n in c_notices:
        st.caption(notice(n))
    if not target:
        st.info(_("Type the word to follow through the layers."), icon="✍️")
    elif len(contexts) < 2:
        st.info(_("Give at least two sentences that contain the word, one per line."), icon="✍️")
    else:
        found = []  # (sentence number, trace, token positions, the word's character span)
        for i, s in enumerate(contexts):
            span = sim.find_word(s, target)
            if span is None:
                st.warning(_("{word} is not in sentence {i} as a whole word: {sentence}. That sentence is left "
                             "out.").format(word=md_literal(target), i=i + 1, sentence=md_literal(s)), icon="🔎")
                continue
            try:
                tr = get_trace(lm.spec.id, s)
                pos = sim.span_positions(tr.offsets, tr.special, *span)
            except NoTokens:  # no token at all
                tr, pos = None, []
            if tr is None:
                st.warning(_("Sentence {i} becomes no token at all; it is left out.").format(i=i + 1), icon="🔎")
                continue
            if not pos:
                st.warning(_("Sentence {i} is longer than the {n} tokens analysed and {word} comes after them; that "
                             "sentence is left out.").format(i=i + 1, n=tr.n_tokens, word=md_literal(target)),
                           icon="✂️")
                continue
            found.append((i + 1, tr, pos, span))
        if len(found) < 2:
            st.info(_("The word must appear in at least two of the sentences to compare its vectors (found in "
                      "{n}).").format(n=len(found)), icon="🔎")
        else:
            (n0, tr0, pos0, span0), others = found[0], found[1:]
            h0 = sim.hidden_for_span(tr0, *span0)  # [L+1, d]
            e0 = sim.embedding_for_span(tr0, *span0)  # [d]
            series, static = {}, {}
            for n, tr, pos, span in others:
                name = _("sentence {a} vs sentence {b}").format(a=n0, b=n)
                series[name] = sim.layer_cosines(h0, sim.hidden_for_span(tr, *span))
                static[name] = sim.cosine(e0, sim.embedding_for_span(tr, *span))
            show_chart(layer_drift(
                series, static, _("The word's vectors in different sentences, layer by layer ({model})").format(
                    model=lm.spec.label),
                x_title=_("layer (0 = embeddings)"), y_title=_("cosine"),
                static_name=_("input embedding rows alone")), "contexts")
            spelled = joined((
                _("in sentence {i}, {tokens} (id {ids}) at position {positions}").format(
                    i=n, tokens=md_literal(" ".join(visible(tr.tokens[p]) for p in pos)),
                    ids=", ".join(str(int(tr.ids[p])) for p in pos), positions=", ".join(map(str, pos)))
                for n, tr, pos, _span in found), "; ")
            first = next(iter(series))
            y, s0 = series[first], static[first]
            same_ids = all(tr.ids[pos].tolist() == tr0.ids[pos0].tolist() for _n, tr, pos, _span in others)
            text = [_("The model reads {word} as: {spelled}.").format(word=md_literal(target), spelled=spelled)]
            if same_ids:
                text.append(ngettext(
                    "The same token everywhere, so the input embedding rows are identical: cosine **{cos:.4f}** "
                    "(open diamond).",
                    "The same tokens everywhere, so the input embedding rows are identical: cosine **{cos:.4f}** "
                    "(open diamond).", len(pos0)).format(cos=s0))
            else:
                text.append(_("The target is **not the same token** in every sentence (different ids above), so even the "
                              "input embedding rows differ: cosine {cos:.4f} (open diamond).").format(cos=s0))
            if facts.positions == "rope":
                text.append(_("{model} adds no position vector ({rope} rotates queries and keys inside attention), so "
                              "layer 0 is exactly those rows: cosine {cos:.4f}.").format(
                                  model=lm.spec.label, rope=glossary_link("RoPE", "RoPE"), cos=y[0]))
            else:
                positions = [pos[0] for _n, _t, pos, _span in found]
                if len(set(positions)) > 1:
                    text.append(_("At layer 0 the cosine is {cos:.4f}, not the diamond's {static:.4f}: {layer0}, and the "
                                  "word sits at different positions ({positions}).").format(
                                      cos=y[0], static=s0, layer0=layer0_text(), positions=", ".join(map(str, positions))))
                elif same_ids:  # same tokens at the same positions: the same sum at layer 0
                    text.append(_("At layer 0 the cosine is {cos:.4f} too: {layer0}, and the word sits at the same "
                                  "position ({position}) in every sentence.").format(
                                      cos=y[0], layer0=layer0_text(), position=positions[0]))
                else:
                    text.append(_("At layer 0 the cosine is {cos:.4f}, not the diamond's {static:.4f}: {layer0}.").format(
                        cos=y[0], static=s0, layer0=layer0_text()))
            # what the measured curve does (lowest layer, rises on the way), not a fixed story: curves are not monotonic
            text.append(_("Then {attention} mixes in the other words: the cosine for {pair} {shape}. Same word, "
                          "different context: different vectors.").format(
                attention=glossary_link("attention", _("attention")), pair=first, shape=curve_text(y)))
            st.markdown(i18n.sentences(*text))

    # ---------------------------------------------------------------------- 4. cosine, dot, distance
    st.header(_("4. Cosine, dot product or distance?"))
    if vectors is None:
        st.info(_("Give at least two words in section 1 to compare one pair."), icon="✍️")
    else:
        for p, fallback in ((A, words[0]), (B, words[1])):
            b.implicit[p.name] = fallback  # "" (the default) means this word: the URL leaves it out
            if st.session_state[key(p)] not in words:
                st.session_state[key(p)] = fallback
        p1, p2 = st.columns(2)
        p1.selectbox(_("First word"), words, key=key(A), on_change=forget, args=(A.name,))
        p2.selectbox(_("Second word"), words, key=key(B), on_change=forget, args=(B.name,))
        wa, wb = st.session_state[key(A)], st.session_state[key(B)]
        va, vb = vectors[words.index(wa)], vectors[words.index(wb)]
        raw = sim.distances(va, vb)
        unit = sim.distances(sim.l2_normalise(va), sim.l2_normalise(vb))
        measures = {"cosine": _("cosine"), "dot": _("dot product"), "euclidean": _("Euclidean distance"),
                    "norm_a": _("length of the first"), "norm_b": _("length of the second")}
        these, scaled = _("these vectors"), _("scaled to length 1")
        table = pd.DataFrame({
            _("measure"): list(measures.values()),
            _("formula"): ["a·b / (|a| |b|)", "a·b = Σ aᵢbᵢ", "|a − b|", "|a|", "|b|"],
            these: [raw[m] for m in measures],
            scaled: [unit[m] for m in measures],
        })
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4f") for c in (these, scaled)})
        st.caption((_("{a} and {b}, contextual vectors after layer {layer}.") if contextual else
                    _("{a} and {b}, static input embedding rows.")).format(a=md_literal(wa), b=md_literal(wb), layer=layer))
        others = [i for i, w in enumerate(words) if w != wa]
        ia = words.index(wa)
        best = {
            "cosine": words[max(others, key=lambda i: sim.cosine(vectors[ia], vectors[i]))],
            "dot": words[max(others, key=lambda i: float(vectors[ia] @ vectors[i]))],
            "euclidean": words[min(others, key=lambda i: float(np.linalg.norm(vectors[ia] - vectors[i])))],
        }
        by = joined(_("{word} by {measure}").format(word=md_literal(w), measure=measures[m]) for m, w in best.items())
        closest = (_("In this list, the word closest to {word} is {by}: here they agree.")
                   if len(set(best.values())) == 1 else
                   _("In this list, the word closest to {word} is {by}: **they disagree**, because the vectors have "
                     "different lengths."))
        st.markdown(_(
            "**When do they differ?** Cosine looks only at the direction. The dot product is cosine × |a| × |b|, so "
            "longer vectors score higher even when they point less the same way; Euclidean distance grows with the "
            "difference in length too. Scale both vectors to length 1 (L2-normalise, as sentence-embedding "
            "models such as all-MiniLM-L6-v2 do) and they agree: the dot product *is* the cosine, and "
            "distance = √(2 − 2·cosine), so all three put pairs in the same order (right column)."
        ) + "\n\n" + closest.format(word=md_literal(wa), by=by))
