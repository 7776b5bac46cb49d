""""Sample 100 times" on the Next token page (models/many_samples.py does the work): 100 seeded samples of the next
few tokens at the page's temperature / top-k / top-p, drawn by the generation engine as one group, the histogram
of their first tokens next to the probabilities they were drawn from, and the distinct continuations.

Called inside the page's sampling fragment, so it follows the sliders; its own URL parameters are seeded and
written back here.
"""
from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import i18n
from components import state
from components.engine import get_engine, get_text_tools
from components.glossary import glossary_link as g
from components.samples_plots import samples_figure
from components.widgets import show_chart, visible
from i18n import _, ngettext
from models import many_samples as ms
from models.generation import MAX_SEED, MIN_SAMPLING_TEMPERATURE, Refused
from models.sampling import BadSetting, adjust

SCOPE = "next-token"
N_ROWS = 20  # tokens in the histogram at most
NEW_TOKENS = state.Param("samples_tokens", ms.DEFAULT_NEW_TOKENS, lo=1, hi=ms.MAX_NEW_TOKENS, step=1)
# sample i uses seed + i: the last one is MAX_SEED at most, like the Generate page's seed
SEED = state.Param("seed", 0, lo=0, hi=MAX_SEED - ms.N_SAMPLES, step=1)
PARAMS = [NEW_TOKENS, SEED]
RESULT = "samples_result"
FRESH_KEY = "samples_fresh_seed"  # the toggle "New seeds each press" (issue 25: the same seed on every press made
# sampling look not random); a link that names its seed turns it off, so the link reproduces its samples


def _press() -> None:
    """The button's callback (before the run, so the First seed input can still be set): new seeds when on."""
    if st.session_state.get(FRESH_KEY, True):
        st.session_state[SEED.name] = SEED.lo + secrets.randbelow(SEED.hi - SEED.lo + 1)  # the input's range
        state.forget_warning(SEED.name)


def _seed_typed() -> None:
    state.forget_warning(SEED.name)
    st.session_state[FRESH_KEY] = False  # a seed typed by hand is one to repeat


@st.cache_resource(show_spinner=False, max_entries=32, ttl=3600)
def _draw(model_id: str, ids: tuple[int, ...], temperature: float, top_k: int, top_p: float, new_tokens: int,
          seed: int, _engine: Any) -> list[ms.Sample]:
    """Shared by every session (the same link pressed by a class runs once); seeded, so always the same result."""
    settings = ms.settings_for(temperature, top_k, top_p, new_tokens, seed)
    return ms.draw(_engine, list(ids), settings)


def section(lm: Any, trace: Any, temperature: float, top_k: int, top_p: float) -> None:
    if lm.spec.head != "causal-lm":
        return
    if SEED.name in state.from_link([SEED], scope=SCOPE):
        st.session_state[FRESH_KEY] = False
    state.seed(PARAMS, scope=SCOPE)
    st.session_state.setdefault(FRESH_KEY, True)
    st.subheader(_("Sample 100 times"))
    try:
        adj = adjust(trace.last_logits, temperature, top_k, top_p)
    except BadSetting:  # too small a temperature for float32: greedy is its limit (as the bars above show)
        temperature = 0.0
        adj = adjust(trace.last_logits, 0.0, top_k, top_p)
    if 0 < temperature < MIN_SAMPLING_TEMPERATURE:
        temperature = 0.0
    st.markdown(_(
        "Sampling is random, but not arbitrary: each draw follows the probabilities above. Draw {n} continuations "
        "of {k} tokens at the current setting, each with its own seed (seed, seed + 1, …, so every one can be "
        "repeated: it is what transformers' `generate(do_sample=True)` gives after `torch.manual_seed` with that "
        "seed), and compare how often each first token came up with its probability."
    ).format(n=ms.N_SAMPLES, k=st.session_state.get(NEW_TOKENS.name, ms.DEFAULT_NEW_TOKENS)))
    c1, c2, c3 = st.columns([1, 1, 2])
    c1.number_input(_("Tokens per sample"), **NEW_TOKENS.bounds(), key=NEW_TOKENS.name,
                    on_change=state.forget_warning, args=(NEW_TOKENS.name,))
    c2.number_input(_("First seed"), **SEED.bounds(), key=SEED.name, on_change=_seed_typed,
                    help=_("The seeds of the last press are shown here and kept in the link."))
    c2.toggle(_("New seeds each press"), key=FRESH_KEY,
              help=_("On: every press draws new random seeds. Off: every press repeats the seeds above (the same "
                     "samples)."))
    new_tokens, seed = int(st.session_state[NEW_TOKENS.name]), int(st.session_state[SEED.name])
    setting = _("greedy (T = 0)") if adj.greedy else ", ".join(
        [f"T = {temperature:g}"] + ([f"top-k = {top_k}"] if top_k else [])
        + ([f"top-p = {top_p:g}"] if top_p < 1 else []))
    key = (lm.spec.id, tuple(int(i) for i in trace.ids), 0.0 if adj.greedy else float(temperature), int(top_k),
           float(top_p), new_tokens, seed)
    c3.write("")  # align the button with the inputs
    if c3.button(_("Sample {n} times ({setting})").format(n=ms.N_SAMPLES, setting=setting), key="samples_go",
                 type="primary", icon=":material/casino:", on_click=_press):  # seed: already the one _press drew
        try:
            with st.spinner(_("Drawing {n} samples on the generation engine...").format(n=ms.N_SAMPLES)):
                st.session_state[RESULT] = (key, _draw(*key, get_engine(lm)))
        except (Refused, RuntimeError, TimeoutError) as e:
            st.error(_("The samples could not be drawn: {reason}").format(reason=e), icon=":material/error:")
    result = st.session_state.get(RESULT)
    if result is None or result[0] != key:
        if result is not None and result[0][0] == lm.spec.id:
            st.caption(_("The setting or the text changed since the last draw: press the button to draw again."))
        state.write_back(PARAMS, scope=SCOPE)
        return
    _show(lm, adj, result[1], key)
    state.write_back(PARAMS, scope=SCOPE)


def _show(lm: Any, adj: Any, samples: list[ms.Sample], key: tuple) -> None:
    tools = get_text_tools(lm)
    summary = ms.summarize(samples)
    n = summary.n
    probs = adj.probs.astype(np.float64)
    # the tokens drawn, plus the likeliest ones that were not: a bar of 0 next to a real probability is a lesson too
    drawn = summary.first_ids[:N_ROWS].tolist()
    likely = [int(i) for i in np.argsort(-probs, kind="stable")[:10] if probs[i] > 0]
    ids = sorted(set(drawn) | set(likely[: max(0, N_ROWS - len(drawn))]), key=lambda i: (-probs[i], i))
    counts = dict(zip(summary.first_ids.tolist(), summary.first_counts.tolist()))
    labels = [visible(t) for t in tools.each(ids)]
    c = np.array([counts.get(i, 0) for i in ids])
    p = probs[ids]
    band = ms.spread(p, n)
    show_chart(samples_figure(labels, np.array(ids), c, n, p, band,
                              _("First token of {n} samples vs its probability").format(n=n)), "samples",
               key="samples_chart")
    inside = int(np.sum(np.abs(c / n - p) <= band + 1e-12))
    m1, m2, m3 = st.columns(3)
    m1.metric(_("Distinct first tokens"), f"{summary.distinct_first}")
    m2.metric(_("Distinct continuations"), f"{summary.distinct_continuations}")
    m3.metric(_("Most common continuation"), _("{k} of {n}").format(k=summary.continuations[0][1], n=n))
    if summary.distinct_continuations == 1:
        if adj.greedy:
            lines = [_("All {n} samples are the same: at temperature 0 every draw takes the most likely token "
                       "(greedy decoding), so the seed makes no difference.").format(n=n)]
        else:
            lines = [_("All {n} samples are the same: at this setting one continuation has (almost) all the "
                       "probability at every step.").format(n=n)]
    else:
        lines = [_("Orange: how many of the {n} samples began with each token; blue: the probability it had in the "
                   "distribution they were drawn from, with whiskers of ± two standard deviations of a share of {n} "
                   "draws (a share lands inside about 95% of the time). {inside} of the {rows} tokens shown are "
                   "inside.").format(n=n, inside=inside, rows=len(ids))]
        lines.append(_("More samples would bring the shares closer to the probabilities; fewer would scatter them "
                       "more. The first tokens follow the bars, and every later token is drawn the same way from the "
                       "model's prediction after the ones before it, so the continuations branch out."))
    st.markdown(i18n.sentences(*lines))

    rows = []
    for tokens, count, seeds in summary.continuations:
        shown = ", ".join(str(s) for s in seeds[:5]) + (", …" if len(seeds) > 5 else "")
        rows.append({_("continuation"): visible(tools.decode(list(tokens))), _("count"): count,
                     _("seeds"): shown})
    st.markdown("**" + ngettext("{k} distinct continuation", "{k} distinct continuations",
                                summary.distinct_continuations).format(k=summary.distinct_continuations) + "**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(rows)))
    st.caption(_("Drawn by the generation engine in one batch, each sample with its own random generator: sample i "
                 "used seed {seed} + i. A continuation shorter than {k} tokens ended with the model's "
                 "end-of-text token. {temperature}, {top_k} and {top_p} reshape the probabilities before every "
                 "draw.").format(seed=key[-1], k=key[-2], temperature=g("temperature", _("Temperature")),
                                 top_k=g("top-k", "top-k"), top_p=g("top-p", "top-p")))
