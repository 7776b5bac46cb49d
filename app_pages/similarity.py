"""Similarity: compare vectors — words, sentences, one word in two contexts, and three ways to measure."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from components import state
from components.cache import get_index, get_model, get_trace
from components.plots import heatmap, layer_drift
from components.widgets import csv_download, md_literal, show_chart, visible
from models import similarity as sim
from models.loading import ModelUnavailable, bundled_path

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
LAYER = state.Param("layer", L, state.int_in(0, L))
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
state.seed(PARAMS, scope="similarity", prefix=PREFIX)
if st.session_state[key(LAYER)] > L:  # the model changed under the layer (fewer layers)
    st.session_state[key(LAYER)] = L
implicit: dict[str, str] = {}


def notice(text: str) -> str:
    """A notice of models.similarity ("'<user text>' appears twice; ...") as Markdown: the quoted user text as a
    literal code span; a notice of any other shape is shown whole as literal text unless it is a known cap notice."""
    m = re.fullmatch(r"'(.*)'(\s[^']*)", text, flags=re.S)
    if m:
        return md_literal(m.group(1)) + m.group(2)
    if re.fullmatch(r"Only the first \d+ of \d+ (words|sentences) are used\.", text):
        return text
    return md_literal(text)


def layer0_text() -> str:
    if facts.positions == "rope":
        return ("layer 0 is the token's embedding row itself (this model adds no position vector: RoPE acts "
                "inside attention)")
    if facts.family == "encoder":
        parts = "token row + position row" + (" + token-type row" if getattr(lm.model.config, "type_vocab_size", 0)
                                              else "")
        return f"layer 0 is already LayerNorm({parts}), not the bare token row"
    return "layer 0 is token row + position row"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def wrap_text() -> str:
    t = facts.tokenizer
    if t.wraps_cls_sep:
        return f"wrapped in `{t.cls_token}` … `{t.sep_token}` as the tokenizer always does"
    if t.adds_bos:
        return f"after the `{t.bos_token}` the tokenizer puts in front"
    if KIND == "byte-level BPE":
        return "as the whole text, with the leading space it has inside a sentence and no BOS token"
    return "as the whole text"


st.title("Similarity: comparing vectors")
st.markdown(
    f"Every word or sentence becomes a vector of {facts.d_model} numbers in {lm.spec.label}. Two vectors that "
    "point the same way mean similar things to the model. **Cosine similarity** measures exactly that angle: "
    "cos = a·b / (|a| |b|) is 1 for the same direction, 0 for unrelated (at right angles) and −1 for opposite."
)

# ---------------------------------------------------------------------------- 1. word matrix
st.header("1. Words: a cosine matrix")
st.text_input("Words (comma separated)", key=key(WORDS), on_change=forget, args=(WORDS.name,), max_chars=3000)
c1, c2 = st.columns([2, 3])
c1.radio("Vectors", ["static", "contextual"], key=key(VECTORS), on_change=forget, args=(VECTORS.name,),
         horizontal=True, format_func={"static": "static: input embedding rows",
                                       "contextual": "contextual: after a layer"}.get)
contextual = st.session_state[key(VECTORS)] == "contextual"
c2.slider("Layer", 0, L, key=key(LAYER), on_change=forget, args=(LAYER.name,), disabled=not contextual,
          help=f"Contextual vectors only. {upper_first(layer0_text())}; layer l = the output of block l.")
layer = st.session_state[key(LAYER)]

words, notices = sim.parse_words(st.session_state[key(WORDS)])
words, long_notices = sim.clip_words(words)
notices += long_notices
# byte-level BPE has no unknown piece (its "unk" token is a control token); WordPiece maps unknowns to [UNK]
UNK = None if KIND == "byte-level BPE" else lm.tokenizer.unk_token_id
specials = {i for i in getattr(lm.tokenizer, "all_special_ids", []) if i != UNK}
pieces: dict[str, sim.WordPieces] = {}
if contextual and len(words) > MAX_CONTEXTUAL_WORDS:
    notices.append(f"Contextual vectors need one run of the model per word: only the first {MAX_CONTEXTUAL_WORDS} "
                   f"of {len(words)} words are used (static vectors take up to {sim.MAX_WORDS}).")
    words = words[:MAX_CONTEXTUAL_WORDS]
for w in words:
    wp = sim.word_pieces(lm, w)
    if not wp.ids:
        notices.append(f"'{w}' becomes no token at all in this vocabulary (the tokenizer drops it); it is left out.")
    elif set(wp.ids) & specials:
        notices.append(f"'{w}' is or contains a special token of this tokenizer, not a word; it is left out.")
    else:
        pieces[w] = wp
words = [w for w in words if w in pieces]
for n in notices:
    st.caption(notice(n))

vectors: np.ndarray | None = None  # [n, d] the vectors of section 1 (section 4 compares two of them)
if not words:
    st.info("Type some words, separated by commas, to compare them (for example: cat, dog, car).", icon="✍️")
elif len(words) == 1:
    st.info(f"A similarity matrix needs at least two words: add another word after {md_literal(words[0])}, "
            "separated by a comma.", icon="✍️")
else:
    wps = [pieces[w] for w in words]
    if contextual:
        traces = [get_trace(lm.spec.id, sim.word_form(w, KIND)) for w in words]
        vectors = np.stack([sim.contextual_word_vector(t, layer) for t in traces])  # [n, d]
        what = f"contextual, after layer {layer} of {L}" if layer else f"contextual, layer 0 of {L}"
    else:
        vectors = np.stack([sim.static_word_vector(index, wp) for wp in wps])  # [n, d]
        what = "static input embeddings"
    M = sim.cosine_matrix(vectors)
    show_chart(heatmap(M, words, words, f"Cosine similarity ({what})", zmin=-1, zmax=1, show_values=True,
                 hover_name="cosine"), "words")
    if contextual:
        how = (f"Contextual: each word is run **alone** through the model ({wrap_text()}); its vector is the hidden "
               f"state after layer {layer}, averaged over the word's pieces (special tokens left out). "
               f"{upper_first(layer0_text())}.")
    else:
        how = (f"Static: each word's vector is its row of the input embedding matrix ({facts.vocab_size:,} rows × "
               f"{facts.d_model}), before any position or context.")
        if KIND == "byte-level BPE":
            how += " Words are looked up as they appear inside a sentence, with their leading space (`Ġ`)."
    st.caption(how + " A word cut into several pieces gets the **mean** of its pieces' vectors. Hover a cell for "
               "the exact value; the diagonal is each word with itself (1).")
    split = [f"{md_literal(w)} → {md_literal(' '.join(visible(p) for p in wp.pieces))}"
             for w, wp in zip(words, wps) if not wp.single and UNK not in wp.ids]
    if split:
        st.markdown(f"**Split into pieces** ({len(split)} of {len(words)} words; the mean of the pieces is used): "
                    + "; ".join(split) + ".")
    unknown = [w for w, wp in zip(words, wps) if UNK is not None and UNK in wp.ids]
    if unknown:
        unk = lm.tokenizer.unk_token
        st.warning(
            f"Not in the vocabulary: {', '.join(md_literal(w) for w in unknown)}. The tokenizer maps characters it "
            f"has no piece for to `{unk}`, so these words share the one `{unk}` row: the model cannot tell "
            f"them apart, and two words that are only `{unk}` get cosine 1.", icon="❓")
    shares = [sim.top_share(v) for v in vectors] if contextual and facts.family == "decoder" else []
    mean_share = float(np.mean([s for s, _ in shares])) if shares else 0.0
    if mean_share > 0.5:  # measured, not assumed: shown only when a few dimensions dominate the vectors
        dims = {tuple(sorted(d)) for _, d in shares}
        where = (f"the same 3 of its {facts.d_model} dimensions ({', '.join(map(str, sorted(dims.pop())))})"
                 if len(dims) == 1 else f"its 3 largest of {facts.d_model} dimensions")
        st.markdown(
            f"**Why do the words look alike here?** Run alone, every word is the first token of its text. In this "
            "decoder the first position is an *attention sink*: the model learned to let spare attention rest on "
            "whatever token comes first, and that token's hidden state carries a few huge numbers, whatever the "
            f"word. After layer {layer}, on average **{mean_share:.0%}** of a word vector's squared length sits in "
            f"{where}, so the words point almost the same way and their cosines are close to 1. Inside a sentence "
            "a word is not at position 0: section 3 follows one word in context."
        )
    csv_download(pd.DataFrame(M, index=words, columns=words).reset_index(names="word"), "Matrix as CSV",
                 f"cosine-words-{lm.spec.id}-{'layer' + str(layer) if contextual else 'static'}.csv",
                 key="sim_words_csv")

# ------------------------------------------------------------------------------- 2. sentences
st.header("2. Sentences")
st.text_area("Sentences (one per line, or separated by |)", key=key(SENTENCES), height=110, max_chars=5000,
             on_change=forget, args=(SENTENCES.name,))
sentences, s_notices = sim.parse_sentences(st.session_state[key(SENTENCES)])
for n in s_notices:
    st.caption(notice(n))
recipe = None
if lm.spec.source == "bundled-dir":
    try:
        recipe = sim.sentence_recipe(bundled_path(lm.spec))
    except ModelUnavailable:
        recipe = None
traced = {}
for s in sentences:
    try:
        traced[s] = get_trace(lm.spec.id, s)
    except ValueError:  # the tokenizer drops every character of it
        st.caption(f"{md_literal(s)} becomes no token at all; it is left out.")
sentences = [s for s in sentences if s in traced]
if len(sentences) < 2:
    st.info("Give at least two sentences (one per line) to compare them.", icon="✍️")
else:
    s_traces = [traced[s] for s in sentences]
    labels = [f"S{i + 1}: " + (s if len(s) <= 30 else s[:29] + "…") for i, s in enumerate(sentences)]
    short = [f"S{i + 1}" for i in range(len(sentences))]
    use_recipe = recipe is not None and recipe.pooling in (("mean",), ("cls",), ("max",))
    if use_recipe:
        S = np.stack([sim.recipe_vector(t, recipe) for t in s_traces])
        name = f"{'+'.join(recipe.pooling)} pooling" + (", L2-normalised" if recipe.normalize else "")
    else:
        S = np.stack([sim.sentence_vector(t, -1, "mean") for t in s_traces])
        name = "mean of the last layer"
    SM = sim.cosine_matrix(S)
    cols = st.columns(2) if facts.family == "encoder" else [st.container()]
    with cols[0]:
        show_chart(heatmap(SM, short, labels, f"Sentence cosine ({name})", zmin=-1, zmax=1, show_values=True,
                     hover_name="cosine"), "sentences")
    if facts.family == "encoder":
        CLS = np.stack([sim.sentence_vector(t, -1, "cls") for t in s_traces])
        with cols[1]:
            show_chart(heatmap(sim.cosine_matrix(CLS), short, labels,
                         f"Sentence cosine ({facts.tokenizer.cls_token or 'first-token'} vector of the last layer)",
                         zmin=-1, zmax=1, show_values=True, hover_name="cosine"), "sentences_cls")
    st.markdown("\n".join(f"{i + 1}. {md_literal(s)}" for i, s in enumerate(sentences)))
    if use_recipe:
        pooled = {"mean": "the **mean** of the last layer's token vectors (every token, including "
                          f"`{facts.tokenizer.cls_token}` and `{facts.tokenizer.sep_token}`: the attention mask "
                          "is all ones)"
                          if facts.tokenizer.wraps_cls_sep else "the **mean** of the last layer's token vectors",
                  "cls": "the **first-token** vector of the last layer", "max": "the **maximum** of each dimension"}
        text = (f"{lm.spec.label} is a sentence-transformers model. Its own recipe ({recipe.source} in the model "
                f"folder) makes a sentence vector as {pooled[recipe.pooling[0]]}"
                + (", then **L2-normalises** it (scales it to length 1)" if recipe.normalize else "")
                + ". The first matrix uses exactly that."
                + (" Normalising changes no cosine: cosine already divides by both lengths." if recipe.normalize
                   else ""))
        long = [i + 1 for i, t in enumerate(s_traces) if recipe.max_seq_length and t.n_total > recipe.max_seq_length]
        if long:
            many = len(long) > 1
            text += (f" Sentence{'s' if many else ''} {', '.join(map(str, long))} {'are' if many else 'is'} longer "
                     f"than the recipe's {recipe.max_seq_length} tokens: sentence-transformers would cut "
                     f"{'them' if many else 'it'} there; here all the tokens analysed are averaged.")
        if facts.family == "encoder":
            text += (f" The second matrix uses the `{facts.tokenizer.cls_token}` vector instead: "
                     + ("this model was trained with the pooling above, not with it, so compare how clearly each "
                        "matrix separates the paraphrases from an unrelated sentence."
                        if recipe.pooling != ("cls",) else "the same vector the recipe uses, here without "
                                                           "normalisation (cosine is unchanged)."))
        st.caption(text)
    elif facts.family == "encoder":
        st.caption(
            f"Sentence vectors here: the **mean** of the last layer's token vectors (left), or the "
            f"`{facts.tokenizer.cls_token}` vector (right). {lm.spec.label} has no sentence-transformers recipe: "
            "it was not trained to make sentence vectors, so both are rough; compare which pairs are closer "
            "rather than the values.")
    else:
        st.caption(
            "Sentence vector here: the **mean** of the last layer's token vectors. That is only a rough sentence "
            f"vector for a decoder: {lm.spec.label} was trained to predict the next token, not to compare "
            "sentences, and each token sees only the tokens to its left (causal mask), so the first tokens know "
            "little about the rest of the sentence. Compare which pairs are closer rather than the values.")
    cut = [(i + 1, t) for i, t in enumerate(s_traces) if t.truncated]
    if cut:
        st.caption(" ".join(f"Sentence {i} has {t.n_total:,} tokens; the model analyses its first {t.n_tokens}."
                            for i, t in cut))
    csv_download(pd.DataFrame(SM, index=sentences, columns=short).reset_index(names="sentence"),
                 "Sentence matrix as CSV", f"cosine-sentences-{lm.spec.id}.csv", key="sim_sentences_csv")

# ---------------------------------------------------------------------- 3. same word, contexts
st.header("3. Same word, different contexts")
t1, t2 = st.columns([1, 3])
t1.text_input("Word", key=key(TARGET), on_change=forget, args=(TARGET.name,), max_chars=sim.MAX_WORD_CHARS)
t2.text_area("Sentences that contain it (one per line, or separated by |)", key=key(CONTEXTS), height=90,
             max_chars=3000, on_change=forget, args=(CONTEXTS.name,))
target = " ".join(st.session_state[key(TARGET)].split())
contexts, c_notices = sim.parse_sentences(st.session_state[key(CONTEXTS)], limit=MAX_CONTEXTS)
for n in c_notices:
    st.caption(notice(n))
if not target:
    st.info("Type the word to follow through the layers.", icon="✍️")
elif len(contexts) < 2:
    st.info("Give at least two sentences that contain the word, one per line.", icon="✍️")
else:
    found = []  # (sentence number, trace, token positions)
    for i, s in enumerate(contexts):
        span = sim.find_word(s, target)
        if span is None:
            st.warning(f"{md_literal(target)} is not in sentence {i + 1} as a whole word: {md_literal(s)}. "
                       "That sentence is left out.", icon="🔎")
            continue
        try:
            tr = get_trace(lm.spec.id, s)
            pos = sim.span_positions(tr.offsets, tr.special, *span)
        except ValueError:  # no token at all
            tr, pos = None, []
        if tr is None:
            st.warning(f"Sentence {i + 1} becomes no token at all; it is left out.", icon="🔎")
            continue
        if not pos:
            st.warning(f"Sentence {i + 1} is longer than the {tr.n_tokens} tokens analysed and {md_literal(target)} "
                       "comes after them; that sentence is left out.", icon="✂️")
            continue
        found.append((i + 1, tr, pos))
    if len(found) < 2:
        st.info(f"The word must appear in at least two of the sentences to compare its vectors "
                f"(found in {len(found)}).", icon="🔎")
    else:
        (n0, tr0, pos0), others = found[0], found[1:]
        h0 = tr0.hidden_states[:, pos0].mean(axis=1)  # [L+1, d]
        e0 = tr0.token_embeddings[pos0].mean(axis=0)  # [d]
        series, static = {}, {}
        for n, tr, pos in others:
            name = f"sentence {n0} vs sentence {n}"
            series[name] = sim.layer_cosines(h0, tr.hidden_states[:, pos].mean(axis=1))
            static[name] = sim.cosine(e0, tr.token_embeddings[pos].mean(axis=0))
        show_chart(layer_drift(series, static, f"The word's vectors in different sentences, layer by layer ({lm.spec.label})",
                         static_name="input embedding rows alone"), "contexts")
        spelled = "; ".join(
            f"in sentence {n}, {md_literal(' '.join(visible(tr.tokens[p]) for p in pos))} "
            f"(id {', '.join(str(int(tr.ids[p])) for p in pos)}) at position {', '.join(map(str, pos))}"
            for n, tr, pos in found)
        first = next(iter(series))
        y, s0 = series[first], static[first]
        same_ids = all(tr.ids[pos].tolist() == tr0.ids[pos0].tolist() for _, tr, pos in others)
        text = [f"The model reads {md_literal(target)} as: {spelled}."]
        if same_ids:
            text.append(f"The same token{'s' if len(pos0) > 1 else ''} everywhere, so the input embedding rows are "
                        f"identical: cosine **{s0:.4f}** (open diamond).")
        else:
            text.append("The target is **not the same token** in every sentence (different ids above), so even the "
                        f"input embedding rows differ: cosine {s0:.4f} (open diamond).")
        if facts.positions == "rope":
            text.append(f"{lm.spec.label} adds no position vector (RoPE rotates queries and keys inside attention), "
                        f"so layer 0 is exactly those rows: cosine {y[0]:.4f}.")
        else:
            positions = [pos[0] for _, _, pos in found]
            text.append(f"At layer 0 the cosine is {y[0]:.4f}, not the diamond's {s0:.4f}: {layer0_text()}"
                        + (f", and the word sits at different positions ({', '.join(map(str, positions))})."
                           if len(set(positions)) > 1 else "."))
        lo = int(np.argmin(y))
        low = (f"falls to {y[-1]:.4f} after the last layer ({L})" if lo == L else
               f"is lowest after layer {lo} ({y[lo]:.4f}) and {y[-1]:.4f} after the last layer ({L})")
        text.append(f"Then attention mixes in the other words, layer by layer: the cosine for {first} {low}. Same "
                    "word, different context: the model's vectors for it drift apart.")
        st.markdown(" ".join(text))

# ---------------------------------------------------------------------- 4. cosine, dot, distance
st.header("4. Cosine, dot product or distance?")
if vectors is None:
    st.info("Give at least two words in section 1 to compare one pair.", icon="✍️")
else:
    for p, fallback in ((A, words[0]), (B, words[1])):
        implicit[p.name] = fallback
        if st.session_state[key(p)] not in words:
            st.session_state[key(p)] = fallback
    p1, p2 = st.columns(2)
    p1.selectbox("First word", words, key=key(A), on_change=forget, args=(A.name,))
    p2.selectbox("Second word", words, key=key(B), on_change=forget, args=(B.name,))
    wa, wb = st.session_state[key(A)], st.session_state[key(B)]
    va, vb = vectors[words.index(wa)], vectors[words.index(wb)]
    raw = sim.distances(va, vb)
    unit = sim.distances(sim.l2_normalise(va), sim.l2_normalise(vb))
    table = pd.DataFrame({
        "measure": ["cosine", "dot product", "Euclidean distance", "length of the first", "length of the second"],
        "formula": ["a·b / (|a| |b|)", "a·b = Σ aᵢbᵢ", "|a − b|", "|a|", "|b|"],
        "these vectors": [raw["cosine"], raw["dot"], raw["euclidean"], raw["norm_a"], raw["norm_b"]],
        "scaled to length 1": [unit["cosine"], unit["dot"], unit["euclidean"], unit["norm_a"], unit["norm_b"]],
    })
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f")
                                for c in ("these vectors", "scaled to length 1")})
    st.caption(f"{md_literal(wa)} and {md_literal(wb)}, "
               + (f"contextual vectors after layer {layer}." if contextual else "static input embedding rows."))
    others = [i for i, w in enumerate(words) if w != wa]
    ia = words.index(wa)
    best = {
        "cosine": words[max(others, key=lambda i: sim.cosine(vectors[ia], vectors[i]))],
        "dot product": words[max(others, key=lambda i: float(vectors[ia] @ vectors[i]))],
        "Euclidean distance": words[min(others, key=lambda i: float(np.linalg.norm(vectors[ia] - vectors[i])))],
    }
    agree = len(set(best.values())) == 1
    st.markdown(
        "**When do they differ?** Cosine looks only at the direction. The dot product is cosine × |a| × |b|, so "
        "longer vectors score higher even when they point less the same way; Euclidean distance grows with the "
        "difference in length too. Scale both vectors to length 1 (L2-normalise, as sentence-embedding "
        "models such as all-MiniLM-L6-v2 do) and they agree: the dot product *is* the cosine, and "
        "distance = √(2 − 2·cosine), so all three put pairs in the same order (right column).\n\n"
        f"In this list, the word closest to {md_literal(wa)} is "
        + ", ".join(f"{md_literal(w)} by {m}" for m, w in best.items())
        + (": here they agree." if agree else ": **they disagree**, because the vectors have different lengths.")
    )

state.write_back(PARAMS, scope="similarity", prefix=PREFIX, implicit=implicit)
