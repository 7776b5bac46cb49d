"""Attention: which tokens each token reads, head by head, with every step of q·k on demand."""
import json

import numpy as np
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from components import attention_plots as ap
from components import attention_redraw as ar
from components import multihead_plots as mp
from components import present, state
from components.lead import lead
from components.cache import get_head_stats, get_model, get_qkv, shared, trace_or_stop
from components.glossary import glossary_link as g
from components.plots import chart_config
from components.widgets import csv_download, md_literal, piece_label, show_chart, visible
from i18n import N_, _
from models import attention as att
from models import numbering as nb
from models.tokens import MAX_TOKENS, Encoding, describe

lm = get_model(st.session_state.active_model)
facts = lm.facts
L, H, HKV, DH = facts.n_layers, facts.n_heads, facts.n_kv_heads, facts.d_head
CAUSAL = facts.family == "decoder"

VIEWS = {
    "heatmap": N_("Heatmap"), "heads": N_("All heads"), "summary": N_("Head summary"),
    "qk": N_("q·k step by step"), "bertviz-head": N_("BertViz head view"), "bertviz-model": N_("BertViz model view"),
}
AGGS = {"head": N_("One head"), "layer": N_("Mean of this layer's heads"), "all": N_("Mean of all layers and heads")}
LEVELS = {"tokens": N_("Tokens"), "words": N_("Words")}
SCALE_NAMES = {"sqrt": N_("√ (shows small weights)"), "linear": N_("linear")}

VIEW = state.Param("view", "heatmap", state.choice(*VIEWS))
# The URL, the widgets and session_state hold the NUMBERS people see (layers 1..L, heads 1..H; layer 0 is the
# embeddings, which have no attention); arrays are indexed with nb.index() of them (models/numbering.py).
LAYER = state.Param("layer", 1, lo=1, hi=L, below=_(
    "layers are counted from 1 and layer 0 is the embeddings, which have no attention"))
HEAD = state.Param("head", 1, lo=1, hi=H, below=_("heads are counted from 1"))
QUERY = state.Param("query", -1, lo=0, hi=MAX_TOKENS - 1)  # -1 (the default): the last token
AGG = state.Param("agg", "head", state.choice(*AGGS))
LEVEL = state.Param("level", "tokens", state.choice(*LEVELS))
SCALE = state.Param("scale", "sqrt", state.choice(*ap.SCALES))
STAT = state.Param("stat", "prev", state.choice(*att.STATS))
PARAMS = [VIEW, LAYER, HEAD, QUERY, AGG, LEVEL, SCALE, STAT]
SCOPE = "attention"
NUMBERING_NOTICE = "_attention_numbering_notice"  # set while the layer/head shown came from an old link
# Every link this page (and the tour) writes carries numbering=1: its layer/head are the numbers of today's
# convention. Only a link without it can be from before the change and gets the notice.
NUMBERED = "numbering"
HEAD_LINKED = "_attention_head_from_link"  # a link named a head: BertViz's head view ticks only that head
if HEAD.name in state.from_link([HEAD], scope=SCOPE):
    st.session_state[HEAD_LINKED] = True
if state.from_link([LAYER, HEAD], scope=SCOPE) and st.query_params.get(NUMBERED) != "1":
    st.session_state[NUMBERING_NOTICE] = True
st.query_params[NUMBERED] = "1"


def _fit_model() -> None:
    for p in (LAYER, HEAD):  # a kept value from a bigger model (or a stale widget label)
        if not isinstance(st.session_state[p.name], int) or not p.lo <= st.session_state[p.name] <= p.hi:
            st.session_state[p.name] = 1


with state.bound(PARAMS, scope=SCOPE, fix=_fit_model) as b:
    if st.session_state.get(NUMBERING_NOTICE):
        # Links made before the change counted from 0: the same numbers in an old link now open the next block.
        st.info(_("Layers and heads are counted from 1; layer 0 is the embeddings. Links made before {date} counted "
                  "them from 0.").format(date=nb.CHANGED), icon=":material/info:")

    text = state.current_text()


    def translated(table: dict[str, str]):
        """format_func for a widget whose options are the keys of a table of N_-marked labels."""
        return lambda key: _(table[key])


    def explain_model() -> str:
        if CAUSAL:
            first = _("{model} is a **decoder**: each token may read only itself and the tokens before it "
                      "(the {causal_mask}, grey cells), because it is trained to predict the next token.").format(
                model=lm.spec.label, causal_mask=g("causal mask", _("causal mask")))
        else:
            first = _("{model} is an **encoder**: every token reads every token, left and right. {cls} and {sep} "
                      "wrap the text and often collect attention that a head does not need elsewhere.").format(
                model=lm.spec.label, cls=facts.tokenizer.cls_token, sep=facts.tokenizer.sep_token)
        heads = _("It has {layers} layers × {heads} heads; each head works in {dims} dimensions.").format(
            layers=L, heads=H, dims=DH)
        if facts.gqa:
            heads += " " + _("It uses **{gqa}**: its {heads} query heads share {kv} key/value heads ({group} query "
                             "heads read the same keys and values), which shrinks the {kv_cache}.").format(
                gqa=g("GQA", _("grouped-query attention")), heads=H, kv=HKV, group=H // HKV,
                kv_cache=g("KV cache", _("KV cache")))
        if facts.positions == "rope":
            pos = _("Positions enter through **{rope}**: before the dot product, q and k are rotated by an angle that "
                    "grows with their position, so q·k depends on how far apart two tokens are.").format(
                rope=g("RoPE", _("RoPE")))
        elif facts.positions == "learned":
            pos = _("Positions were added to the embeddings (layer 0) before layer 1 (learned position vectors).")
        else:
            pos = _("Positions were added to the embeddings (layer 0) before layer 1 (fixed sinusoidal position "
                    "vectors).")
        return " ".join([first, heads, pos])


    st.title(_("Attention: which tokens each token reads"))
    lead(
        _("Attention is how a token takes in information from other tokens: each token shares out its attention "
          "among the tokens it may see, and the charts below show those shares."),
        _("In every {layer} each {token} makes a **{query}** (what am I looking for?), a **key** (what do I offer?) "
          "and a **value** (what do I pass on?). Its query is compared with every key: score = q·k / √d_head, where "
          "d_head = {d_head} is the length of one head's query and key (√{d_head} {root}), {softmax} turns the "
          "scores into weights that sum to 1, and the token takes the weighted sum of the values. Many **{heads}** do "
          "this in parallel and specialise.").format(
            layer=g("layer", _("layer")), token=g("token", _("token")), query=g("query / key / value", _("query")),
            softmax=g("softmax", "softmax"), heads=g("head", _("heads")), d_head=facts.d_head,
            root=(f"= {facts.d_head ** 0.5:g}" if (facts.d_head ** 0.5).is_integer()
                  else f"≈ {facts.d_head ** 0.5:.3f}"))
        + " " + explain_model()
    )

    trace = trace_or_stop(lm.spec.id, text, _("see its attention"))
    if trace.truncated:
        st.info(_("This text is {n_total:,} tokens long; the first {n} are analysed.").format(
            n_total=trace.n_total, n=trace.n_tokens), icon="✂️")

    T = trace.n_tokens
    pieces = describe(lm.tokenizer, Encoding(ids=trace.ids, offsets=trace.offsets, special=trace.special,
                                             n_total=trace.n_total), text, facts.tokenizer.kind)
    labels = [piece_label(p) for p in pieces]
    future = np.triu(np.ones((T, T), dtype=bool), k=1) if CAUSAL else None  # [T, T] True = masked


    def heads_mix() -> None:
        """How a layer's heads become one vector per token: concatenation and W^O, with the loaded model's shapes
        (H, d_head, n_kv, d_model from its facts; W^O's shape, name and bias from the module itself)."""
        def wo() -> tuple[att.OutputProjection, bool]:  # W^O of the first block, and whether all share its shape
            first = att.output_projection(lm.model, 0)
            return first, all(att.output_projection_shape(lm.model, i) == first.weight.shape for i in range(L))

        # the module walk and the diagram depend on the model (and T) only: made once per process, not per run
        proj, every = shared(("attention-wo", lm.spec.id), wo)
        rows, cols = proj.weight.shape
        with st.expander(_("How the {heads} heads are combined: concatenation and the output projection W^O").format(
                heads=H)):
            text_ = _("Each head writes a T × d_head matrix ({t} × {dh}): for every token, its attention weights times "
                      "the values. The {heads} heads' matrices are **concatenated** side by side, head 1 first, into a "
                      "{t} × {hd} matrix ({heads} × {dh} = {hd} columns). The **output projection W^O** (`{name}`, "
                      "{rows} × {cols}) mixes them into one vector of {d} numbers per token: output = concat × W^O").format(
                t=T, dh=DH, heads=H, hd=H * DH, name=proj.name, rows=rows, cols=cols, d=facts.d_model)
            text_ += (" + b." if proj.bias is not None else ".") + " "
            text_ += _("Each head meets only its own {dh} rows of W^O, so the output is also the sum of what the "
                       "{heads} heads write.").format(dh=DH, heads=H)
            if every:
                text_ += " " + _("W^O has this shape in all {layers} layers.").format(layers=L)
            text_ += " " + (_("The output is added to the layer's input and then normalised: LayerNorm(x + output) "
                              "(post-norm).") if proj.post_norm else
                            _("The output is added back to the **residual stream**: x + output (pre-norm: the "
                              "normalisation happened before attention)."))
            if facts.gqa:
                groups = att.kv_groups(lm.model.config)
                text_ += " " + _("With grouped-query attention only the keys and values are shared: each of the {kv} "
                                 "key/value heads serves a group of {group} query heads ({groups}), but every one of "
                                 "the {heads} query heads computes its own output, so the concatenation still has "
                                 "{heads} × {dh} columns.").format(
                    kv=HKV, group=H // HKV, heads=H, dh=DH,
                    groups="; ".join(f"kv {nb.number(j)} ← {', '.join(str(nb.number(h)) for h in qs)}"
                                     for j, qs in enumerate(groups)))
            st.markdown(text_)
            show_chart(shared(("attention-heads-concat", lm.spec.id, T), lambda: mp.heads_concat_diagram(
                n_tokens=T, n_heads=H, d_head=DH, d_model=facts.d_model, wo_shape=(rows, cols), wo_name=proj.name,
                title=_("How the {heads} heads of a layer are combined · {model}").format(heads=H, model=lm.spec.label),
                kv_groups=att.kv_groups(lm.model.config) if facts.gqa else None, bias=proj.bias is not None,
                post_norm=proj.post_norm)), "attention-heads-concat")


    heads_mix()


    def picked(name: str) -> None:
        """The user chose a layer or head: its link warning and the numbering notice have been read."""
        state.forget_warning(name)
        st.session_state.pop(NUMBERING_NOTICE, None)


    def chosen() -> tuple[int, int]:
        """(block index, head index), 0-based, of the layer and head the widgets show."""
        return nb.index(st.session_state[LAYER.name]), nb.index(st.session_state[HEAD.name])


    def open_head(layer: int, head: int, view: str = "heatmap") -> None:
        """Open block ``layer``, head ``head`` (0-based indices, as the grids' customdata holds them)."""
        st.session_state[LAYER.name] = nb.number(layer)
        st.session_state[HEAD.name] = nb.number(head)
        st.session_state[AGG.name] = "head"
        st.session_state[VIEW.name] = view
        st.session_state.pop(NUMBERING_NOTICE, None)


    def on_grid_click(key: str) -> None:
        points = st.session_state[key].selection.points
        if points and "customdata" in points[0]:
            layer, head = points[0]["customdata"][:2]
            open_head(layer, head)


    def head_label(h: int) -> str:
        """The label of head index ``h``: its number, and with GQA the number of the key/value head it reads."""
        kv = int(att.kv_of_heads(lm.model.config)[h]) if facts.gqa else 0
        return f"{nb.number(h)} (kv {nb.number(kv)})" if facts.gqa else str(nb.number(h))


    def layer_help() -> str:
        return _("Layer 1 reads the embeddings (layer 0); each later layer reads what the layers before it wrote.")


    def head_help() -> str:
        return _("Heads of one layer run in parallel on the same input.") + (
            " " + _("With grouped-query attention, 'kv' is the key/value head this query head reads.") if facts.gqa else "")


    def layer_head_controls(with_head: bool = True) -> tuple[int, int]:
        c1, c2 = st.columns([3, 2]) if with_head else (st.container(), None)
        c1.slider(_("Layer"), **LAYER.bounds(), key=LAYER.name, on_change=picked, args=(LAYER.name,), help=layer_help())
        if with_head:
            c2.selectbox(_("Head"), range(HEAD.lo, HEAD.hi + 1), key=HEAD.name, format_func=lambda n: head_label(nb.index(n)),
                         on_change=picked, args=(HEAD.name,), help=head_help())
        return chosen()


    def describe_head(stats: dict, layer: int, head: int) -> str:
        """One sentence on what head index ``head`` of block index ``layer`` mostly does, from its statistics."""
        s = {k: float(v[layer, head]) for k, v in stats.items()}
        share = max(("prev", "first", "self", "special"), key=lambda k: s.get(k, -1.0))
        what = {"prev": _("the previous token"),
                "first": _("the first token (an {attention_sink})").format(attention_sink=g("attention sink")),
                "self": _("itself"),
                "special": _("the special tokens ({cls}/{sep})").format(cls=facts.tokenizer.cls_token,
                                                                        sep=facts.tokenizer.sep_token)}[share]
        return _("Layer {layer}, head {head} sends on average **{share:.0%}** of its attention to {what}; "
                 "average {entropy_term} {entropy:.2f} bits, average distance {distance:.1f} tokens "
                 "(see *Head summary* for every head).").format(
            layer=nb.number(layer), head=nb.number(head), share=s[share], what=what, entropy=s["entropy"],
            entropy_term=g("entropy"),
            distance=s["distance"])


    def on_redraw_pick() -> None:
        """The heatmap component's sliders moved: its (layer, head) indices become the page's numbers (and the URL's)."""
        indices = ar.newest(REDRAW_KEY)  # a report older than one taken is ignored (last write wins)
        if indices and 0 <= indices[0] < L and 0 <= indices[1] < H:
            for p, value in zip((LAYER, HEAD), indices):
                st.session_state[p.name] = nb.number(value)
                picked(p.name)


    REDRAW_KEY = "attention-redraw"


    def redraw_heatmap(fig, layer: int, head: int, masked, transform) -> None:
        """One head's heatmap with its own layer/head sliders that redraw in the browser (many heads are sent at
        once; components/attention_redraw.py). ``layer``, ``head``: 0-based indices (the browser shows numbers)."""
        what = _("layer {layer}, head {head}")  # the browser fills in the numbers
        ar.heatmap(
            trace.attentions, present.style(fig), layer=layer, head=head, masked=masked, transform=transform,
            title=_("Attention weights · {what}").format(what=what), key=REDRAW_KEY, on_change=on_redraw_pick,
            head_labels=[head_label(h) for h in range(H)],
            address={"layer": (LAYER.name, LAYER.default), "head": (HEAD.name, HEAD.default)},
            view_id=json.dumps([lm.spec.id, st.session_state[LEVEL.name], text]),
            config=chart_config(f"attention-heatmap-{lm.spec.id}", svg=bool(st.session_state.get("svg"))),
            strings={"layer": _("Layer"), "head": _("Head"), "loading": _("Loading layer {layer}, head {head}…"),
                     "layer_help": layer_help(), "head_help": head_help(),
                     "download": _("Download the chart as an image"), "preparing": _("Preparing the image…"),
                     "download_failed": _("The image could not be made.")})


    # ----------------------------------------------------------------------------------------- views
    def view_heatmap() -> None:
        c1, c2, c3 = st.columns([3, 2, 2])
        c1.radio(_("Show"), list(AGGS), key=AGG.name, format_func=translated(AGGS), horizontal=True,
                 on_change=state.forget_warning, args=(AGG.name,))
        c2.radio(_("Level"), list(LEVELS), key=LEVEL.name, format_func=translated(LEVELS), horizontal=True,
                 on_change=state.forget_warning, args=(LEVEL.name,),
                 help=_("Words: pieces of one word are merged (sum over the key pieces, mean over the query pieces). "
                        "Chinese and Japanese are written without spaces: each of their characters counts as a word."))
        c3.radio(_("Colour"), ap.SCALES, key=SCALE.name, horizontal=True, format_func=translated(SCALE_NAMES),
                 on_change=state.forget_warning, args=(SCALE.name,))
        agg = st.session_state[AGG.name]
        if agg == "head":  # the component below has its own layer/head sliders (redrawn in the browser)
            layer, head = chosen()
        else:
            layer, head = layer_head_controls(with_head=False)
        transform = None
        if agg == "head":
            weights, what = trace.attentions[layer, head], _("layer {layer}, head {head}").format(
                layer=nb.number(layer), head=nb.number(head))
            csv_name = f"attention-{lm.spec.id}-layer{nb.number(layer)}-head{nb.number(head)}.csv"
        elif agg == "layer":
            weights, what = trace.attentions[layer].mean(0), _("mean of the {heads} heads of layer {layer}").format(
                heads=H, layer=nb.number(layer))
            csv_name = f"attention-{lm.spec.id}-layer{nb.number(layer)}-mean.csv"
        else:
            weights, what = trace.attentions.mean((0, 1)), _("mean of all {n} heads").format(n=L * H)
            csv_name = f"attention-{lm.spec.id}-all-layers-mean.csv"
        q_labels = k_labels = labels
        masked = future
        if st.session_state[LEVEL.name] == "words":
            words = att.word_ids(trace.offsets, trace.special, text)
            weights = att.word_attention(weights, words)
            transform = lambda block: att.word_attention(block, words)  # noqa: E731
            q_labels = k_labels = [f"{i} {visible(w)}" for i, w in enumerate(att.word_labels(text, trace.offsets, words, trace.tokens))]
            W = len(q_labels)
            masked = np.triu(np.ones((W, W), dtype=bool), k=1) if CAUSAL else None
        fig = ap.attention_heatmap(weights, q_labels, k_labels, _("Attention weights · {what}").format(what=what),
                                   masked=masked, scale=st.session_state[SCALE.name])
        if agg == "head":
            redraw_heatmap(fig, layer, head, masked, transform)
        else:
            show_chart(fig, "attention-heatmap")
        rows = weights.sum(-1)
        notes = [_("Row *i* is query token *i*; each row sums to 1 (here within {err:.1e}).").format(
            err=np.abs(rows - 1).max())]
        if CAUSAL:
            notes.append(_("Grey cells are **masked**: a decoder token cannot see later tokens, so their weight is "
                           "exactly 0 by construction, not by choice."))
        if st.session_state[LEVEL.name] == "words":
            notes.append(_("Word level: a word's row is the **mean** over its query pieces and each cell the **sum** "
                           "over the key pieces, so rows still sum to 1."))
            if att.has_spaceless(text):
                notes.append(_("Chinese and Japanese are written without spaces, so each of their characters is a "
                               "word here; the byte pieces of one character are merged into it."))
        if st.session_state[SCALE.name] == "sqrt":
            notes.append(_("Colours follow the square root of the weight so small weights stay visible; hover a cell "
                           "for the exact number."))
        st.caption(" ".join(notes))
        if agg == "head":
            st.markdown(describe_head(get_head_stats(lm.spec.id, text), layer, head))
        csv_download(pd.DataFrame(weights, index=q_labels, columns=k_labels).reset_index(names="query"),
                     _("Matrix as CSV"), csv_name, key="attention_csv")


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
        # each thumbnail says which head it is (numbers from 1, models/numbering.py) and, with GQA, the key/value head it
        # reads (from the model's own head -> kv map); rows: the query heads of one key/value head, or "heads a–b"
        kv_of = att.kv_of_heads(lm.model.config) if facts.gqa else None
        captions = [["" for _c in range(per_row)] for _r in range(R)]
        for h in range(H):
            captions[h // per_row][h % per_row] = (
                _("head {h} (shares K/V {kv})").format(h=nb.number(h), kv=nb.number(int(kv_of[h]))) if facts.gqa
                else _("head {h}").format(h=nb.number(h)))
        row_labels = [(_("K/V head {kv}").format(kv=nb.number(int(kv_of[r * per_row]))) if facts.gqa else
                       _("heads {first}–{last}").format(first=nb.number(r * per_row),
                                                       last=nb.number(min(H, (r + 1) * per_row) - 1)))
                      for r in range(R)]
        fig = ap.head_grid(thumbs, cells, _("The {heads} heads of layer {layer} (click one to open it)").format(
                               heads=H, layer=nb.number(layer)),
                           row_labels=row_labels, col_labels=[""] * per_row,
                           row_title=_("query heads that share one key/value head") if facts.gqa else "",
                           col_title="", selected=(layer, head), scale=scale, cell_labels=captions)
        show_chart(fig, "attention-heads", on_select=lambda: on_grid_click("attention-heads"), selection_mode="points")
        notes = [_("Each square is one head's full attention pattern (rows: queries, columns: keys; the blank "
                   "triangle is the masked future).") if CAUSAL else
                 _("Each square is one head's full attention pattern (rows: queries, columns: keys).")]
        if facts.gqa:
            notes.append(_("Rows group the query heads that share one key/value head."))
        if T > THUMB_LAYER:
            notes.append(_("Texts longer than {n} tokens are pooled into {n}×{n} blocks (mean over query rows, sum "
                           "over key columns).").format(n=THUMB_LAYER))
        st.caption(" ".join(notes))

        st.subheader(_("Every layer and head at a glance"))
        pooled_all = blank_future(ap.pool_square(trace.attentions, THUMB_ALL))  # [L, H, s, s]
        s = pooled_all.shape[-1]
        if L > H:  # many layers (SmolLM2: 30 x 9): layers across, heads down
            thumbs_all = pooled_all.transpose(1, 0, 2, 3)
            cells_all = np.stack(np.meshgrid(np.arange(L), np.arange(H), indexing="xy"), -1)  # [H, L, 2]
            rl, cl, rt, ct = [str(nb.number(h)) for h in range(H)], [str(nb.number(x)) for x in range(L)], _("head"), _("layer")
        else:
            thumbs_all = pooled_all
            cells_all = np.stack(np.meshgrid(np.arange(L), np.arange(H), indexing="ij"), -1)  # [L, H, 2]
            rl, cl, rt, ct = [str(nb.number(x)) for x in range(L)], [str(nb.number(h)) for h in range(H)], _("layer"), _("head")
        fig = ap.head_grid(thumbs_all.reshape(*cells_all.shape[:2], s, s), cells_all,
                           _("All {n} heads (click one to open it)").format(n=L * H), row_labels=rl, col_labels=cl,
                           row_title=rt, col_title=ct, selected=(layer, head), scale=scale)
        show_chart(fig, "attention-overview", on_select=lambda: on_grid_click("attention-overview"), selection_mode="points")
        st.caption(_("Look for patterns: a bright diagonal just below the main one is a previous-token head; a bright "
                     "first column is a head parking its attention on the first token.") if CAUSAL else
                   _("Look for patterns: a bright diagonal just below the main one is a previous-token head; a bright "
                     "first column is a head parking its attention on the first token or on {cls}/{sep}.").format(
                       cls=facts.tokenizer.cls_token, sep=facts.tokenizer.sep_token))


    FINDERS = {  # one-click questions -> the statistic that answers them
        "prev": N_("Previous-token heads"), "first": N_("First-token (sink) heads"), "self": N_("Self heads"),
        "special": N_("[CLS]/[SEP] heads"), "entropy": N_("Broad heads (high entropy)"),
        "distance": N_("Long-range heads"),
    }
    TABLE_COLUMNS = {"layer": N_("layer"), "head": N_("head"), "kv head": N_("kv head")}  # CSV name -> shown name


    def view_summary() -> None:
        stats = get_head_stats(lm.spec.id, text)
        options = [k for k in FINDERS if k in stats]
        if st.session_state[STAT.name] not in options:
            st.session_state[STAT.name] = options[0]
        st.pills(_("Show me the…"), options, key=STAT.name, format_func=translated(FINDERS), required=True,
                 on_change=state.forget_warning, args=(STAT.name,))
        key = st.session_state[STAT.name]
        name, meaning = att.STATS[key]
        label = _(name)
        values = stats[key]
        layer, head = chosen()
        share = key in ("prev", "first", "self", "special")
        fig = ap.stat_grid(values, _("{stat} of every head (click one to open it)").format(stat=label), label,
                           fmt=".1%" if share else ".3f", zmin=0.0 if share else None, zmax=1.0 if share else None,
                           selected=(layer, head))
        show_chart(fig, "attention-summary", on_select=lambda: on_grid_click("attention-summary"), selection_mode="points")
        st.caption(f"**{label}**: {_(meaning)}")
        order = np.argsort(-values, axis=None)[:5]
        top = [np.unravel_index(i, values.shape) for i in order]
        st.markdown(_("**Top heads:**") + " " + " · ".join(
            f"L{nb.number(lv)} H{nb.number(hv)} ({values[lv, hv]:.1%})" if share else
            f"L{nb.number(lv)} H{nb.number(hv)} ({values[lv, hv]:.2f})" for lv, hv in top))
        cols = st.columns(len(top))
        for col, (lv, hv) in zip(cols, top):
            col.button(_("Open L{layer} H{head}").format(layer=nb.number(lv), head=nb.number(hv)), key=f"open_{lv}_{hv}",
                       on_click=open_head, args=(int(lv), int(hv)), width="stretch")
        kv = att.kv_of_heads(lm.model.config)
        # the table and its CSV carry the numbers shown everywhere (layers 1..L, heads 1..H, kv heads 1..n_kv)
        table = pd.DataFrame({"layer": nb.number(0) + np.repeat(np.arange(L), H),
                              "head": nb.number(0) + np.tile(np.arange(H), L)})
        if facts.gqa:
            table["kv head"] = nb.number(0) + np.tile(kv, L)
        for k in stats:  # the CSV keeps the English column names; the table on the page shows them translated
            table[att.STATS[k][0]] = np.round(stats[k].ravel(), 4)
        table = table.sort_values(name, ascending=False)
        shown = table.rename(columns=lambda c: _(TABLE_COLUMNS.get(c, c)))
        st.dataframe(shown, hide_index=True, width="stretch", height=380)
        st.caption(" ".join([_("Click a column header to sort."), _(att.HEAD_STATS_ROWS)]
                            + [f"**{_(att.STATS[k][0])}**: {_(att.STATS[k][1])}" for k in stats]))
        csv_download(table, _("Head summary as CSV"), f"attention-heads-{lm.spec.id}.csv", key="summary_csv")


    def view_qk() -> None:
        layer, head = layer_head_controls()
        query = st.session_state[QUERY.name]
        if not isinstance(query, int) or not 0 <= query < T:  # -1 (the last token), a longer text's index, or a
            st.session_state[QUERY.name] = T - 1  # stale label the browser sent back after the text changed (a str)
        st.selectbox(_("Query token (the one that is reading)"), range(T), key=QUERY.name,
                     format_func=lambda i: labels[i], on_change=state.forget_warning, args=(QUERY.name,))
        query = st.session_state[QUERY.name]
        qkv = get_qkv(lm.spec.id, text, layer)
        step = qkv.step(head, query)
        captured = trace.attentions[layer]  # [H, T, T]
        err = float(np.abs(qkv.weights() - captured).max())
        st.success(_("Recomputed from the queries, keys and values captured with hooks: max difference from the "
                     "attention {model} returned, over all {heads} heads of layer {layer}: {err:.1e}.").format(
                       model=lm.spec.label, heads=H, layer=nb.number(layer), err=err),
                   icon=":material/check_circle:")
        if facts.gqa:
            groups = att.kv_groups(lm.model.config)
            st.markdown(
                _("**Grouped-query attention.** Head {head} reads key/value head **{kv}**, shared by query heads "
                  "{shared}. All {heads} query heads: {groups}.").format(
                    head=nb.number(head), kv=nb.number(step.kv_head), heads=H,
                    shared=", ".join(str(nb.number(q)) for q in groups[step.kv_head]),
                    groups=" · ".join(f"kv {nb.number(kv)} ← q {', '.join(str(nb.number(q)) for q in qs)}"
                                      for kv, qs in enumerate(groups))))
        visible_keys = np.flatnonzero(step.mask)  # decoders: 0..query
        klabels = [labels[j] for j in visible_keys]

        st.markdown((_("**1. The query of {token}** ({dims} numbers, from this layer's input × W_q, then rotated by "
                       "RoPE for its position).") if qkv.rope else
                     _("**1. The query of {token}** ({dims} numbers, from this layer's input × W_q).")).format(
            token=md_literal(labels[query]), dims=DH))
        rows = [step.q] if step.q_raw is None else [step.q_raw, step.q]
        names = ["q"] if step.q_raw is None else [_("q before RoPE"), _("q after RoPE")]
        show_chart(ap.vectors(np.stack(rows), names, _("Query vector · layer {layer}, head {head}").format(
            layer=nb.number(layer), head=nb.number(head))), "qk-query")
        st.markdown((_("**2. The keys** of the {n} tokens it may read (after RoPE), and **q⊙k**: multiply q and each "
                       "key element by element; the sum of a row is the dot product q·k.") if qkv.rope else
                     _("**2. The keys** of the {n} tokens it may read, and **q⊙k**: multiply q and each key element "
                       "by element; the sum of a row is the dot product q·k.")).format(n=len(visible_keys)))
        a, b = st.columns(2)
        with a:
            show_chart(ap.vectors(step.k[visible_keys], klabels, _("Key vectors")), "qk-keys")
        with b:
            show_chart(ap.vectors(step.k[visible_keys] * step.q, klabels, _("q⊙k (row sums = q·k)")), "qk-product")
        st.markdown((_("**3. Scores → weights.** q·k is multiplied by {scale:.5f} (= 1/√{dims}), later tokens are "
                       "masked (−∞), and softmax turns the scores into weights that sum to 1.") if CAUSAL else
                     _("**3. Scores → weights.** q·k is multiplied by {scale:.5f} (= 1/√{dims}), and softmax turns "
                       "the scores into weights that sum to 1.")).format(scale=step.scale, dims=DH))
        c_key, c_scaled, c_masked = _("key"), _("× scale"), _("masked")
        c_soft, c_model, c_diff = _("softmax weight"), _("model's weight"), _("difference")
        table = pd.DataFrame({
            c_key: labels, "q·k": step.scores, c_scaled: np.where(step.mask, step.scaled, np.nan),
            c_masked: ~step.mask, c_soft: step.weights, c_model: captured[head, query],
        })
        table[c_diff] = (table[c_soft] - table[c_model]).abs()
        show_chart(ap.step_bars(labels, np.where(step.mask, step.scaled, 0.0), step.weights, ~step.mask,
                           _("Query {token}: scaled scores and softmax weights").format(token=labels[query])), "qk-bars")
        st.dataframe(table, hide_index=True, width="stretch", height=min(420, 38 + 35 * T),
                     column_config={"q·k": st.column_config.NumberColumn(format="%.5f"),
                                    c_scaled: st.column_config.NumberColumn(format="%.5f"),
                                    c_soft: st.column_config.NumberColumn(format="%.6f"),
                                    c_model: st.column_config.NumberColumn(format="%.6f"),
                                    c_diff: st.column_config.NumberColumn(format="%.1e")})
        st.markdown(_("**4. The output**: the weights times the value vectors, summed. This is what head {head} writes "
                      "for {token} (before the output projection mixes the heads).").format(
            head=nb.number(head), token=md_literal(labels[query])))
        out_rows = np.vstack([step.v[visible_keys] * step.weights[visible_keys, None], step.output[None]])
        show_chart(ap.vectors(out_rows, [f"{x} × {w:.3f}" for x, w in zip(klabels, step.weights[visible_keys])]
                         + [_("= output")], _("Weighted values and their sum")), "qk-output")


    def view_bertviz(kind: str) -> None:
        from components import bertviz_offline as bv

        layer, head = chosen()
        # the head the page shows (from its link or its head picker) is the one ticked; head 1 by default is not a
        # choice, so then every head is ticked (bertviz's own default)
        one_head = head != 0 or st.session_state.get(HEAD_LINKED, False)
        out = bv.head_view(trace, layer=layer, heads=[head] if one_head else None) if kind == "head" else \
            bv.model_view(trace)
        if out.note:
            st.info(out.note, icon="✂️")
        components.html(out.html, height=out.height, scrolling=True)
        st.caption(" ".join([
            (_("BertViz's **head view**: pick a layer in its menu, hover a token to see whom it reads. Only head {head} "
               "is ticked, the head this page's link names: click the other colours to add heads.").format(
                head=nb.number(head)) if one_head else
             _("BertViz's **head view**: pick a layer in its menu, hover a token to see whom it reads; each colour is "
               "a head (double-click a colour to show one head).")) if kind == "head" else
            _("BertViz's **model view**: every layer (rows) and head (columns) at once; click a thumbnail to "
              "enlarge."),
            _("The stronger (less transparent) a line, the larger its attention weight."), _(bv.ROUNDING_NOTE)]))


    @st.fragment
    def attention_view() -> None:
        st.segmented_control(_("View"), list(VIEWS), key=VIEW.name, required=True, format_func=translated(VIEWS),
                             label_visibility="collapsed", on_change=state.forget_warning, args=(VIEW.name,))
        view = st.session_state[VIEW.name]
        {"heatmap": view_heatmap, "heads": view_heads, "summary": view_summary, "qk": view_qk,
         "bertviz-head": lambda: view_bertviz("head"), "bertviz-model": lambda: view_bertviz("model")}[view]()
        state.write_back(PARAMS, scope=SCOPE)


    attention_view()
