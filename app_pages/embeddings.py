"""Embeddings: ids become vectors; geometry carries meaning; positions tell the order."""
import numpy as np
import pandas as pd
import streamlit as st

from components import state
from components.cache import get_index, get_model, get_trace
from components.plots import heatmap, lines, pca_scatter, ranked_bars
from components.widgets import csv_download, md_literal, show_chart, visible
from models import positions as pos
from models import similarity as sim

HEATMAP_ROWS = 64  # tokens drawn in the heatmap (all of them are in the CSV)

lm = get_model(st.session_state.active_model)
facts = lm.facts
L = facts.n_layers
WORDS = state.Param("words", sim.DEFAULT_GROUPS, state.parse_text)
LAYER = state.Param("layer", 0, state.int_in(0, L))
WORD = state.Param("word", "king", state.parse_text)
A = state.Param("a", "king", state.parse_text)
B = state.Param("b", "man", state.parse_text)
C = state.Param("c", "woman", state.parse_text)
PARAMS = [WORDS, LAYER, WORD, A, B, C]
state.seed(PARAMS, scope="embeddings")
if st.session_state[LAYER.name] > L:  # the model changed under a link's layer
    st.session_state[LAYER.name] = L

text = state.current_text()
index = get_index(lm.spec.id)


st.title("Embeddings: ids become vectors")
st.markdown(
    f"{lm.spec.label} turns every token id into a row of its **embedding matrix**: {facts.vocab_size:,} rows "
    f"of {facts.d_model} learned numbers. Training moves the rows of related tokens close together, so "
    "directions and distances in this space carry meaning."
)

# ------------------------------------------------------------------------------ 1. token vectors
st.header("1. The vectors of your text")
st.slider("Layer", 0, L, key=LAYER.name, on_change=state.forget_warning, args=(LAYER.name,),
          help="0 = the rows looked up in the embedding matrix (static). l = the vector after block l "
               "(contextual: attention has mixed in the other tokens).")
layer = st.session_state[LAYER.name]
if not text.strip():
    st.info("Type or paste some text in the sidebar to see its vectors.", icon="✍️")
else:
    try:
        trace = get_trace(lm.spec.id, text)
    except ValueError as e:
        st.info(str(e), icon="✍️")
        trace = None
    if trace is not None:
        vectors = trace.token_embeddings if layer == 0 else trace.hidden_states[layer]  # [T, d]
        labels = [f"{i}:{visible(t)}" for i, t in enumerate(trace.tokens)]
        shown = vectors[:HEATMAP_ROWS]
        lim = float(np.percentile(np.abs(shown), 99)) or 1.0
        what = "token embeddings (static)" if layer == 0 else f"hidden states after layer {layer} of {L}"
        show_chart(heatmap(shown, [str(j) for j in range(facts.d_model)], labels[:HEATMAP_ROWS],
                     f"{what}: {len(shown)} tokens × {facts.d_model} dimensions",
                     zmin=-lim, zmax=lim, hover_name="value", height=120 + 18 * len(shown)), "vectors")
        st.caption(
            f"One row per token, one column per dimension. Colours saturate at ±{lim:.3g} (99th percentile); "
            "hover for exact values." + (f" The first {HEATMAP_ROWS} tokens are drawn; the CSV has all."
                                         if len(labels) > HEATMAP_ROWS else "")
            + (" Layer 0 rows are identical for the same token wherever it appears; later layers differ "
               "because attention mixes in the context." if L else "")
        )
        csv_download(pd.DataFrame(vectors, index=labels).reset_index(names="token"), "Vectors as CSV",
                     f"vectors-{lm.spec.id}-layer{layer}.csv", key="vectors_csv")

# ------------------------------------------------------------------------ 2. nearest neighbours
st.header("2. Nearest neighbours")
st.text_input("Word", key=WORD.name, on_change=state.forget_warning, args=(WORD.name,), max_chars=60)
word = " ".join(st.session_state[WORD.name].split())
if word:
    wp = sim.word_pieces(lm, word)
    vec = sim.static_word_vector(index, wp)
    results = index.nearest(vec, 10, exclude=set(wp.ids) if wp.single else None)
    how = ("one piece: its own embedding row" if wp.single else
           f"{len(wp.ids)} pieces ({' '.join(md_literal(p) for p in wp.pieces)}): the word vector is the mean of "
           "their rows, so its neighbours are a blend")
    if wp.ids == [lm.tokenizer.unk_token_id]:
        st.warning(f"{md_literal(word)} is not in the vocabulary (it becomes {lm.tokenizer.unk_token}); its neighbours "
                   "say nothing about the word.", icon="❓")
    show_chart(ranked_bars([visible(index.tokens[i]) for i, _ in results], np.array([s for _, s in results]),
                     f"Closest of all {facts.vocab_size:,} vocabulary rows to '{word}' (cosine)"), "neighbours")
    st.caption(f"{md_literal(word)} is {how}. Cosine similarity compares directions: 1 = same direction, 0 = unrelated. "
               + ("The word's own row is left out. " if wp.single else "")
               + "Special tokens are never listed.")
else:
    st.info("Type a word to see its nearest neighbours.")

# --------------------------------------------------------------------------- 3. vector arithmetic
st.header("3. Directions carry meaning: a − b + c")
cols = st.columns(3)
for col, p, sign in zip(cols, (A, B, C), ("", "−", "+")):
    col.text_input(f"{sign} {p.name}".strip(), key=p.name, on_change=state.forget_warning, args=(p.name,),
                   max_chars=60)
presets = {"king − man + woman": ("king", "man", "woman", "queen"),
           "Germany − Japan + sushi": ("Germany", "Japan", "sushi", "bratwurst")}
pc = st.columns(len(presets))
for col, (name, (a, b, c, _)) in zip(pc, presets.items()):
    if col.button(name, key=f"preset-{name}"):
        st.session_state.update({A.name: a, B.name: b, C.name: c})
        st.rerun()
words3 = [" ".join(st.session_state[p.name].split()) for p in (A, B, C)]
if all(words3):
    wa, wb, wc = (sim.word_pieces(lm, w) for w in words3)
    res = sim.analogy(index, wa, wb, wc, k=10)
    labels3 = [visible(index.tokens[i]) for i, _ in res.results]
    show_chart(ranked_bars(labels3, np.array([s for _, s in res.results]),
                     f"{words3[0]} − {words3[1]} + {words3[2]} ≈ ?"), "analogy")
    expected = next((e for a, b, c, e in presets.values() if [a, b, c] == words3), None)
    notes = [f"The input words ({', '.join(md_literal(w) for w in words3)}) are left out of the results, as is usual for this demo."]
    if expected:
        target = sim.word_pieces(lm, expected)
        if target.single:
            rank = sim.rank_of(index, res.vector, target.ids[0], res.excluded)
            notes.append(f"The textbook answer '{expected}' is **#{rank:,}** of {int((~index.skip).sum()):,} here"
                         + (" — this small model gets it." if rank == 1 else
                            " — a small model gets this only partly: look at what is near the top."))
        else:
            notes.append(f"The textbook answer '{expected}' is split into {len(target.ids)} pieces in this "
                         f"vocabulary ({' '.join(md_literal(p) for p in target.pieces)}), so it cannot come out as "
                         "one row: the honest result is the list above.")
    split = [w.word for w in (wa, wb, wc) if not w.single]
    if split:
        notes.append(f"Split into pieces (their mean is used): {', '.join(md_literal(w) for w in split)}.")
    st.markdown(" ".join(notes))
else:
    st.info("Fill in the three words.")

# ------------------------------------------------------------------------------- 4. PCA map
st.header("4. A map of meaning (PCA)")
st.text_area("Words by group (`group: word, word; group: ...`)", key=WORDS.name, height=90,
             on_change=state.forget_warning, args=(WORDS.name,))
pairs, notices = sim.parse_groups(st.session_state[WORDS.name])
for n in notices:
    st.caption(md_literal(n))
dims = st.radio("Dimensions", [2, 3], horizontal=True, key="pca_dims")
if len(pairs) < 3:
    st.info("Give at least three words to draw a map.")
else:
    wps = [sim.word_pieces(lm, w) for _, w in pairs]
    X = np.stack([sim.static_word_vector(index, w) for w in wps])  # [n, d]
    res = sim.pca(X, k=dims)
    show_chart(pca_scatter(res.coords, [w for _, w in pairs], [g for g, _ in pairs], res.explained,
                     f"Static word vectors projected from {facts.d_model} to {dims} dimensions"), "pca")
    st.caption(
        f"Projected: the input-embedding vectors of the words (mean of pieces for split words). The {dims} "
        f"principal components keep {res.explained.sum() * 100:.1f}% of the variance "
        f"({', '.join(f'{e * 100:.1f}%' for e in res.explained)}); the rest is lost, so two words can look close "
        "here and still be far apart in full space. Drag to rotate in 3D."
    )

# ----------------------------------------------------------------------------- 5. positions
st.header("5. Order: where position comes in")
table = pos.learned_table(lm)
if facts.positions == "rope":
    inv = pos.rope_inv_freq(lm)
    base = pos.rope_base(lm)
    st.markdown(
        f"{lm.spec.label} adds **no position vector** to the embeddings. It uses **rotary position embeddings "
        f"(RoPE)**: inside every attention layer the query and key of each head ({facts.d_head} numbers) are cut "
        f"into {len(inv)} pairs, and pair *i* is rotated by the angle *position × θᵢ*, with θᵢ = "
        f"{base:,.0f}^(−2i/{facts.d_head}). Fast pairs track nearby order, slow pairs long distances."
    )
    show_chart(lines(np.arange(len(inv)), {"θᵢ (radians per position)": inv}, "Rotation speed of each pair",
               "pair i", "θᵢ"), "rope_freq")
    demo_text = "Tim chased clouds all his life"
    demo = get_trace(lm.spec.id, demo_text)
    q, k = pos.first_layer_qk(lm, demo, query_pos=min(3, demo.n_tokens - 1), key_pos=1)
    rd = pos.rope_relative_demo(lm, q, k)
    show_chart(lines(rd.distances, {f"query at position {m}": rd.scores[i] for i, m in enumerate(rd.starts)},
               "q·k after rotation depends only on the distance between the tokens",
               "distance n − m", "q·k", markers=False), "rope_demo")
    st.caption(
        f"A real query (token '{visible(demo.tokens[min(3, demo.n_tokens - 1)])}') and key (token "
        f"'{visible(demo.tokens[1])}') of layer 1, head 1, rotated by the model's own rotary module to positions "
        f"m and m + distance. The lines for different m lie on top of each other (largest gap "
        f"{np.abs(rd.scores - rd.scores[0]).max():.1e}): attention sees relative, not absolute, position. "
        f"Unrotated q·k = {rd.unrotated:.4f}."
    )
else:
    n_show = min(64, table.shape[0]) if table is not None else 64
    st.markdown(
        f"{lm.spec.label} **learns a position table**: row *p* ({facts.d_model} numbers) is added to the embedding "
        f"of the token at position *p* before the first layer ({table.shape[0] if table is not None else '?'} "
        "positions, so that is also its longest input)."
    )
    if table is not None:
        lim = float(np.percentile(np.abs(table[:n_show]), 99)) or 1.0
        show_chart(heatmap(table[:n_show], [str(j) for j in range(facts.d_model)], [str(p) for p in range(n_show)],
                     f"Learned position table: first {n_show} positions × {facts.d_model}", zmin=-lim, zmax=lim,
                     height=520), "pos_table")
sin = pos.sinusoidal(64, facts.d_model)
show_chart(heatmap(sin, [str(j) for j in range(facts.d_model)], [str(p) for p in range(64)],
             "For comparison: the original Transformer's fixed sine/cosine positions (formula, not this model)",
             zmin=-1, zmax=1, height=520), "pos_sin")
st.caption("PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)): each column is a wave; "
           "early columns oscillate fast, later ones slowly, so every position gets a unique pattern.")

st.subheader("Same words, different order")
first = "Tim chased clouds all his life"
second = sim.reverse_words(first)
t1, t2 = get_trace(lm.spec.id, first), get_trace(lm.spec.id, second)
od = sim.order_demo(t1, t2)
show_chart(lines(np.arange(L + 1), {"mean cosine of the shared tokens": od.per_layer},
           f"'{first}' vs '{second}'", "layer (0 = embedding output)", "cosine", y_range=(min(0.0, float(od.per_layer.min())), 1.02)),
     "order")
same = "exactly the same tokens" if od.same_multiset else \
    "almost the same tokens (byte-level BPE writes the first word without its leading space)"
st.caption(
    f"Both texts are made of {same}. The {len(od.shared)} tokens found once in each "
    f"({', '.join(visible(t) for t in od.shared)}) have identical input embeddings (cosine "
    f"{od.static.min():.4f}), but their hidden states differ more and more with depth: the model knows the order "
    + ("only through the rotations inside attention, so layer 0 still matches exactly." if facts.positions == "rope"
       else "from the position table, which is already added at layer 0.")
)

state.write_back(PARAMS, scope="embeddings")
