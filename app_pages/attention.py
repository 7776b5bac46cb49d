"""Attention: which tokens each token reads, head by head, with every step of q·k on demand."""
import numpy as np
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from components import attention_plots as ap
from components import state
from components.cache import get_head_stats, get_model, get_qkv, trace_or_stop
from components.widgets import csv_download, md_literal, piece_label, show_chart, visible
from models import attention as att
from models.tokens import Encoding, describe

lm = get_model(st.session_state.active_model)
facts = lm.facts
L, H, HKV, DH = facts.n_layers, facts.n_heads, facts.n_kv_heads, facts.d_head
CAUSAL = facts.family == "decoder"

VIEWS = {
    "heatmap": "Heatmap", "heads": "All heads", "summary": "Head summary", "qk": "q·k step by step",
    "bertviz-head": "BertViz head view", "bertviz-model": "BertViz model view",
}
AGGS = {"head": "One head", "layer": "Mean of this layer's heads", "all": "Mean of all layers and heads"}
LEVELS = {"tokens": "Tokens", "words": "Words"}

VIEW = state.Param("view", "heatmap", state.choice(*VIEWS))
LAYER = state.Param("layer", 0, state.int_in(0, L - 1))
HEAD = state.Param("head", 0, state.int_in(0, H - 1))
QUERY = state.Param("query", -1, state.int_in(0, 511))  # -1: the last token
AGG = state.Param("agg", "head", state.choice(*AGGS))
LEVEL = state.Param("level", "tokens", state.choice(*LEVELS))
SCALE = state.Param("scale", "sqrt", state.choice(*ap.SCALES))
STAT = state.Param("stat", "prev", state.choice(*att.STATS))
PARAMS = [VIEW, LAYER, HEAD, QUERY, AGG, LEVEL, SCALE, STAT]
state.seed(PARAMS, scope="attention")
for p, hi in ((LAYER, L - 1), (HEAD, H - 1)):  # a kept value from a bigger model (or a stale widget label)
    if not isinstance(st.session_state[p.name], int) or not 0 <= st.session_state[p.name] <= hi:
        st.session_state[p.name] = 0

text = state.current_text()


def explain_model() -> str:
    if CAUSAL:
        first = (f"{lm.spec.label} is a **decoder**: each token may read only itself and the tokens before it "
                 "(the causal mask, grey cells), because it is trained to predict the next token.")
    else:
        first = (f"{lm.spec.label} is an **encoder**: every token reads every token, left and right. "
                 f"{facts.tokenizer.cls_token} and {facts.tokenizer.sep_token} wrap the text and often collect "
                 "attention that a head does not need elsewhere.")
    heads = f"It has {L} layers × {H} heads; each head works in {DH} dimensions."
    if facts.gqa:
        heads += (f" It uses **grouped-query attention**: its {H} query heads share {HKV} key/value heads "
                  f"({H // HKV} query heads read the same keys and values), which shrinks the KV cache.")
    pos = ("Positions enter through **RoPE**: before the dot product, q and k are rotated by an angle that grows "
           "with their position, so q·k depends on how far apart two tokens are." if facts.positions == "rope"
           else "Positions were added to the embeddings before layer 0 (" + facts.positions + " position vectors).")
    return " ".join([first, heads, pos])


st.title("Attention: which tokens each token reads")
st.markdown(
    "In every layer each token makes a **query** (what am I looking for?), a **key** (what do I offer?) and a "
    "**value** (what do I pass on?). Its query is compared with every key: score = q·k / √d, softmax turns the "
    "scores into weights that sum to 1, and the token takes the weighted sum of the values. Many **heads** do "
    "this in parallel and specialise. " + explain_model()
)

trace = trace_or_stop(lm.spec.id, text, "see its attention")
if trace.truncated:
    st.info(f"This text is {trace.n_total:,} tokens long; the first {trace.n_tokens} are analysed.", icon="✂️")

T = trace.n_tokens
pieces = describe(lm.tokenizer, Encoding(ids=trace.ids, offsets=trace.offsets, special=trace.special,
                                         n_total=trace.n_total), text, facts.tokenizer.kind)
labels = [piece_label(p) for p in pieces]
future = np.triu(np.ones((T, T), dtype=bool), k=1) if CAUSAL else None  # [T, T] True = masked


def open_head(layer: int, head: int, view: str = "heatmap") -> None:
    st.session_state[LAYER.name] = int(layer)
    st.session_state[HEAD.name] = int(head)
    st.session_state[AGG.name] = "head"
    st.session_state[VIEW.name] = view


def on_grid_click(key: str) -> None:
    points = st.session_state[key].selection.points
    if points and "customdata" in points[0]:
        layer, head = points[0]["customdata"][:2]
        open_head(layer, head)


def head_label(h: int) -> str:
    return f"{h} (kv {int(att.kv_of_heads(lm.model.config)[h])})" if facts.gqa else str(h)


def layer_head_controls(with_head: bool = True) -> tuple[int, int]:
    c1, c2 = st.columns([3, 2]) if with_head else (st.container(), None)
    c1.slider("Layer", 0, L - 1, key=LAYER.name, on_change=state.forget_warning, args=(LAYER.name,),
              help="Layer 0 reads the embeddings; later layers read what earlier layers wrote.")
    if with_head:
        c2.selectbox("Head", range(H), key=HEAD.name, format_func=head_label, on_change=state.forget_warning,
                     args=(HEAD.name,),
                     help="Heads of one layer run in parallel on the same input." +
                          (" With grouped-query attention, 'kv' is the key/value head this query head reads."
                           if facts.gqa else ""))
    return st.session_state[LAYER.name], st.session_state[HEAD.name]


def describe_head(stats: dict, layer: int, head: int) -> str:
    """One sentence on what this head mostly does, from its measured statistics."""
    s = {k: float(v[layer, head]) for k, v in stats.items()}
    share = max(("prev", "first", "self", "special"), key=lambda k: s.get(k, -1.0))
    what = {"prev": "the previous token", "first": "the first token (an 'attention sink')", "self": "itself",
            "special": f"the special tokens ({facts.tokenizer.cls_token}/{facts.tokenizer.sep_token})"}[share]
    return (f"Layer {layer}, head {head} sends on average **{s[share]:.0%}** of its attention to {what}; "
            f"average entropy {s['entropy']:.2f} bits, average distance {s['distance']:.1f} tokens "
            "(see *Head summary* for every head).")


# ----------------------------------------------------------------------------------------- views
def view_heatmap() -> None:
    c1, c2, c3 = st.columns([3, 2, 2])
    c1.radio("Show", list(AGGS), key=AGG.name, format_func=AGGS.get, horizontal=True,
             on_change=state.forget_warning, args=(AGG.name,))
    c2.radio("Level", list(LEVELS), key=LEVEL.name, format_func=LEVELS.get, horizontal=True,
             on_change=state.forget_warning, args=(LEVEL.name,),
             help="Words: pieces of one word are merged (sum over the key pieces, mean over the query pieces).")
    c3.radio("Colour", ap.SCALES, key=SCALE.name, horizontal=True,
             format_func={"sqrt": "√ (shows small weights)", "linear": "linear"}.get,
             on_change=state.forget_warning, args=(SCALE.name,))
    agg = st.session_state[AGG.name]
    layer, head = layer_head_controls(with_head=agg == "head")
    if agg == "head":
        weights, what = trace.attentions[layer, head], f"layer {layer}, head {head}"
    elif agg == "layer":
        weights, what = trace.attentions[layer].mean(0), f"mean of the {H} heads of layer {layer}"
    else:
        weights, what = trace.attentions.mean((0, 1)), f"mean of all {L * H} heads"
    q_labels = k_labels = labels
    masked = future
    if st.session_state[LEVEL.name] == "words":
        words = att.word_ids(trace.offsets, trace.special, text)
        weights = att.word_attention(weights, words)
        q_labels = k_labels = [f"{i} {visible(w)}" for i, w in enumerate(att.word_labels(text, trace.offsets, words, trace.tokens))]
        W = len(q_labels)
        masked = np.triu(np.ones((W, W), dtype=bool), k=1) if CAUSAL else None
    fig = ap.attention_heatmap(weights, q_labels, k_labels, f"Attention weights · {what}", masked=masked,
                               scale=st.session_state[SCALE.name])
    show_chart(fig, "attention-heatmap")
    rows = weights.sum(-1)
    notes = [f"Row *i* is query token *i*; each row sums to 1 (here within {np.abs(rows - 1).max():.1e})."]
    if CAUSAL:
        notes.append("Grey cells are **masked**: a decoder token cannot see later tokens, so their weight is "
                     "exactly 0 by construction, not by choice.")
    if st.session_state[LEVEL.name] == "words":
        notes.append("Word level: a word's row is the **mean** over its query pieces and each cell the **sum** "
                     "over the key pieces, so rows still sum to 1.")
    if st.session_state[SCALE.name] == "sqrt":
        notes.append("Colours follow the square root of the weight so small weights stay visible; hover a cell "
                     "for the exact number.")
    st.caption(" ".join(notes))
    if agg == "head":
        st.markdown(describe_head(get_head_stats(lm.spec.id, text), layer, head))
    csv_download(pd.DataFrame(weights, index=q_labels, columns=k_labels).reset_index(names="query"),
                 "Matrix as CSV", f"attention-{lm.spec.id}-L{layer}.csv", key="attention_csv")


def blank_future(thumbs: np.ndarray) -> np.ndarray:
    """Decoders: the masked future of each thumbnail is left blank (NaN), as in the big heatmap."""
    if not CAUSAL:
        return thumbs
    return np.where(ap.pooled_future(T, thumbs.shape[-1]), np.float32(np.nan), thumbs)


THUMB_LAYER = 48  # px per thumbnail when one layer's heads are shown
THUMB_ALL = 16  # px per thumbnail in the all-layers overview


def view_heads() -> None:
    layer, head = layer_head_controls(with_head=False)
    scale = st.session_state[SCALE.name]
    # One layer: rows = key/value heads (GQA groups) or rows of 6 heads.
    per_row = H // HKV if facts.gqa else min(H, 6)
    R = -(-H // per_row)
    cells = np.full((R, per_row, 2), -1, dtype=int)
    thumbs = np.zeros((R, per_row, min(T, THUMB_LAYER), min(T, THUMB_LAYER)), dtype=np.float32)
    pooled = blank_future(ap.pool_square(trace.attentions[layer], THUMB_LAYER))  # [H, s, s]
    for h in range(H):
        cells[h // per_row, h % per_row] = (layer, h)
        thumbs[h // per_row, h % per_row] = pooled[h]
    row_labels = ([f"kv {r}" for r in range(R)] if facts.gqa else [f"{r * per_row}–{min(H, (r + 1) * per_row) - 1}"
                                                                  for r in range(R)])
    col_labels = [f"+{c}" for c in range(per_row)]
    fig = ap.head_grid(thumbs, cells, f"The {H} heads of layer {layer} (click one to open it)",
                       row_labels=row_labels, col_labels=col_labels,
                       row_title="key/value head (query heads sharing it)" if facts.gqa else "heads",
                       col_title="head = first of the row + column", selected=(layer, head), scale=scale)
    show_chart(fig, "attention-heads", on_select=lambda: on_grid_click("attention-heads"), selection_mode="points")
    pool_note = (f" Texts longer than {THUMB_LAYER} tokens are pooled into {THUMB_LAYER}×{THUMB_LAYER} blocks "
                 "(mean over query rows, sum over key columns)." if T > THUMB_LAYER else "")
    st.caption("Each square is one head's full attention pattern (rows: queries, columns: keys"
               + ("; the blank triangle is the masked future" if CAUSAL else "") + "). "
               + ("Rows group the query heads that share one key/value head." if facts.gqa else "") + pool_note)

    st.subheader("Every layer and head at a glance")
    pooled_all = blank_future(ap.pool_square(trace.attentions, THUMB_ALL))  # [L, H, s, s]
    s = pooled_all.shape[-1]
    if L > H:  # many layers (SmolLM2: 30 x 9): layers across, heads down
        thumbs_all = pooled_all.transpose(1, 0, 2, 3)
        cells_all = np.stack(np.meshgrid(np.arange(L), np.arange(H), indexing="xy"), -1)  # [H, L, 2]
        rl, cl, rt, ct = [str(h) for h in range(H)], [str(x) for x in range(L)], "head", "layer"
    else:
        thumbs_all = pooled_all
        cells_all = np.stack(np.meshgrid(np.arange(L), np.arange(H), indexing="ij"), -1)  # [L, H, 2]
        rl, cl, rt, ct = [str(x) for x in range(L)], [str(h) for h in range(H)], "layer", "head"
    fig = ap.head_grid(thumbs_all.reshape(*cells_all.shape[:2], s, s), cells_all,
                       f"All {L * H} heads (click one to open it)", row_labels=rl, col_labels=cl, row_title=rt,
                       col_title=ct, selected=(layer, head), scale=scale)
    show_chart(fig, "attention-overview", on_select=lambda: on_grid_click("attention-overview"), selection_mode="points")
    st.caption("Look for patterns: a bright diagonal just below the main one is a previous-token head; a bright "
               "first column is a head parking its attention on the first token"
               + (f" or on {facts.tokenizer.cls_token}/{facts.tokenizer.sep_token}" if not CAUSAL else "") + ".")


FINDERS = {  # one-click questions -> the statistic that answers them
    "prev": "Previous-token heads", "first": "First-token (sink) heads", "self": "Self heads",
    "special": "[CLS]/[SEP] heads", "entropy": "Broad heads (high entropy)", "distance": "Long-range heads",
}


def view_summary() -> None:
    stats = get_head_stats(lm.spec.id, text)
    options = [k for k in FINDERS if k in stats]
    if st.session_state[STAT.name] not in options:
        st.session_state[STAT.name] = options[0]
    st.pills("Show me the…", options, key=STAT.name, format_func=FINDERS.get, required=True,
             on_change=state.forget_warning, args=(STAT.name,))
    key = st.session_state[STAT.name]
    label, meaning = att.STATS[key]
    values = stats[key]
    layer, head = st.session_state[LAYER.name], st.session_state[HEAD.name]
    share = key in ("prev", "first", "self", "special")
    fig = ap.stat_grid(values, f"{label} of every head (click one to open it)", label,
                       fmt=".1%" if share else ".3f", zmin=0.0 if share else None, zmax=1.0 if share else None,
                       selected=(layer, head))
    show_chart(fig, "attention-summary", on_select=lambda: on_grid_click("attention-summary"), selection_mode="points")
    st.caption(f"**{label}**: {meaning}")
    order = np.argsort(-values, axis=None)[:5]
    top = [np.unravel_index(i, values.shape) for i in order]
    st.markdown("**Top heads:** " + " · ".join(
        f"L{int(lv)} H{int(hv)} ({values[lv, hv]:.1%})" if share else f"L{int(lv)} H{int(hv)} ({values[lv, hv]:.2f})"
        for lv, hv in top))
    cols = st.columns(len(top))
    for col, (lv, hv) in zip(cols, top):
        col.button(f"Open L{int(lv)} H{int(hv)}", key=f"open_{lv}_{hv}", on_click=open_head, args=(lv, hv),
                   width="stretch")
    kv = att.kv_of_heads(lm.model.config)
    table = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)})
    if facts.gqa:
        table["kv head"] = np.tile(kv, L)
    for k in stats:
        table[att.STATS[k][0]] = np.round(stats[k].ravel(), 4)
    st.dataframe(table.sort_values(label, ascending=False), hide_index=True, width="stretch", height=380)
    st.caption("Click a column header to sort. " + att.HEAD_STATS_ROWS + " " + " ".join(f"**{att.STATS[k][0]}**: {att.STATS[k][1]}"
                                                          for k in stats))
    csv_download(table, "Head summary as CSV", f"attention-heads-{lm.spec.id}.csv", key="summary_csv")


def view_qk() -> None:
    layer, head = layer_head_controls()
    query = st.session_state[QUERY.name]
    if not isinstance(query, int) or not 0 <= query < T:  # -1 (the last token), a longer text's index, or a
        st.session_state[QUERY.name] = T - 1  # stale label the browser sent back after the text changed (a str)
    st.selectbox("Query token (the one that is reading)", range(T), key=QUERY.name,
                 format_func=lambda i: labels[i], on_change=state.forget_warning, args=(QUERY.name,))
    query = st.session_state[QUERY.name]
    qkv = get_qkv(lm.spec.id, text, layer)
    step = qkv.step(head, query)
    captured = trace.attentions[layer]  # [H, T, T]
    err = float(np.abs(qkv.weights() - captured).max())
    st.success(f"Recomputed from the queries, keys and values captured with hooks: max difference from the "
               f"attention {lm.spec.label} returned, over all {H} heads of layer {layer}: {err:.1e}.",
               icon=":material/check_circle:")
    if facts.gqa:
        groups = att.kv_groups(lm.model.config)
        st.markdown(
            f"**Grouped-query attention.** Head {head} reads key/value head **{step.kv_head}**, shared by query "
            f"heads {', '.join(map(str, groups[step.kv_head]))}. All {H} query heads: "
            + " · ".join(f"kv {g} ← q {', '.join(map(str, qs))}" for g, qs in enumerate(groups)) + ".")
    visible_keys = np.flatnonzero(step.mask)  # decoders: 0..query
    klabels = [labels[j] for j in visible_keys]

    st.markdown(f"**1. The query of {md_literal(labels[query])}** ({DH} numbers, from this layer's input × W_q"
                + (", then rotated by RoPE for its position)" if qkv.rope else ")") + ".")
    rows = [step.q] if step.q_raw is None else [step.q_raw, step.q]
    names = ["q"] if step.q_raw is None else ["q before RoPE", "q after RoPE"]
    show_chart(ap.vectors(np.stack(rows), names, f"Query vector · layer {layer}, head {head}"), "qk-query")
    st.markdown(f"**2. The keys** of the {len(visible_keys)} tokens it may read"
                + (" (after RoPE)" if qkv.rope else "") + ", and **q⊙k**: multiply q and each key "
                "element by element; the sum of a row is the dot product q·k.")
    a, b = st.columns(2)
    with a:
        show_chart(ap.vectors(step.k[visible_keys], klabels, "Key vectors"), "qk-keys")
    with b:
        show_chart(ap.vectors(step.k[visible_keys] * step.q, klabels, "q⊙k (row sums = q·k)"), "qk-product")
    st.markdown(f"**3. Scores → weights.** q·k is multiplied by {step.scale:.5f} (= 1/√{DH})"
                + (", later tokens are masked (−∞)" if CAUSAL else "") + ", and softmax turns the scores into "
                "weights that sum to 1.")
    table = pd.DataFrame({
        "key": labels, "q·k": step.scores, "× scale": np.where(step.mask, step.scaled, np.nan),
        "masked": ~step.mask, "softmax weight": step.weights, "model's weight": captured[head, query],
    })
    table["difference"] = (table["softmax weight"] - table["model's weight"]).abs()
    show_chart(ap.step_bars(labels, np.where(step.mask, step.scaled, 0.0), step.weights, ~step.mask,
                      f"Query {labels[query]}: scaled scores and softmax weights"), "qk-bars")
    st.dataframe(table, hide_index=True, width="stretch", height=min(420, 38 + 35 * T),
                 column_config={"q·k": st.column_config.NumberColumn(format="%.5f"),
                                "× scale": st.column_config.NumberColumn(format="%.5f"),
                                "softmax weight": st.column_config.NumberColumn(format="%.6f"),
                                "model's weight": st.column_config.NumberColumn(format="%.6f"),
                                "difference": st.column_config.NumberColumn(format="%.1e")})
    st.markdown("**4. The output**: the weights times the value vectors, summed. This is what head "
                f"{head} writes for {md_literal(labels[query])} (before the output projection mixes the heads).")
    out_rows = np.vstack([step.v[visible_keys] * step.weights[visible_keys, None], step.output[None]])
    show_chart(ap.vectors(out_rows, [f"{x} × {w:.3f}" for x, w in zip(klabels, step.weights[visible_keys])] + ["= output"],
                    "Weighted values and their sum"), "qk-output")


def view_bertviz(kind: str) -> None:
    from components import bertviz_offline as bv

    layer = st.session_state[LAYER.name]
    out = bv.head_view(trace, layer=layer) if kind == "head" else bv.model_view(trace)
    if out.note:
        st.info(out.note, icon="✂️")
    components.html(out.html, height=out.height, scrolling=True)
    size = (f"This view sends {out.n_bytes / 1e6:.2f} MB: {out.payload_bytes / 1e6:.2f} MB of attention weights "
            f"(float16) and {out.library_bytes / 1e6:.2f} MB of JavaScript libraries.")
    if out.bertviz_bytes_estimate:
        size += (f" bertviz itself would send about {out.bertviz_bytes_estimate / 1e6:.1f} MB for the same view "
                 "(its weights as JSON text) and fetch the libraries from the internet.")
    st.caption(
        ("BertViz's **head view**: pick a layer in its menu, hover a token to see whom it reads; each colour is "
         "a head (double-click a colour to show one head)." if kind == "head" else
         "BertViz's **model view**: every layer (rows) and head (columns) at once; click a thumbnail to enlarge.")
        + " Drawn by bertviz's own JavaScript with require.js, d3 and jQuery served from this computer. " + size
        + " " + bv.ROUNDING_NOTE)


@st.fragment
def attention_view() -> None:
    st.segmented_control("View", list(VIEWS), key=VIEW.name, required=True, format_func=VIEWS.get, label_visibility="collapsed",
                         on_change=state.forget_warning, args=(VIEW.name,))
    view = st.session_state[VIEW.name]
    {"heatmap": view_heatmap, "heads": view_heads, "summary": view_summary, "qk": view_qk,
     "bertviz-head": lambda: view_bertviz("head"), "bertviz-model": lambda: view_bertviz("model")}[view]()
    state.write_back(PARAMS, scope="attention")


attention_view()
