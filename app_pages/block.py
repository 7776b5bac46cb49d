"""Inside a block: the residual stream, which heads and MLPs made the prediction (direct contributions and
ablation), what the MLP's neurons do, and how the heads are combined by W^O. The maths is models/block.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import i18n
from components import block_plots as bp
from components import multihead_plots as mp
from components import state
from components.block_cache import get_ablated, get_block_run, get_neurons, get_ranking, has_ranking
from components.lead import lead
from components.cache import get_model, trace_or_stop
from components.glossary import glossary_link as g
from components.widgets import csv_download, md_literal, piece_label, show_chart, visible
from i18n import N_, _
from models import attention as att
from models import block
from models import numbering as nb
from models.block import BlockError, Component
from models.sampling import ranking as ranked_ids
from models.sampling import softmax
from models.tokens import MAX_TOKENS, Encoding, describe

lm = get_model(st.session_state.active_model)
facts = lm.facts
L, H = facts.n_layers, facts.n_heads
HAS_HEAD = lm.spec.head == "causal-lm"
N_BARS = 8  # tokens in the before/after bars (plus the target and the new top tokens)
N_NEURONS = 8
PREFIX = "blk_"  # private widget keys: /attention and /similarity have their own `layer` and `target`

# every component this model has, as the URL writes it: a1.1 … a1.H, m1, a2.1, …
OPTIONS = [c.label for layer in range(L) for c in
           [Component(layer, "a", h) for h in range(H)] + [Component(layer, "m")]]
MODES = {"zero": N_("zero (the part writes nothing)"), "mean": N_("mean (its average over the text's positions)")}
MODE_NAMES = {"zero": N_("zero ablation"), "mean": N_("mean ablation")}


def parse_target(value: str) -> str:
    """A target token as text (" Paris") or as a vocabulary string ("ĠParis"); "" = the default target."""
    if value != "":
        block.token_of(lm, value)  # BlockError (a ValueError) names why it is not one token
    return value


def parse_ablate(value: str) -> list[str]:
    return [c.label for c in block.parse_components(value, L, H)]


def ablate_url(labels: list[str]) -> str:
    return block.format_components(block.parse_components(",".join(labels), L, H), H)


POSITION = state.Param("position", -1, lo=-1, hi=MAX_TOKENS - 1)  # -1: the last token
TARGET = state.Param("target", "", parse_target)
LAYER = state.Param("layer", L, lo=1, hi=L, below=_(
    "layers are counted from 1 and layer 0 is the embeddings, which have no MLP"))
ABLATE = state.Param("ablate", [], parse_ablate, to_url=ablate_url)
ABLATION = state.Param("ablation", "zero", state.choice(*block.MODES))
PARAMS = [POSITION, TARGET, LAYER, ABLATE, ABLATION]


def key(p: state.Param) -> str:
    return PREFIX + p.name


def _fit_model() -> None:
    """Values kept from another model (more layers or heads, another vocabulary) or a stale widget value."""
    if not isinstance(st.session_state[key(LAYER)], int) or not LAYER.lo <= st.session_state[key(LAYER)] <= LAYER.hi:
        st.session_state[key(LAYER)] = L
    if not isinstance(st.session_state[key(ABLATE)], list):
        st.session_state[key(ABLATE)] = []
    st.session_state[key(ABLATE)] = [c for c in st.session_state[key(ABLATE)] if c in OPTIONS]
    try:
        if not isinstance(st.session_state[key(TARGET)], str):
            raise state.BadParam(type(st.session_state[key(TARGET)]).__name__)
        parse_target(st.session_state[key(TARGET)])
    except (state.BadParam, BlockError):
        st.session_state[key(TARGET)] = ""


def translated(table: dict[str, str]):
    return lambda k: _(table[k])


with state.bound(PARAMS, scope="block", prefix=PREFIX, fix=_fit_model) as b:
    st.title(_("Inside a block: the residual stream, the MLP and who made the prediction"))
    try:
        an = block.anatomy(lm.model)
    except BlockError as e:
        st.info(str(e), icon=":material/info:")
        b.stop()
    POST = an.post_norm
    NORM = "LayerNorm" if POST else (facts.final_norm or "norm")

    intro = _("Each of the {n} {layers} of {model} is a block: first {attention} lets every token read the tokens "
              "it may see, then an {mlp} works on each token's vector on its own. Neither replaces the vector: each "
              "adds its result to it, so the vector that runs from the embeddings to the prediction, the "
              "{residual_stream}, carries the sum of everything the blocks wrote.").format(
        n=L, layers=g("layer", _("layers")), model=lm.spec.label, attention=g("attention", _("attention")),
        mlp=g("feed-forward network", _("MLP")), residual_stream=g("residual stream", _("residual stream")))
    if POST:
        family = _("{model} is **post-norm** (like BERT): after each addition the whole stream is normalised again, "
                   "LayerNorm(x + output), so every LayerNorm rescales what earlier layers wrote.").format(
            model=lm.spec.label)
    else:
        family = _("{model} is **pre-norm** (like Llama and GPT-2): each sub-layer reads a normalised copy of the "
                   "stream and adds its output to the stream itself, which is normalised only once, by the final "
                   "{norm} before the unembedding.").format(model=lm.spec.label, norm=NORM)
    lead(_("The model is a stack of layers; each one reads every token's vector and adds its own small update to it, "
           "and this page shows those updates and which parts matter most."), intro + " " + family)

    text = state.current_text()
    trace = trace_or_stop(lm.spec.id, text, _("look inside its blocks"))
    T = trace.n_tokens
    if trace.truncated:
        st.info(_("This text is {n_total:,} tokens long; the first {n} are analysed.").format(
            n_total=trace.n_total, n=T), icon="✂️")
    pieces = describe(lm.tokenizer, Encoding(ids=trace.ids, offsets=trace.offsets, special=trace.special,
                                             n_total=trace.n_total), text, facts.tokenizer.kind)
    labels = [piece_label(p) for p in pieces]  # "3 ␣party": position and token
    shown = [visible(p.display if p.special or p.partial else p.decoded) for p in pieces]  # the token alone
    ACTIVATIONS = {"silu": "SiLU", "swish": "SiLU", "gelu": "GELU", "gelu_new": "GELU (tanh)",
                   "gelu_pytorch_tanh": "GELU (tanh)", "relu": "ReLU"}  # config names -> how people write them

    # ------------------------------------------------------------------------------------- position and target
    position_options = list(range(T - 1)) + [-1]
    chosen = st.session_state[key(POSITION)]
    if not isinstance(chosen, int) or chosen not in position_options:
        if isinstance(chosen, int) and chosen >= T:
            st.info(_("The text has {n} tokens, so there is no position {position}: showing the last token.").format(
                n=T, position=chosen), icon=":material/info:")
        st.session_state[key(POSITION)] = -1


    def position_label(i: int) -> str:
        return _("{token} (the last token)").format(token=labels[T - 1]) if i == -1 else labels[i]


    c1, c2 = st.columns(2)
    c1.selectbox(_("Position (the token whose vector we follow)"), position_options, key=key(POSITION),
                 format_func=position_label, on_change=state.forget_warning, args=(POSITION.name,),
                 help=_("A decoder predicts the next token at every position; the last position predicts the token "
                        "after the text.") if HAS_HEAD else
                 _("An encoder gives every position a final vector; pick the one to take apart."))
    position = st.session_state[key(POSITION)]
    pos = T - 1 if position == -1 else position

    try:
        run = get_block_run(lm.spec.id, text, pos)
    except BlockError as e:
        st.info(str(e), icon=":material/info:")
        b.stop()

    default_id = block.default_target(lm, run)
    default_text = block.target_text(lm, default_id)
    if HAS_HEAD:
        probs = softmax(run.logits)
        suggestions = [int(i) for i in ranked_ids(run.logits)[:10]]
    else:
        probs = None
        suggestions = list(dict.fromkeys(int(i) for i in run.ids))[:20]
    target_options = [""] + [t for t in dict.fromkeys(block.target_text(lm, i) for i in suggestions) if t != ""]
    if st.session_state[key(TARGET)] not in target_options:
        target_options.append(st.session_state[key(TARGET)])
    TARGET_ERROR = "_block_target_error"


    def check_target() -> None:
        """A typed target that is not one token: back to the default, and say why."""
        state.forget_warning(TARGET.name)
        value = st.session_state[key(TARGET)]
        try:
            parse_target(value)
        except BlockError as e:
            st.session_state[key(TARGET)] = ""
            st.session_state[TARGET_ERROR] = _("{reason}: showing the default target instead.").format(reason=e)


    c2.selectbox(_("Target token"), target_options, key=key(TARGET), accept_new_options=True, on_change=check_target,
                 format_func=lambda s: _("default: {token}").format(token=visible(default_text)) if s == "" else visible(s),
                 help=(_("The token whose logit is taken apart: by default the model's most likely next token. Type any "
                         "single token (a leading space counts).") if HAS_HEAD else
                       _("The token whose embedding row gives the direction: by default the token at this position. Type "
                         "any single token.")))
    if st.session_state.get(TARGET_ERROR):
        st.warning(st.session_state.pop(TARGET_ERROR), icon="⚠️")
    target_value = st.session_state[key(TARGET)]
    target = block.token_of(lm, target_value) if target_value else default_id
    target_label = visible(block.target_text(lm, target))

    if HAS_HEAD:
        top = int(np.argmax(run.logits))
        st.markdown(_("At position {position} ({token}) {model} predicts the next token: {top} with {p:.1%}. The target "
                      "{target} gets {pt:.2%} (rank {rank:,} of {V:,}).").format(
            position=pos, token=md_literal(shown[pos]), model=lm.spec.label, top=md_literal(visible(
                block.target_text(lm, top))), p=float(probs[top]), target=md_literal(target_label),
            pt=float(probs[target]), rank=int((probs > probs[target]).sum()) + 1, V=len(probs)))

    # ------------------------------------------------------------------------------------------- the stream
    st.header(_("1. The residual stream"), anchor="stream")
    stream_norms = np.linalg.norm(run.stream.astype(np.float64), axis=1)  # [2L+1]
    write_norms = np.linalg.norm(run.writes.astype(np.float64), axis=1)  # [2L]
    show_chart(bp.stream_chart(stream_norms, write_norms, _("The vector of {token} (position {position}): its length "
                                                            "after each step, and what each sub-layer wrote").format(
        token=shown[pos], position=pos), POST), "block-stream")
    biggest = int(np.argmax(write_norms))
    which = (_("the attention of layer {layer}") if biggest % 2 == 0 else _("the MLP of layer {layer}")).format(
        layer=nb.number(biggest // 2))
    notes = [_("{n} points: the embeddings (layer 0), then after the attention and after the MLP of each of the {L} "
               "layers. Bars: the length of what each sub-layer added.").format(n=2 * L + 1, L=L)]
    if POST:
        after = stream_norms[1:]
        notes.append(_("Post-norm: every point after the embeddings is taken after a LayerNorm, so the line stays between "
                       "{lo:.1f} and {hi:.1f} however much a sub-layer wrote; to judge a write, compare it with the stream "
                       "it was added to, not with the line. Every later LayerNorm rescales it again.").format(
            lo=float(after.min()), hi=float(after.max())))
    else:
        notes.append(_("Pre-norm: the stream is never normalised on the way, so its length can grow from {start:.1f} to "
                       "{end:.1f} and what an early layer wrote is still in it, unscaled, at the end; only the final "
                       "{norm} rescales the sum. A write can point against the stream, so the line can also drop.").format(
            start=float(stream_norms[0]), end=float(stream_norms[-1]), norm=NORM))
    notes.append(_("The longest write here: {which} (length {n:.1f}).").format(which=which, n=float(write_norms[biggest])))
    st.caption(" ".join(notes))

    # --------------------------------------------------------------------------------- direct contributions
    attr = block.attribute(lm, run, target)
    ablated_now = block.parse_components(",".join(st.session_state[key(ABLATE)]), L, H)
    COLS = H + (1 if run.attn_bias is not None else 0) + 1


    def cell(c: Component) -> tuple[int, int]:
        return (c.layer, c.head) if c.kind == "a" else (c.layer, COLS - 1)


    if HAS_HEAD:
        st.header(_("2. Who pushed the prediction: direct contributions to the logit of {target}").format(
            target=target_label), anchor="attribution")
        value_name = _("logit")
        st.markdown(_("The logit of {target} is the final vector times its unembedding row. The final {norm} is linear "
                      "once its scale is fixed, and we take the scale this run used at this position ({scale:.4f}), so "
                      "the logit splits exactly into what each part wrote here: the embeddings, each head (its output "
                      "times its own {dh} rows of W^O), each MLP, and the bias terms. This is {dla}.").format(
            target=md_literal(target_label), norm=NORM, scale=run.norms[0].scale, dh=an.d_head,
            dla=g("direct logit attribution", _("direct logit attribution"))))
    else:
        st.header(_("2. Direct contributions to the final vector, along the embedding of {target}").format(
            target=target_label), anchor="attribution")
        value_name = _("score")
        reason = _("{model} has no language-model head, so it has no next-token logit to split: a logit needs an "
                   "unembedding that turns the final vector into one score per token.")
        if lm.spec.head == "masked-lm":
            reason = _("{model}'s masked-LM head passes the final vector through a dense layer, a GELU and another "
                       "LayerNorm before the vocabulary: that step is not linear, so its logits cannot be split into "
                       "parts that add up.")
        st.markdown(i18n.sentences(reason.format(model=lm.spec.label), _(
            "What exists is the final vector at this position, so we split one number of it: its dot product with the "
            "input-embedding row of a target token (by default the token at this position), i.e. how far the final "
            "vector points along that token's embedding. Every LayerNorm is linear once its scale is fixed, and each "
            "scale is taken from this run, so the parts (the embeddings, each head, each MLP, the bias terms) add up "
            "exactly.")))
    st.markdown(_("**Check:** embeddings {emb:+.4f} + heads {heads:+.4f}{bias_part} + MLPs {mlps:+.4f} + bias terms "
                  "{bias:+.4f} = **{total:.5f}**; the model's own {what}: **{model:.5f}** (difference {diff:.1e}).").format(
        emb=attr.embeddings, heads=float(attr.heads.sum()),
        bias_part=(_(" + W^O biases {b:+.4f}").format(b=float(attr.attn_bias.sum())) if attr.attn_bias is not None else ""),
        mlps=float(attr.mlps.sum()), bias=attr.bias, total=attr.total,
        what=_("logit") if HAS_HEAD else _("score (final vector · embedding row)"), model=attr.model_value,
        diff=abs(attr.total - attr.model_value)))
    show_chart(bp.component_grid(attr.heads, attr.mlps, _("Direct contribution of each head and MLP to the {what} of "
                                                          "{target}").format(what=value_name, target=target_label),
                                 value_name, attn_bias=attr.attn_bias, marked={cell(c) for c in ablated_now}),
               "block-attribution")
    show_chart(bp.layer_totals(attr.attention, attr.mlps, _("Per layer: attention (all heads) and MLP"), value_name),
               "block-layers")
    items = [(_("layer {layer}, head {head}").format(layer=nb.number(l), head=nb.number(h)), attr.heads[l, h])
             for l in range(L) for h in range(H)] + [
        (_("layer {layer}, MLP").format(layer=nb.number(l)), attr.mlps[l]) for l in range(L)]
    items.sort(key=lambda kv: -kv[1])
    st.markdown(_("**Pushed up most:** {up}. **Pushed down most:** {down}. The embeddings alone: {emb:+.3f}.").format(
        up=", ".join(f"{name} ({v:+.3f})" for name, v in items[:4]),
        down=", ".join(f"{name} ({v:+.3f})" for name, v in items[::-1][:4]), emb=attr.embeddings))
    st.caption(_("Red pushes the {what} up, blue down; hover a cell for the exact number. What this does not show: "
                 "indirect effects. A head whose output matters because later layers read it can look small here; "
                 "switch it off below to see its whole effect. Outlined cells are switched off in section 3 (this "
                 "chart is always the ordinary run).").format(what=value_name))
    rows = [("embeddings", "", "", attr.embeddings)] + [
        ("head", nb.number(l), nb.number(h), float(attr.heads[l, h])) for l in range(L) for h in range(H)] + (
        [("W^O bias", nb.number(l), "", float(attr.attn_bias[l])) for l in range(L)] if attr.attn_bias is not None
        else []) + [("MLP", nb.number(l), "", float(attr.mlps[l])) for l in range(L)] + [("bias terms", "", "", attr.bias)]
    csv_download(pd.DataFrame(rows, columns=["part", "layer", "head", value_name]),
                 _("Contributions as CSV"), f"block-contributions-{lm.spec.id}.csv", key="block_csv")

    # ------------------------------------------------------------------------------------------- ablation
    st.header(_("3. Knock it out: switch heads and MLPs off"), anchor="ablation")
    st.markdown(_("An {ablation} switches parts off and runs the model again: a head's output (its {dh} columns before "
                  "W^O) or an MLP's output is replaced, in every position, by zeros or by its average over the text's "
                  "positions in the ordinary run. The change shows the part's whole effect, including what later layers "
                  "did with its output.").format(ablation=g("ablation", _("ablation")), dh=an.d_head)
                + (" " + _("For a decoder, the prediction at position {position} can only see tokens 0 to {position} (the "
                           "causal mask), so every run here reads those {n} tokens, and the average is over them.").format(
                    position=pos, n=pos + 1) if run.causal else ""))


    def component_label(label: str) -> str:
        (c,) = block.parse_components(label, L, H)
        if c.kind == "a":
            return _("layer {layer}, head {head}").format(layer=nb.number(c.layer), head=nb.number(c.head))
        return _("layer {layer}, MLP").format(layer=nb.number(c.layer))


    a1, a2 = st.columns([3, 2])
    a1.multiselect(_("Switch off"), OPTIONS, key=key(ABLATE), format_func=component_label,
                   on_change=state.forget_warning, args=(ABLATE.name,),
                   placeholder=_("Pick heads or MLPs…"),
                   help=_("In the link: ablate=a3.2,m5 is layer 3 head 2 and the MLP of layer 5; a4 is every head of "
                          "layer 4."))
    a2.radio(_("Replace the output with"), list(MODES), key=key(ABLATION), format_func=translated(MODES),
             on_change=state.forget_warning, args=(ABLATION.name,))
    mode = st.session_state[key(ABLATION)]
    mode_name = _(MODE_NAMES[mode])
    ablated_now = block.parse_components(",".join(st.session_state[key(ABLATE)]), L, H)
    if not ablated_now:
        st.caption(_("Nothing is switched off yet: pick parts above, or let the page find the most important heads "
                     "below."))
    else:
        abl = get_ablated(lm.spec.id, text, pos, ablated_now, mode)
        names = ", ".join(component_label(c.label) for c in ablated_now[:12]) + (" …" if len(ablated_now) > 12 else "")
        if HAS_HEAD:
            after = softmax(abl.logits)
            before_rank = int((probs > probs[target]).sum()) + 1
            after_rank = int((after > after[target]).sum()) + 1
            m1, m2, m3 = st.columns(3)
            m1.metric(_("p({target}) after").format(target=target_label), f"{after[target]:.2%}",
                      delta=_("{d:+.2f} points").format(d=100 * float(after[target] - probs[target])), delta_color="normal")
            m2.metric(_("Rank of {target}").format(target=target_label), _("{after:,} (was {before:,})").format(
                after=after_rank, before=before_rank))
            new_top = int(np.argmax(after))
            m3.metric(_("Top token now"), visible(block.target_text(lm, new_top)), help=f"{float(after[new_top]):.2%}")
            ids = list(dict.fromkeys([int(i) for i in ranked_ids(run.logits)[:N_BARS]] + [target] +
                                     [int(i) for i in ranked_ids(abl.logits)[:3]]))
            bar_labels = [visible(block.target_text(lm, i)) for i in ids]
            show_chart(bp.before_after_bars(bar_labels, probs[ids], after[ids],
                                            _("Next-token probabilities with {n} part(s) switched off ({mode})").format(
                                                n=len(ablated_now), mode=mode_name), highlight=ids.index(target)),
                       "block-ablation")
            st.caption(_("Switched off: {names}. Grey: the ordinary run; red: with them off. ◀ marks the target. "
                         "Probabilities are over all {V:,} tokens.").format(names=names, V=len(probs)))
        else:
            row, _bias = block.readout_row(lm, target)
            before_score = float(np.asarray(run.final, np.float64) @ row)
            after_score = float(np.asarray(abl.final, np.float64) @ row)
            cos_all = block.cosine(run.last_hidden, abl.last_hidden)  # [T]
            m1, m2 = st.columns(2)
            m1.metric(_("Score of {target} after").format(target=target_label), f"{after_score:.4f}",
                      delta=f"{after_score - before_score:+.4f}", delta_color="normal")
            m2.metric(_("Cosine of the final vector with the ordinary one"), f"{cos_all[pos]:.4f}")
            show_chart(bp.position_cosines(labels, cos_all, _("How much each position's final vector still points the "
                                                              "same way ({mode})").format(mode=mode_name), chosen=pos),
                       "block-ablation-cosines")
            st.caption(_("Switched off: {names}. An encoder has no next-token prediction to compare, so this shows, for "
                         "every position, the cosine between its final vector with and without those parts (1 = the "
                         "same direction); red is the chosen position.").format(names=names))

    RANKING = "_block_ranking"
    ranking_key = (lm.spec.id, text, pos, target, mode)


    def want_ranking() -> None:
        st.session_state[RANKING] = ranking_key


    def switch_off(label: str) -> None:
        current = list(st.session_state.get(key(ABLATE), []))
        if label not in current:
            st.session_state[key(ABLATE)] = current + [label]
        state.forget_warning(ABLATE.name)


    n_parts = L * (H + 1)
    st.button(_("Find the most important heads (switch off each of the {n} heads and MLPs, one at a time)").format(
        n=n_parts), on_click=want_ranking, icon=":material/search:", type="primary", key="block_rank")
    if len(run.ids) > 64:
        st.caption(_("This run reads {n} tokens, so the {parts} ablations take longer than for a short sentence: each "
                     "of them reads all {n}.").format(n=len(run.ids), parts=n_parts))
    if st.session_state.get(RANKING) == ranking_key or has_ranking(*ranking_key):
        with st.spinner(_("Running {n} ablations…").format(n=n_parts)):
            ranking = get_ranking(*ranking_key)
        if ranking.metric == "probability":
            drop_name = _("drop in p({target})").format(target=target_label)
            what = _("how much p({target}) falls (from {p:.2%}) when that one part is switched off; negative: it "
                     "rises").format(target=target_label, p=ranking.baseline)
            fmt = "+.3f"
        else:
            drop_name = _("1 − cosine")
            what = _("how far the final vector at this position turns (1 − cosine with the ordinary one) when that one "
                     "part is switched off")
            fmt = "+.3f"
        ranking_title = _("Each part switched off alone ({mode}): {what}").format(mode=mode_name, what=drop_name)
        show_chart(bp.component_grid(ranking.head_drop, ranking.mlp_drop, ranking_title, drop_name, value_format=fmt),
                   "block-ranking")
        top_parts = ranking.top(6)
        st.markdown(_("**Most important here:** {parts}.").format(parts=" · ".join(
            f"{component_label(c.label)} ({v:+.3f})" for c, v in top_parts)))
        cols = st.columns(3)
        for i, (c, v) in enumerate(top_parts):
            cols[i % 3].button(_("Switch off {part}").format(part=component_label(c.label)), key=f"block_off_{c.label}",
                               on_click=switch_off, args=(c.label,), disabled=c.label in st.session_state[key(ABLATE)],
                               width="stretch")
        st.caption(_("Each cell: {what}. {n} separate runs, batched: for each layer one batch of {rows} rows (each row "
                     "one head of that layer off, the last its MLP) runs from that layer's input in the ordinary run, "
                     "since the layers before it are unchanged. Computed in {seconds:.1f} s.").format(
            what=what, n=n_parts, rows=H + 1, seconds=ranking.seconds))

    # ------------------------------------------------------------------------------------------ the MLP
    st.header(_("4. What the MLP does"), anchor="mlp")
    act_name, gated = block.activation(lm.model)
    act_name = ACTIVATIONS.get(act_name, act_name)
    mlp_params, block_params = block.mlp_share(lm.model)
    how = _("a gated {act}: {act}(gate) × up, two {dff:,}-number projections multiplied").format(
        act=act_name, dff=an.d_ff) if gated else act_name
    st.markdown(_(
        "The MLP works on each token's vector on its own. It expands the {d} numbers to {dff:,} ({neurons}), applies a "
        "non-linearity ({how}) and projects back to {d}: {mlp:,} of the block's {total:,} parameters ({share:.0%}). "
        "One way to picture it: each neuron asks the vector a question (how much do you point my way?), the "
        "non-linearity keeps the answer, and the neuron writes its own fixed direction back into the stream, scaled by "
        "that answer. Below: the neurons that answered most strongly for {token}, and what their writes do to the "
        "tokens' {scores}.").format(
        d=facts.d_model, dff=an.d_ff, neurons=g("neuron", _("neurons")), how=how, mlp=mlp_params, total=block_params,
        share=mlp_params / block_params, token=md_literal(shown[pos]),
        scores=g("logit", _("logits")) if HAS_HEAD else _("embedding scores")))
    st.slider(_("Layer"), **LAYER.bounds(), key=key(LAYER), on_change=state.forget_warning, args=(LAYER.name,),
              help=_("The block whose MLP (and, in section 5, whose heads) is shown."))
    layer = nb.index(st.session_state[key(LAYER)])
    neurons = get_neurons(lm.spec.id, text, pos, layer, N_NEURONS)


    def token_list(ids, values) -> str:
        return ", ".join(f"{visible(block.target_text(lm, int(i)))} ({v:+.2f})" for i, v in zip(ids, values)) or "—"


    col_neuron, col_act, col_up, col_down = _("neuron"), _("activation"), _("raises"), _("lowers")
    st.dataframe(pd.DataFrame({
        col_neuron: [nb.number(n.index) for n in neurons],
        col_act: [round(n.activation, 4) for n in neurons],
        col_up: [token_list(n.up_ids, n.up_values) for n in neurons],
        col_down: [token_list(n.down_ids, n.down_values) for n in neurons],
    }), hide_index=True, width="stretch")
    if HAS_HEAD:
        neuron_note = _("Neurons are numbered 1 to {dff:,}; the {n} with the largest |activation| (after the "
                        "non-linearity) at {token} in layer {layer}. 'Raises' and 'lowers': the tokens whose logit this "
                        "neuron's write here changes most (activation × its output direction, through the final {norm} "
                        "with this run's scale, read by the unembedding; the numbers are logit changes). A negative "
                        "activation writes the opposite direction.")
    else:
        neuron_note = _("Neurons are numbered 1 to {dff:,}; the {n} with the largest |activation| (after the "
                        "non-linearity) at {token} in layer {layer}. 'Raises' and 'lowers': the tokens whose embedding "
                        "score this neuron's write here changes most (activation × its output direction, through the "
                        "LayerNorms after it with this run's scales, read against the input-embedding rows as in section "
                        "2). A negative activation writes the opposite direction.")
    st.caption(neuron_note.format(dff=an.d_ff, n=N_NEURONS, token=md_literal(shown[pos]), layer=nb.number(layer),
                                  norm=NORM))

    # -------------------------------------------------------------------------------- heads -> W^O
    st.header(_("5. How the heads are combined: concatenation and W^O"), anchor="heads")
    proj_shape = att.output_projection_shape(lm.model, layer)
    st.markdown(_("The {heads} heads of layer {layer} each write a T × d_head matrix ({t} × {dh}); side by side they "
                  "make a {t} × {hd} matrix, and W^O (`{name}`, {rows} × {cols}) turns it into the attention's output, "
                  "{t} × {d}, which is added to the residual stream. Head h meets only its own {dh} rows of W^O, so the "
                  "output is the sum of what each head writes: that is how section 2 splits the attention into heads.")
                .format(heads=H, layer=nb.number(layer), t=T, dh=an.d_head, hd=H * an.d_head, name=an.wo_name,
                        rows=proj_shape[0], cols=proj_shape[1], d=facts.d_model))
    show_chart(mp.heads_concat_diagram(
        n_tokens=T, n_heads=H, d_head=an.d_head, d_model=facts.d_model, wo_shape=proj_shape, wo_name=an.wo_name,
        title=_("How the {heads} heads of layer {layer} are combined · {model}").format(
            heads=H, layer=nb.number(layer), model=lm.spec.label),
        kv_groups=att.kv_groups(lm.model.config) if facts.gqa else None, bias=run.attn_bias is not None,
        post_norm=POST), "block-heads-concat")
