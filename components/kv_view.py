"""The KV-cache lesson on the Generate page (models/kv_cache.py does the work): the sidebar text read one token at
a time, the keys and values each step computes and the ones it reuses, the cache's size (formula and the real
tensors), what grouped-query attention saves, and the time per step with and without the cache, measured here.

``params(lm)`` are the section's URL parameters (bounded by the loaded model); the page seeds them after loading
the model, and the fragment writes them back.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import streamlit as st

import i18n
from components import state
from components.glossary import glossary_link as g
from components.kv_plots import cache_size_figure, kv_rows_figure, step_time_figure
from components.widgets import md_literal, show_chart, visible
from i18n import _
from models import kv_cache
from models.generation import prompt_ids

SCOPE = "generate"
OPEN_KEY = "kv_open"  # the expander's state (open or closed), kept by Streamlit
TIMING_TTL = 120  # seconds a live measurement is shown to every session before it is taken again


def params(lm: Any) -> list[state.Param]:
    f = lm.facts
    return [
        state.Param("kv_layer", 1, lo=1, hi=f.n_layers, below=_(
            "layers are counted from 1 and layer 0 is the embeddings, which have no keys or values")),
        state.Param("kv_head", 1, lo=1, hi=f.n_kv_heads, below=_("heads are counted from 1")),
        state.Param("kv_step", 0, lo=0, hi=kv_cache.MAX_STEP_TOKENS),  # 0: the last token
    ]


@st.cache_resource(show_spinner=False, max_entries=16, ttl=3600)
def _snapshot(model_id: str, ids: tuple[int, ...], _lm: Any) -> kv_cache.Snapshot:
    return kv_cache.snapshot(_lm, list(ids))


@st.cache_resource(show_spinner=False, max_entries=8, ttl=TIMING_TTL)
def _timing(model_id: str, ids: tuple[int, ...], _lm: Any) -> tuple[kv_cache.StepTimes, float]:
    """A live measurement, shared by the sessions that ask within TIMING_TTL seconds (one forward pass per step
    each way: a class pressing the button together should not queue 30 of them behind the model's lock)."""
    steps = kv_cache.recompute_steps(len(ids))
    return kv_cache.time_steps(_lm, list(ids), steps), time.time()


def _measure(lm: Any, ids: tuple[int, ...]) -> None:
    """The button's callback: runs before the section is drawn again, which then shows the result."""
    st.session_state["kv_timing"] = ((lm.spec.id, ids), *_timing(lm.spec.id, ids, lm))


def _size(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:,.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:,.1f} MB"
    return f"{n / 1e3:,.1f} kB"


def section(lm: Any, text: str) -> None:
    """The lesson in an expander (open when a link sets one of its parameters). Its content runs only while it is
    open: its forward pass of the sidebar text cost a class more CPU than the generations themselves when 30
    students opened the Generate page at once with the lesson closed (py-spy of `make load`'s generate part)."""
    ps = params(lm)
    if state.from_link(ps, SCOPE):  # a link with a kv_ parameter opens it, once: later runs keep the student's choice
        st.session_state[OPEN_KEY] = True
    state.seed(ps, scope=SCOPE)
    # expanded is constant: it is part of the expander's identity, and write_back drops default values from the URL
    box = st.expander(_("Inside each step: the KV cache, token by token"), expanded=False, icon=":material/memory:",
                      key=OPEN_KEY, on_change="rerun")
    if box.open:
        with box:
            _fragment(lm, text)


@st.fragment
def _fragment(lm: Any, text: str) -> None:
    ps = params(lm)
    layer_p, head_p, step_p = ps
    f = lm.facts
    shape = kv_cache.cache_shape(lm)
    with lm.tokenizer_lock:
        ids, from_bos = prompt_ids(lm.tokenizer, text)
        ids = ids[: kv_cache.MAX_STEP_TOKENS]
        labels = [visible(lm.tokenizer.decode([i])) for i in ids]
    T = len(ids)
    st.markdown(i18n.sentences(_(
        "To pick each next token, every layer of {model} compares the new token's query with the keys of all the "
        "tokens so far and mixes their values. A token's keys and values depend only on it and the tokens before it "
        "(the {causal_mask}), so once computed they never change: the model keeps them in the **{kv_cache}** and each "
        "step computes only the new token's row."
    ).format(model=lm.spec.label, causal_mask=g("causal mask", _("causal mask")),
             kv_cache=g("KV cache", "KV cache")), _(
        "Below, the sidebar text is read one token at a time, as if the model were writing it ({n} tokens).").format(
        n=T)))
    if from_bos:
        st.caption(_("The sidebar text is empty: the model starts from its beginning-of-sequence token alone."))
    elif len(text) and T == kv_cache.MAX_STEP_TOKENS:
        st.caption(_("The first {n} tokens of the text.").format(n=T))

    if st.session_state.get(step_p.name, 0) in (0, None) or st.session_state[step_p.name] > T:
        st.session_state[step_p.name] = T
    c1, c2, c3 = st.columns([2, 1, 2])
    c1.slider(_("Layer"), **layer_p.bounds(), key=layer_p.name, on_change=state.forget_warning, args=(layer_p.name,))
    c2.selectbox(_("Key/value head"), list(range(head_p.lo, head_p.hi + 1)), key=head_p.name,
                 on_change=state.forget_warning, args=(head_p.name,))
    if T > 1:  # the text's tokens; the link's 0 ("the last token") was made T above
        c3.slider(_("Step (token)"), **step_p.bounds(lo=1, hi=T), key=step_p.name, on_change=state.forget_warning,
                  args=(step_p.name,))
    layer, head, step = int(st.session_state[layer_p.name]), int(st.session_state[head_p.name]), \
        int(st.session_state[step_p.name])

    snap = _snapshot(lm.spec.id, tuple(ids), lm)
    show_chart(kv_rows_figure(snap.keys[layer - 1, head - 1], snap.values[layer - 1, head - 1], labels, step,
                              _("Layer {layer}, key/value head {head}: step {step} of {n}").format(
                                  layer=layer, head=head, step=step, n=T)), "kv-rows", key="kv_rows")
    per_layer = shape.new_per_step()
    group = _("Its {H} query heads share these {kv} key/value heads: each key/value head serves {g} query "
              "heads ({gqa}).").format(H=f.n_heads, kv=f.n_kv_heads, g=f.n_heads // f.n_kv_heads,
                                       gqa=g("GQA", _("grouped-query attention"))) if shape.gqa else ""
    arrives = _(
        "**Step {step}: {token} arrives.** In each of the {L} layers it computes one query per query head ({H}) and "
        "one key and one value per key/value head ({kv}): {new:,} numbers written to the cache per layer (the red "
        "row; {all:,} in all layers)."
    ).format(step=step, token=md_literal(labels[step - 1]), L=f.n_layers, H=f.n_heads, kv=f.n_kv_heads,
             new=per_layer, all=per_layer * f.n_layers)
    if step > 1:
        reused = _("The keys and values of the {before} tokens before it ({reused:,} numbers in all layers, the dotted "
                   "block) are read from the cache, not computed again; its query is compared with all {step} "
                   "keys.").format(before=step - 1, reused=(step - 1) * per_layer * f.n_layers, step=step)
    else:
        reused = _("It is the first token: the cache is empty, and its query meets only its own key.")
    st.markdown(i18n.sentences(arrives, reused, group))

    # ------------------------------------------------------------------------------------------- size
    formula = _("{L} layers × {kv} key/value heads × {D} × 2 (keys and values) × {b} bytes ({dtype})").format(
        L=shape.n_layers, kv=shape.n_kv_heads, D=shape.head_dim, b=shape.bytes_per_value, dtype=shape.dtype)
    m1, m2, m3 = st.columns(3)
    m1.metric(_("Cache per token"), f"{shape.bytes_per_token:,} B", help=formula)
    m2.metric(_("Cache after step {n}").format(n=step), _size(shape.bytes_for(step)))
    if shape.gqa:
        m3.metric(_("Without grouped-query attention"), _size(shape.bytes_per_token_without_gqa * step),
                  help=_("{H} key/value heads, one per query head").format(H=f.n_heads))
    tokens = np.arange(1, T + 1)
    real = shape.bytes_for(T) == snap.nbytes
    timing = st.session_state.get("kv_timing")
    timing = timing if timing and timing[0] == (lm.spec.id, tuple(ids)) else None
    measured_at, measured = (tokens, timing[1].cache_bytes) if timing else (np.array([T]), np.array([snap.nbytes]))
    show_chart(cache_size_figure(tokens, shape.bytes_per_token * tokens,
                                 shape.bytes_per_token_without_gqa * tokens if shape.gqa else None, step,
                                 measured_at, measured, _("The cache grows by {b:,} bytes with every token").format(
                                     b=shape.bytes_per_token)), "kv-size", key="kv_size")
    check = _("transformers' own forward pass with `use_cache=True` over these {T} tokens returns a cache of {L} "
              "layers, keys and values each of shape {shape} ({dtype}): {bytes:,} bytes in all.").format(
        T=T, L=shape.n_layers, shape=md_literal(str(list(snap.tensor_shape))), dtype=snap.dtype, bytes=snap.nbytes)
    verdict = (_("That is exactly the formula: {T} × {per:,} = {total:,}.") if real else
               _("The formula gives {T} × {per:,} = {total:,}: they differ.")).format(
        T=T, per=shape.bytes_per_token, total=shape.bytes_for(T))
    st.markdown(i18n.sentences(_("Per token: {formula} = {b:,} bytes.").format(formula=formula,
                                                                               b=shape.bytes_per_token),
                               check, verdict))
    ctx = f.context_length
    if shape.gqa:
        st.markdown(_(
            "**What grouped-query attention saves:** with {kv} key/value heads instead of one per query head ({H}), "
            "the cache is {r:g} times smaller. At {model}'s full context of {ctx:,} tokens it holds {a} per sequence "
            "instead of {b}, and a server keeps one such cache for every text it is writing at the same time."
        ).format(kv=f.n_kv_heads, H=f.n_heads, r=f.n_heads / f.n_kv_heads, model=lm.spec.label, ctx=ctx,
                 a=_size(shape.bytes_for(ctx)), b=_size(shape.bytes_per_token_without_gqa * ctx)))
    else:
        st.markdown(_("{model} has no grouped-query attention: each of its {H} heads has its own keys and values. "
                      "At its full context of {ctx:,} tokens the cache holds {a} per sequence.").format(
            model=lm.spec.label, H=f.n_heads, ctx=ctx, a=_size(shape.bytes_for(ctx))))

    # ------------------------------------------------------------------------------------------- time
    st.markdown("**" + _("What the cache saves in time") + "**")
    if T < 2:
        st.caption(_("Type a longer text: timing needs at least two tokens."))
    else:
        st.button(_("Time it on the server"), key="kv_time", icon=":material/timer:", on_click=_measure,
                  args=(lm, tuple(ids)), help=_("Runs the text through the model one token at a time with the cache, "
                                                "and at some steps the whole prefix again without it; a few seconds."))
    if timing:
        times, when = timing[1], timing[2]
        both = times.timed_both
        show_chart(step_time_figure(tokens, times.cached_s * 1e3, times.recompute_s * 1e3,
                                    _("Time per step, measured on this server")), "kv-time", key="kv_time_chart")
        last = int(both[-1])
        a, b = times.cached_s[last - 1] * 1e3, times.recompute_s[last - 1] * 1e3
        exact = bool(np.array_equal(times.cache_bytes, shape.bytes_per_token * tokens))
        lines = [
            _("At step {s} one new token with the cache took {a:.0f} ms; running all {s} tokens again without it "
              "took {b:.0f} ms ({r:.1f}×).").format(s=last, a=a, b=b, r=b / a if a else float("nan")),
            _("Without a cache every step redoes the work of all the earlier ones, so the gap grows with the length "
              "of the text."),
            _("With only {s} tokens it is small here: a forward pass costs much the same for one token or a few, "
              "since it reads all of the model's weights either way.").format(s=last) if b < 1.5 * a else "",
            _("The cache built token by token holds the same keys and values as one forward pass over the whole text "
              "(largest difference {d:.1e}, float rounding), and both ways predicted the same next token at every "
              "step timed both ways.").format(d=times.max_abs_diff) if times.same_prediction else
            _("The cache built token by token differs from one forward pass over the whole text by up to {d:.1e}, "
              "and the two ways did not always agree on the prediction.").format(d=times.max_abs_diff),
            (_("After every step the real cache tensors held exactly the formula's bytes.") if exact else
             _("After some steps the real cache tensors did not hold the formula's bytes.")),
        ]
        st.markdown(i18n.sentences(*lines))
        every = _("every step") if len(both) == T else _("{k} of the {n} steps").format(k=len(both), n=T)
        st.caption(_("Wall-clock times on this server, measured {ago:.0f} s ago with transformers' forward pass "
                     "on one thread (`logits_to_keep=1` both ways), other sessions running; recomputing was timed at "
                     "{every}. The app's own generation engine is faster still (bench/generation.py).").format(
            ago=max(0.0, time.time() - when), every=every))
    state.write_back(ps, scope=SCOPE, implicit={step_p.name: T})
