"""Pure builders for the Generate page: generated tokens as HTML coloured by probability, the alternatives bar
chart, the greedy / sampling / beam comparison. No streamlit here. All text from the user or the model is
HTML-escaped (``<script>`` in a prompt or in the output shows literally)."""
from __future__ import annotations

import html

import plotly.graph_objects as go

from components.plots import FONT, plotly_text
from components.widgets import visible
from i18n import N_, _

# (lower bound, colour, label, colour name), highest first: five steps a class can read off a projector. A blue-orange
# diverging scale (ColorBrewer's colour-blind-safe RdBu/PuOr family, light enough for dark text): unlike green/red it
# stays apart for red-green colour blindness (tests/unit/test_generation.py simulates it). Every caption and legend
# that names the colours takes them from here (scale_words()).
PROB_BINS = [(0.9, "#4f9bd1", "≥ 90%", N_("blue")), (0.6, "#a9cfe8", "60–90%", N_("light blue")),
             (0.3, "#eceef1", "30–60%", N_("pale grey")), (0.1, "#fdc894", "10–30%", N_("light orange")),
             (0.0, "#f38d4a", "< 10%", N_("orange"))]

GEN_CSS = """
<style>
.tx-gen {font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:1.02rem; line-height:1.9;
  white-space:pre-wrap; word-break:break-word; padding:0.5rem 0.6rem; border:1px solid #e5e7eb; border-radius:8px;}
.tx-gen .tx-prompt {color:#4b5563;}
.tx-gen .tx-bos {color:#6b7280; font-style:italic; border:1px dashed #9ca3af; border-radius:4px; padding:0 3px;}
.tx-gen .tx-tok {border-radius:4px; padding:1px 0; color:#111827; box-shadow:inset -1px 0 0 rgba(0,0,0,0.18);}
.tx-gen .tx-tok:empty {display:inline-block; width:0.3em; height:1em; vertical-align:text-bottom;}
.tx-gen .tx-tok.tx-sel {outline:2px solid #1d4ed8; outline-offset:1px;}
.tx-gen .tx-tok.tx-forced {border-bottom:3px double #7c3aed;}
.tx-gen .tx-cursor {display:inline-block; width:0.55em; height:1.05em; vertical-align:text-bottom;
  background:#1d4ed8; animation:tx-blink 1s steps(1) infinite;}
@keyframes tx-blink {50% {opacity:0;}}
.tx-legend {font-size:0.8rem; color:#374151; margin:0.2rem 0 0.6rem 0;}
.tx-legend span.sw {display:inline-block; padding:0 6px; margin-right:4px; border-radius:4px; color:#111827;}
</style>
"""


def prob_colour(p: float) -> str:
    for lo, colour, _label, _name in PROB_BINS:
        if p >= lo:
            return colour
    return PROB_BINS[-1][1]


def scale_words() -> str:
    """The colours' meaning in words, from PROB_BINS ("blue: sure, orange: unsure"), in the session's language."""
    return _("{sure}: sure, {unsure}: unsure").format(sure=_(PROB_BINS[0][3]), unsure=_(PROB_BINS[-1][3]))


def legend_html(what: str) -> str:
    swatches = "".join(f'<span class="sw" style="background:{c}" title="{html.escape(_(name), quote=True)}">'
                       f'{html.escape(label)}</span>' for _lo, c, label, name in PROB_BINS)
    return f'<div class="tx-legend">{html.escape(_("{what}:").format(what=what))} {swatches}</div>'


def tokens_html(prompt: str, pieces: list[str], probs: list[float], *, bos: str | None = None,
                selected: int | None = None, forced: list[bool] | None = None, running: bool = False,
                labels: list[str] | None = None, run_id: int | None = None) -> str:
    """The prompt (grey) followed by one span per generated token, its background the probability it had when
    chosen. ``pieces[i] == ""`` is a token holding only part of a character (an empty coloured gap; the next token
    completes the character)."""
    run = f' data-run="{int(run_id)}"' if run_id is not None else ""
    out = [GEN_CSS, f'<div class="tx-gen" data-testid="tx-generated"{run}>']
    if bos is not None:
        tip = html.escape(_("beginning-of-sequence token"), quote=True)
        out.append(f'<span class="tx-bos" title="{tip}">{html.escape(bos)}</span>')
    out.append(f'<span class="tx-prompt">{html.escape(prompt)}</span>')
    for i, (piece, p) in enumerate(zip(pieces, probs)):
        classes = ["tx-tok"]
        if i == selected:
            classes.append("tx-sel")
        if forced and forced[i]:
            classes.append("tx-forced")
        tip = labels[i] if labels else f"#{i} · p = {p:.4f}"
        out.append(f'<span class="{" ".join(classes)}" data-i="{i}" data-p="{p:.6f}" style="background:'
                   f'{prob_colour(p)}" title="{html.escape(tip, quote=True)}">{html.escape(piece)}</span>')
    if running:
        out.append('<span class="tx-cursor"></span>')
    out.append("</div>")
    return "".join(out)


def alternatives_figure(pieces: list[str], probs: list[float], adjusted: list[float] | None, chosen: int,
                        title: str) -> go.Figure:
    """Horizontal bars of the top alternatives at one step (the model's probabilities; the sampling
    distribution after temperature / top-k / top-p beside them when given); the chosen one in blue."""
    labels = [f"{i + 1}. {plotly_text(visible(p))}" for i, p in enumerate(pieces)]
    colours = ["#1d4ed8" if i == chosen else "#93c5fd" for i in range(len(pieces))]
    fig = go.Figure(go.Bar(
        x=list(probs), y=labels, orientation="h", name=_("model (T = 1)"), marker_color=colours,
        text=[f"{p:.1%}" for p in probs], textposition="auto",
        hovertemplate="%{y}<br>" + _("model probability %{x:.6f}") + "<extra></extra>"))
    if adjusted is not None:
        fig.add_trace(go.Bar(
            x=list(adjusted), y=labels, orientation="h", name=_("sampled from (after T, top-k, top-p)"),
            marker_color="#f59e0b", text=[f"{p:.1%}" for p in adjusted], textposition="auto",
            hovertemplate="%{y}<br>" + _("sampling probability %{x:.6f}") + "<extra></extra>"))
    fig.update_layout(title=plotly_text(title), font=FONT, barmode="group",
                      height=120 + (48 if adjusted is not None else 30) * len(pieces),
                      margin=dict(l=10, r=10, t=50, b=30), xaxis_title=_("probability"), xaxis_tickformat=".0%",
                      legend=dict(orientation="h", y=-0.12))
    fig.update_yaxes(autorange="reversed")
    return fig


def compare_figure(names: list[str], logprobs: list[list[float]], title: str) -> go.Figure:
    """Cumulative log-probability, token by token, of each method's continuation (higher = more likely)."""
    fig = go.Figure()
    for name, lps in zip(names, logprobs):
        total, ys = 0.0, []
        for lp in lps:
            total += lp
            ys.append(total)
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines+markers", name=plotly_text(name),
                                 hovertemplate=_("token %{x}<br>sum of log-probabilities %{y:.4f}")
                                 + "<extra></extra>"))
    fig.update_layout(title=plotly_text(title), font=FONT, height=360,
                      margin=dict(l=10, r=10, t=50, b=40), xaxis_title=_("generated tokens"),
                      yaxis_title=_("total log-probability (natural log)"))
    return fig
