"""Embeddings: ids become vectors; geometry carries meaning; positions tell the order."""
import numpy as np
import pandas as pd
import streamlit as st

import i18n
from components import order_text, state
from components.lead import lead
from components.cache import get_index, get_model, get_trace
from components.glossary import glossary_link as g
from components.plots import heatmap, lines, pca_scatter, ranked_bars
from components.presets import TIM
from components.widgets import csv_download, md_literal, show_chart, visible
from i18n import _
from models import positions as pos
from models import similarity as sim
from models.trace import NoTokens

HEATMAP_ROWS = 64  # tokens drawn in the heatmap (all of them are in the CSV)

lm = get_model(st.session_state.active_model)
facts = lm.facts
L = facts.n_layers
WORDS = state.Param("words", sim.DEFAULT_GROUPS, state.parse_text)
LAYER = state.Param("layer", 0, lo=0, hi=L)
WORD = state.Param("word", "king", state.parse_text)
A = state.Param("a", "king", state.parse_text)
B = state.Param("b", "man", state.parse_text)
C = state.Param("c", "woman", state.parse_text)
PARAMS = [WORDS, LAYER, WORD, A, B, C]
SCOPE = "embeddings"


def _fit_model() -> None:
    if st.session_state[LAYER.name] > L:  # the model changed under a link's layer
        st.session_state[LAYER.name] = L


with state.bound(PARAMS, scope=SCOPE, fix=_fit_model) as b:
    text = state.current_text()
    index = get_index(lm.spec.id)


    st.title(_("Embeddings: ids become vectors"))
    lead(_("The model turns each token's id into a list of numbers (a vector), one row of a big table it learned; "
           "related words tend to get vectors that point in similar directions."), _(
        "{model} turns every {token} {id} into a row of its **{embedding} matrix**: {n:,} rows of {d} learned numbers. "
        "Training moves the rows of related tokens close together, so directions and distances in this space carry "
        "meaning."
    ).format(model=lm.spec.label, token=g("token"), id=g("id", _("ID")), embedding=g("embedding"), n=facts.vocab_size,
             d=facts.d_model))


    # Each section below is a fragment: moving its widget reruns that section only (the rest of the page, most of a
    # full run's CPU and the position heatmaps' data, is not recomputed or resent). So each ends by writing the URL.

    # ------------------------------------------------------------------------------ 1. token vectors
    @st.fragment
    def token_vectors() -> None:
        st.header(_("1. The vectors of your text"))
        st.slider(_("Layer"), **LAYER.bounds(), key=LAYER.name, on_change=state.forget_warning, args=(LAYER.name,),
                  help=_("0 = the embeddings, the vectors the first block reads. l = the vector after block l "
                         "(contextual: attention has mixed in the other tokens)."))
        layer = st.session_state[LAYER.name]
        if not text.strip():
            st.info(_("Type or paste some text in the sidebar to see its vectors."), icon="✍️")
        else:
            try:
                trace = get_trace(lm.spec.id, text)
            except NoTokens as e:
                st.info(str(e), icon="✍️")
                trace = None
            if trace is not None:
                # layer l is hidden_states[l] (models/numbering.py): layer 0 = the embeddings the first block reads
                vectors = trace.hidden_states[layer]  # [T, d]
                labels = [f"{i}:{visible(t)}" for i, t in enumerate(trace.tokens)]
                shown = vectors[:HEATMAP_ROWS]
                lim = float(np.percentile(np.abs(shown), 99)) or 1.0
                what = _("layer 0, the embeddings the first block reads") if layer == 0 else \
                    _("hidden states after layer {layer} of {n}").format(layer=layer, n=L)
                show_chart(heatmap(shown, [str(j) for j in range(facts.d_model)], labels[:HEATMAP_ROWS],
                                   _("{what}: {t} tokens × {d} dimensions").format(what=what, t=len(shown), d=facts.d_model),
                                   zmin=-lim, zmax=lim, height=120 + 18 * len(shown)), "vectors")
                caption = [_("One row per token, one column per dimension. Colours saturate at ±{lim:.3g} (99th "
                             "percentile); hover for exact values.").format(lim=lim)]
                if len(labels) > HEATMAP_ROWS:
                    caption.append(_("The first {n} tokens are drawn; the CSV has all.").format(n=HEATMAP_ROWS))
                if L and facts.positions == "rope":  # nothing is added to the embedding row before the first block
                    caption.append(_("Layer 0 rows are identical for the same token wherever it appears; later {layers} "
                                     "differ because {attention} mixes in the context.")
                                   .format(layers=g("layer", _("layers")), attention=g("attention")))
                elif L:
                    layer0 = pos.layer0_text(lm)
                    caption.append(_("{layer0}: a position vector is in it, so the same token differs from one position "
                                     "to another; later {layers} also mix in the context through {attention}.").format(
                        layer0=layer0[:1].upper() + layer0[1:], layers=g("layer", _("layers")), attention=g("attention")))
                caption.append(order_text.repeated_token_text(trace))  # the claim above, measured on this text
                st.caption(i18n.sentences(*caption))
                csv_download(pd.DataFrame(vectors, index=labels).reset_index(names="token"), _("Vectors as CSV"),
                             f"vectors-{lm.spec.id}-layer{layer}.csv", key="vectors_csv")
        state.write_back(PARAMS, scope=SCOPE)


    token_vectors()


    # ------------------------------------------------------------------------ 2. nearest neighbours
    @st.fragment
    def neighbours() -> None:
        st.header(_("2. Nearest neighbours"))
        st.text_input(_("Word"), key=WORD.name, on_change=state.forget_warning, args=(WORD.name,), max_chars=60)
        word = " ".join(st.session_state[WORD.name].split())
        if word:
            wp = sim.word_pieces(lm, word)
            vec = sim.static_word_vector(index, wp)
            results = index.nearest(vec, 10, exclude=set(wp.ids) if wp.single else None)
            if wp.single:
                how = _("{word} is one piece: its own embedding row.").format(word=md_literal(word))
            else:
                how = _("{word} is {n} pieces ({pieces}): the word vector is the mean of their rows, so its neighbours "
                        "are a blend.").format(word=md_literal(word), n=len(wp.ids),
                                               pieces=" ".join(md_literal(p) for p in wp.pieces))
            if wp.ids == [lm.tokenizer.unk_token_id]:
                st.warning(_("{word} is not in the vocabulary (it becomes {unk}); its neighbours say nothing about the "
                             "word.").format(word=md_literal(word), unk=md_literal(lm.tokenizer.unk_token)), icon="❓")
            title = _("Closest of all {n:,} vocabulary rows to '{word}' (cosine)").format(n=facts.vocab_size, word=word)
            show_chart(ranked_bars([visible(index.tokens[i]) for i, _s in results], np.array([s for _i, s in results]),
                                   title), "neighbours")
            st.caption(" ".join([how, _("{cosine} compares directions: 1 = same direction, 0 = unrelated.")
                                 .format(cosine=g("cosine", _("Cosine similarity")))]
                                + ([_("The word's own row is left out.")] if wp.single else [])
                                + [_("Special tokens are never listed.")]))
        else:
            st.info(_("Type a word to see its nearest neighbours."))
        state.write_back(PARAMS, scope=SCOPE)


    neighbours()


    # --------------------------------------------------------------------------- 3. vector arithmetic
    @st.fragment
    def analogy() -> None:
        st.header(_("3. Directions carry meaning: a − b + c"))
        cols = st.columns(3)
        for col, p, sign in zip(cols, (A, B, C), ("", "−", "+")):
            col.text_input(f"{sign} {p.name}".strip(), key=p.name, on_change=state.forget_warning, args=(p.name,),
                           max_chars=60)
        presets = {"king − man + woman": ("king", "man", "woman", "queen"),
                   "Germany − Japan + sushi": ("Germany", "Japan", "sushi", "bratwurst")}
        for col, (name, (a, b, c, _answer)) in zip(st.columns(len(presets)), presets.items()):
            col.button(name, key=f"preset-{name}", on_click=st.session_state.update,
                       args=({A.name: a, B.name: b, C.name: c},))
        words3 = [" ".join(st.session_state[p.name].split()) for p in (A, B, C)]
        if all(words3):
            wa, wb, wc = (sim.word_pieces(lm, w) for w in words3)
            res = sim.analogy(index, wa, wb, wc, k=10)
            labels3 = [visible(index.tokens[i]) for i, _s in res.results]
            show_chart(ranked_bars(labels3, np.array([s for _i, s in res.results]),
                              f"{words3[0]} − {words3[1]} + {words3[2]} ≈ ?"), "analogy")
            expected = next((e for a, b, c, e in presets.values() if [a, b, c] == words3), None)
            notes = [_("The input words ({words}) are left out of the results, as is usual for this demo.")
                     .format(words=", ".join(md_literal(w) for w in words3))]
            if expected:
                target = sim.word_pieces(lm, expected)
                if target.single:
                    rank = sim.rank_of(index, res.vector, target.ids[0], res.excluded)
                    n_rows = int((~index.skip).sum())
                    notes.append((_("The textbook answer '{answer}' is **#{rank:,}** of {n:,} here — this small model "
                                    "gets it.") if rank == 1 else
                                  _("The textbook answer '{answer}' is **#{rank:,}** of {n:,} here — a small model gets "
                                    "this only partly: look at what is near the top."))
                                 .format(answer=expected, rank=rank, n=n_rows))
                else:
                    notes.append(_("The textbook answer '{answer}' is split into {n} pieces in this vocabulary "
                                   "({pieces}), so it cannot come out as one row: the honest result is the list above.")
                                 .format(answer=expected, n=len(target.ids),
                                         pieces=" ".join(md_literal(p) for p in target.pieces)))
            split = [w.word for w in (wa, wb, wc) if not w.single]
            if split:
                notes.append(_("Split into pieces (their mean is used): {words}.")
                             .format(words=", ".join(md_literal(w) for w in split)))
            st.markdown(" ".join(notes))
        else:
            st.info(_("Fill in the three words."))
        state.write_back(PARAMS, scope=SCOPE)


    analogy()


    # ------------------------------------------------------------------------------- 4. PCA map
    @st.fragment
    def pca_map() -> None:
        st.header(_("4. A map of meaning (PCA)"))
        st.text_area(_("Words by group (`group: word, word; group: ...`)"), key=WORDS.name, height=90,
                     on_change=state.forget_warning, args=(WORDS.name,))
        pairs, notices = sim.parse_groups(st.session_state[WORDS.name])
        for n in notices:
            st.caption(n.markdown(md_literal))
        dims = st.radio(_("Dimensions"), [2, 3], horizontal=True, key="pca_dims")
        if len(pairs) < 3:
            st.info(_("Give at least three words to draw a map."))
        else:
            wps = [sim.word_pieces(lm, w) for _g, w in pairs]
            X = np.stack([sim.static_word_vector(index, w) for w in wps])  # [n, d]
            res = sim.pca(X, k=dims)
            title = _("Static word vectors projected from {d} to {k} dimensions").format(d=facts.d_model, k=dims)
            show_chart(pca_scatter(res.coords, [w for _g, w in pairs], [grp for grp, _w in pairs], res.explained, title),
                       "pca")
            st.caption(_(
                "Projected: the input-embedding vectors of the words (mean of pieces for split words). The {k} "
                "{principal_components} keep {pct:.1f}% of the variance ({each}); the rest is lost, so two words can look "
                "close here and still be far apart in full space. Drag to rotate in 3D."
            ).format(principal_components=g("PCA", _("principal components")), k=dims, pct=res.explained.sum() * 100, each=", ".join(f"{e * 100:.1f}%" for e in res.explained)))
        state.write_back(PARAMS, scope=SCOPE)


    pca_map()


    # ----------------------------------------------------------------------------- 5. positions
    st.header(_("5. Order: where position comes in"))
    st.markdown(order_text.family_truth(lm))
    table = pos.learned_table(lm)
    if facts.positions == "rope":
        inv = pos.rope_inv_freq(lm)
        base = pos.rope_base(lm)
        st.markdown(_(
            "{model} adds **no position vector** to the embeddings. It uses **{rope}**: inside every attention layer "
            "the {qk} of each {head} ({d_head} numbers) are cut into {pairs} pairs, and pair *i* is rotated by the "
            "angle *position × θᵢ*, with θᵢ = {base:,.0f}^(−2i/{d_head}). Fast pairs track nearby order, slow pairs "
            "long distances."
        ).format(model=lm.spec.label, rope=g("RoPE", _("rotary position embeddings (RoPE)")),
                 qk=g("query / key / value", _("query and key")), head=g("head"), d_head=facts.d_head, pairs=len(inv),
                 base=base))
        show_chart(lines(np.arange(len(inv)), {_("θᵢ (radians per position)"): inv}, _("Rotation speed of each pair"),
                    _("pair i"), "θᵢ"), "rope_freq")
        demo_text = TIM
        demo = get_trace(lm.spec.id, demo_text)
        q_pos, k_pos = min(3, demo.n_tokens - 1), min(1, demo.n_tokens - 1)
        q, k = pos.first_layer_qk(lm, demo, query_pos=q_pos, key_pos=k_pos)
        rd = pos.rope_relative_demo(lm, q, k)
        show_chart(lines(rd.distances, {_("query at position {m}").format(m=m): rd.scores[i] for i, m in enumerate(rd.starts)},
                    _("q·k after rotation depends only on how far back the key is"),
                    _("distance d: the key at n = m − d, before the query at m"), "q·k", markers=False), "rope_demo")
        st.caption(i18n.sentences(_(
            "A real query (token '{q}') and key (token '{k}') of layer 1, head 1, rotated by the model's own rotary "
            "module: the query to position m, the key to position n = m − d, before it (a causal decoder never scores a "
            "key after its query). The lines for different m lie on top of each other (largest gap {gap:.1e}): for the "
            "same two vectors, the rotation makes q·k depend on the distance d, not on m. Unrotated q·k = "
            "{unrotated:.4f}."
        ).format(q=visible(demo.tokens[q_pos]), k=visible(demo.tokens[k_pos]),
                 gap=np.abs(rd.scores - rd.scores[0]).max(), unrotated=rd.unrotated),
            _("Only this rotation term is relative: the query and key vectors themselves are computed from the hidden "
              "states, and a causal decoder can still work out absolute positions (for example from how many tokens "
              "it sees).")))
    else:
        n_show = min(64, table.shape[0]) if table is not None else 64
        st.markdown(i18n.sentences(_(
            "{model} **learns a position table**: row *p* ({d} numbers) is added to the {embedding} of the token at "
            "position *p* before the first layer ({n} positions, so that is also its longest input)."
        ).format(model=lm.spec.label, d=facts.d_model, embedding=g("embedding"),
                 n=table.shape[0] if table is not None else "?"), _("So {layer0}.").format(layer0=pos.layer0_text(lm))))
        if table is not None:
            lim = float(np.percentile(np.abs(table[:n_show]), 99)) or 1.0
            show_chart(heatmap(table[:n_show], [str(j) for j in range(facts.d_model)], [str(p) for p in range(n_show)],
                          _("Learned position table: first {n} positions × {d}").format(n=n_show, d=facts.d_model),
                          zmin=-lim, zmax=lim, height=520), "pos_table")
    sin = pos.sinusoidal(64, facts.d_model)
    show_chart(heatmap(sin, [str(j) for j in range(facts.d_model)], [str(p) for p in range(64)],
                  _("For comparison: the original Transformer's fixed sine/cosine positions (formula, not this model)"),
                  zmin=-1, zmax=1, height=520), "pos_sin")
    st.caption("PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)): "
               + _("each column is a wave; early columns oscillate fast, later ones slowly, so every position gets a "
                   "unique pattern."))

    st.subheader(_("Same words, different order"))
    try:
        first, od = order_text.demo(lm, text)  # the sidebar's text, or the Tim sentence when it compares nothing
    except pos.NoPositionModule as e:
        st.info(str(e), icon=":material/info:")
        b.stop()
    second = sim.reverse_words(first)
    low = float(min(od.per_layer.min(), od.without_positions.min()))
    show_chart(lines(np.arange(L + 1), {_("with positions (the model as it is)"): od.per_layer,
                                        _("without positions ({off})").format(off=order_text.switched_off(lm)):
                                            od.without_positions},
                     _("The same words in reverse order, layer by layer"), _("layer (0 = embeddings)"),
                     _("mean cosine of the matched tokens"), y_range=(min(0.0, low), 1.02)), "order")
    st.caption(i18n.sentences(
        _("{first} vs {second}.").format(first=md_literal(first), second=md_literal(second)),
        order_text.bag_text(lm, od), order_text.matching_text(od), order_text.layer0_text(lm, od),
        _("With positions the mean cosine {shape}.").format(shape=order_text.curve_text(od.per_layer)),
        order_text.comparison_text(lm, od)))
