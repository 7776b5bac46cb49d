"""Temperature, top-k and top-p re-weighted in the browser: the sliders of /next-token and /generate.

A Streamlit slider costs a server round trip per move. This custom component receives the model's logits for the
position once (every one of the V entries, float32, as raw bytes: ~200 KB for SmolLM2's 49,152) and its own sliders
re-weight them in the browser: the two bar charts, the counts (tokens still eligible, entropy before and after),
the top-p cumulative curve and the step-by-step table are all redrawn there, with no server run.

* The maths (``sampling_redraw_frontend/sampling.js``) is models/sampling.py's ``adjust()`` (generate's order
  temperature -> top-k -> top-p, ties, T = 0 greedy, top-p keeps at least one token) in the float32 arithmetic torch
  uses on the server, down to the order in which its softmax adds (:func:`models.sampling.torch_softmax_layout`) and
  torch.sort's order for exact ties across the top-p cut: the tests compare the browser's probabilities with
  ``adjust()`` within 1e-6.
* The look comes from Python: the top-p curve is :mod:`components.sampling_plots`' own figure, sent once as a
  template (the browser puts the numbers in); the two bar charts are plain DOM in that module's colours (a Plotly
  figure is redrawn whole on every change: ~40 ms for the bars alone here, the whole budget of a move), their
  labels set as text. Every word is translated here and passed to the browser as a template (``{n:,}``,
  ``{p:.1%}``: Python's format specs, filled in by the browser); what goes into Plotly is escaped for it here.
* The component reports ``{"temperature", "top_k", "top_p"}`` (debounced) after it has redrawn; the page stores it
  and writes the URL, so the address bar follows the sliders and a link opened cold shows the same view. The
  setting sent in the arguments changes only when it changes from outside the component (a link, the server-side
  sliders), so a rerun caused by the component leaves the arguments identical and never moves its sliders back.
* A server-side path stays (:func:`on_server`, a toggle under the component): Streamlit's own sliders and figures,
  for a browser that cannot run the component and for AppTest.

Plotly.js is the installed plotly package's ``package_data/plotly.min.js``, served by Streamlit's component route
(the folder registered by components/attention_redraw.py); nothing is fetched from the internet.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from components.sampling_plots import plotly_text
from i18n import _

FRONTEND = Path(__file__).parent / "sampling_redraw_frontend"
COMPONENT = "sampling_redraw"
N_BARS = 20  # tokens in the bar charts (the most likely under the model: temperature and the cuts keep the order)
N_MATH = 10  # tokens in the step-by-step table
REPORT_MS = 200  # the browser reports a setting this long after the last move (the URL follows, debounced)


@dataclass(frozen=True)
class Setting:
    temperature: float
    top_k: int
    top_p: float

    def as_list(self) -> list:
        return [float(self.temperature), int(self.top_k), float(self.top_p)]


# The ranges of the sampling controls on /next-token and /generate (their Params bound the URL values with these;
# models/sampling.py accepts any T >= 0 and any k): one definition, imported by both pages.
TEMPERATURE_MAX = 2.0
TOP_K_MAX = 200  # 0 = off


@dataclass(frozen=True)
class Limits:
    """The component's slider ranges and steps, taken from the page's Params (:meth:`of`): the browser's sliders,
    the check of what it reports (:func:`chosen`), the URL parser and Streamlit's fallback sliders share them."""

    temperature_max: float
    temperature_step: float
    top_k_max: int
    top_p_step: float

    @classmethod
    def of(cls, temperature, top_k, top_p) -> "Limits":
        """From the page's three ``components.state.Param`` objects. The browser's sliders start at 0, top-p ends at
        1 (a probability) and the two decimal sliders need a step, so those Params must say so."""
        if (temperature.lo, top_k.lo, top_p.lo, top_p.hi) != (0, 0, 0, 1) or None in (temperature.step, top_p.step):
            raise ValueError("the sampling sliders run from 0 (top-p up to 1), with a step for T and p")
        return cls(temperature.hi, temperature.step, top_k.hi, top_p.step)

    def as_dict(self) -> dict:
        return {"t_max": self.temperature_max, "t_step": self.temperature_step, "k_max": self.top_k_max,
                "p_step": self.top_p_step}


def logits_bytes(logits: np.ndarray) -> tuple[bytes, str]:
    """(float32 little-endian bytes of the [V] logits, their identity). The browser decodes a payload once."""
    a = np.ascontiguousarray(np.asarray(logits).reshape(-1), dtype="<f4")
    if a.size == 0 or not np.isfinite(a).any() or np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError("the logits must be numbers, with at least one finite and none +inf.")
    data = a.tobytes()
    return data, hashlib.blake2b(data, digest_size=12).hexdigest()


def decode(data: bytes) -> np.ndarray:
    """The [V] float32 logits as the browser reads them."""
    return np.frombuffer(data, dtype="<f4")


def top_ids(logits: np.ndarray, n: int = N_BARS) -> np.ndarray:
    """The ``n`` most likely ids (models.sampling.ranking's order: ties by id)."""
    from models.sampling import top_ranked

    return top_ranked(np.asarray(logits, dtype=np.float32), n)


# ------------------------------------------------------------------------------------------ the words
def _link(template: str, **links: str) -> str:
    """Fill only these placeholders (Markdown links), leaving the numeric ones for the browser."""
    for k, v in links.items():
        template = template.replace("{" + k + "}", v)
    return template


def strings(V: int) -> dict[str, str]:
    """Every text the component shows, in the session's language. Python format templates (``{V:,}``,
    ``{mass:.1%}``, ``{T:g}``) filled in by the browser; Markdown limited to **bold**, `code` and links to app
    pages. Keys ending in ``_plot`` go into Plotly and are escaped for it here."""
    from components.glossary import glossary_link as g

    s = {
        "temperature": _("Temperature"), "top_k": _("Top-k"), "top_p": _("Top-p (nucleus)"),
        "temperature_help": _("Divides every logit before the softmax. 0 = greedy (always the top token), 1 = the "
                              "model's own distribution, 2 = much flatter and more random."),
        "top_k_help": _("Keep only the k most likely tokens (0 = off)."),
        "top_p_help": _("Keep the smallest set of most likely tokens whose probabilities add up to at least p (1 = "
                        "off)."),
        "off": _("off"),
        "eligible": _("Tokens still eligible (of {V:,})"), "entropy_model": _("Entropy: model"),
        "entropy_adjusted": _("Entropy: adjusted"), "bits": _("{bits:.2f} bits"), "bits_delta": _("{bits:+.2f} bits"),
        "most_likely": _("Most likely next token"), "most_likely_help": _("The model itself gives it {p:.2%}."),
        "greedy_info": _("**Temperature 0 = greedy decoding**: no division by zero — the limit of ever smaller "
                         "temperatures puts all the probability on the single most likely token, so it is always "
                         "chosen. Top-k and top-p have nothing left to cut."),
        "nonzero": _("At T = {T:g} only {nonzero:,} of the {kept:,} eligible tokens keep a probability above 0 in "
                     "32-bit floating point."),
        "too_small": _("A temperature of {value:g} is too small to compute in 32-bit floating point: use 0 for "
                       "greedy decoding."),
        "showing_greedy": _("Showing greedy decoding (T = 0) instead."),
        "greedy_setting": _("greedy (T = 0)"),
        "kept_plot": plotly_text(_("{n:,} kept")),
        "row": _("{rank}. {token}  (id {id})"), "model_title": _("Model (T = 1, nothing cut)"),
        "adjusted": _("Adjusted: {setting}"), "probability": _("probability"),
        "cut_by": _("cut by top-k / top-p (probability 0)"),
        "bars_caption": _link(_(
            "{n} of {V:,} tokens shown; they hold {mass:.1%} of the model's probability and {adjusted:.1%} after "
            "adjusting. Every probability is a {softmax} over the **full** vocabulary of {V:,} tokens, not over the "
            "{n} drawn. Red: cut by {top_k}/{top_p}."),
            softmax=g("softmax", _("softmax")), top_k=g("top-k", "top-k"), top_p=g("top-p", "top-p")),
        "how_p_k": _("**Top-p = {p:g}** keeps the most likely tokens until their probabilities (after temperature "
                     "and top-k) add up to at least p; the curve crosses the dashed line there."),
        "how_k": _("**Top-k = {k}** keeps the {k} most likely tokens."),
        "how_p": _("**Top-p = {p:g}** keeps the most likely tokens until their probabilities (after temperature) "
                   "add up to at least p; the curve crosses the dashed line there."),
        "how_k_off": _("**Top-k = off** keeps every token."),
        "left": _("Left: {after_k:,} after top-k, **{kept:,}** after top-p; they held {mass:.1%} of the "
                  "temperature-scaled probability, and are divided by that to add up to 1 again. Entropy measures "
                  "the uncertainty: {h0:.2f} bits for the model, {h1:.2f} bits adjusted (0 = certain; {hmax:.1f} "
                  "bits = all {V:,} tokens equally likely)."),
        "math": _("The math, with the live numbers"),
        "math_1": _("1. **logits** z: the unembedding's score for each of the {V:,} tokens."),
        "math_greedy": _("2. **temperature**: T = 0 means take the arg-max, so no division happens."),
        "math_2": _("2. **divide by T = {T:g}**: z / T — below 1 sharpens, above 1 flattens."),
        "math_3": _("3. **softmax** over all {V:,}: p = exp(z / T) / (sum of exp(z / T) over every token)."),
        "math_4": _("4. **keep** top-k ({k}) then top-p ({p}): {kept:,} tokens left."),
        "math_5": _("5. **renormalise**: divide the kept probabilities by their sum, {mass:.4f}."),
        "col_token": _("token"), "col_id": _("id"), "col_after_k": _("after top-k"), "col_sees": _("top-p sees"),
        "col_cumulative": _("cumulative"), "col_after_p": _("after top-p"), "col_final": _("final p"),
        "kept": _("kept"), "cut": _("cut"),
    }
    return s


def sentence_separator() -> str:
    import i18n

    return "" if i18n.language() == "zh" else " "


# ------------------------------------------------------------------------------------------ the figures
def templates(logits: np.ndarray) -> dict:
    """The top-p curve as a JSON template, from :func:`components.sampling_plots.nucleus_curve` (the look of the
    server-side path, with a top-p line so that its style is there); the browser puts each setting's numbers in.
    The bar charts are drawn by the browser as plain DOM (redraw.js explains why), in :data:`COLORS`."""
    from components import present
    from components.sampling_plots import nucleus_curve
    from models.sampling import adjust

    adj = adjust(logits)  # T = 1, nothing cut: only the look is used
    curve = nucleus_curve(adj.nucleus_curve(), 0.5, adj.n_kept,
                          title=_("Top-p: cumulative probability, most likely token first"))
    present.style(curve)
    return {"nucleus": json.loads(curve.to_json())}


def colors() -> dict:
    from components.sampling_plots import ADJUSTED, CUT, ORIGINAL

    return {"original": ORIGINAL, "adjusted": ADJUSTED, "cut": CUT}


# -------------------------------------------------------------------------------------------- streamlit
def _component():
    """Declare the component (and, through attention_redraw, the folder that serves plotly.min.js)."""
    import streamlit.components.v1 as components

    from components import attention_redraw

    attention_redraw._components()  # registers the plotly.js folder (its URL is in index.html)
    return attention_redraw.declared_once(COMPONENT,
                                          lambda: components.declare_component(COMPONENT, path=str(FRONTEND)))


def next_step_logits(lm, ids) -> np.ndarray:
    """[V] the model's logits for the token after ``ids`` (the prompt /generate will continue), computed once per
    (model, prompt) in the process and shared by every session (read-only)."""
    return _next_step(lm.spec.id, tuple(int(i) for i in ids), lm)


@st.cache_resource(show_spinner=False, max_entries=64, ttl=3600)
def _next_step(model_id: str, ids: tuple[int, ...], _lm) -> np.ndarray:
    from models.sampling import next_logits
    from serving.engine import one_thread

    with one_thread():  # the Generate page's run then waits beside the engine's stream: no OpenMP team kept here
        out = next_logits(_lm, ids)
    out.setflags(write=False)
    return out


def _sent_key(key: str) -> str:
    return f"_{key}_sent_setting"


def chosen(key: str, limits: Limits) -> Setting | None:
    """The setting the component last reported (checked against the ranges), or None."""
    v = st.session_state.get(key)
    if not isinstance(v, dict):
        return None
    t, k, p = v.get("temperature"), v.get("top_k"), v.get("top_p")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (t, k, p)):
        return None
    if not (math.isfinite(t) and 0 <= t <= limits.temperature_max and float(k).is_integer()
            and 0 <= k <= limits.top_k_max and math.isfinite(p) and 0 <= p <= 1):
        return None
    return Setting(float(t), int(k), float(p))


def on_server(key: str) -> bool:
    """True when the page should draw the sliders and figures on the server (the toggle :func:`fallback_toggle`
    draws)."""
    return bool(st.session_state.get(key, False))


def fallback_toggle(key: str) -> None:
    st.toggle(_("Redraw on the server"), key=key,
              help=_("The sliders above redraw the figures in your browser. If they do not respond (a browser that "
                     "blocks the component), switch this on: the server then draws everything, one round trip per "
                     "move."))


def sliders(logits: np.ndarray, labels: list[str], setting: Setting, *, key: str, title: str,
            limits: Limits, on_change: Callable[[], None] | None = None, mode: str = "full",
            chart_name: str = "next-token") -> None:
    """Show the component. ``logits`` [V] (float32); ``labels``: the shown text of the :data:`N_BARS` most likely ids
    (unescaped: ``visible()`` pieces, byte pieces as ``<F0>``); ``setting``: the page's current values (sent to the
    browser only when it differs from what the component reported, see the module docstring); ``mode``: "full"
    (/next-token: everything) or "compact" (/generate: sliders, counts and the bars)."""
    from components import present
    from components.cache import shared
    from components.plots import chart_config
    from models.sampling import torch_softmax_layout

    component = _component()
    data, data_id = logits_bytes(logits)
    ids = top_ids(logits, len(labels))
    sent = _sent_key(key)
    if chosen(key, limits) != setting or sent not in st.session_state:  # changed from outside the component
        st.session_state[sent] = setting.as_list()
    model_id = st.session_state.get("active_model", "model")
    component(
        data=data, data_id=data_id, layout=torch_softmax_layout(), ids=[int(i) for i in ids], labels=list(labels),
        n_math=min(N_MATH, len(labels)), selection=st.session_state[sent], limits=limits.as_dict(), mode=mode,
        title=title, colors=colors(),
        figures=shared(("nt-templates", data_id, present.active()), lambda: templates(logits)) if mode == "full" else {},
        strings=strings(int(np.asarray(logits).size)),
        config=chart_config(f"{chart_name}-{model_id}", svg=bool(st.session_state.get("svg"))),
        present=present.active(), sep=sentence_separator(), report_ms=REPORT_MS,
        key=key, default=None, on_change=on_change,
    )
