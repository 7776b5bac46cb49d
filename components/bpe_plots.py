"""Pure plotly builders for training a tokenizer (the Tokens page): numpy in, go.Figure out (no streamlit)."""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from components.plots import FONT, plotly_text
from i18n import _

MERGE = "#1d4ed8"
REAL = "#059669"
MARK = "#dc2626"


def merges_figure(counts: np.ndarray, labels: list[str], n: int, text_tokens: np.ndarray, text_at: np.ndarray,
                  real_tokens: int | None, real_label: str, title: str) -> go.Figure:
    """Left: how often each merged pair occurred (merge 1, 2, ...), the chosen merge ``n`` marked. Right: how
    many tokens the text takes after the first k merges (``text_at`` = k values), the real tokenizer's count as a
    dashed line."""
    counts = np.asarray(counts, dtype=np.int64)
    ranks = np.arange(1, len(counts) + 1)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=(_("How often each merged pair occurred"),
                                        _("Tokens of the sidebar text after the first N merges")))
    merge, seen = _("merge"), _("occurrences")
    fig.add_trace(go.Scatter(x=ranks, y=counts, mode="lines", line=dict(color=MERGE, width=2), name=seen,
                             customdata=[plotly_text(s) for s in labels],
                             hovertemplate=f"{merge} %{{x}}: %{{customdata}}<br>{seen} %{{y:,}}<extra></extra>"),
                  row=1, col=1)
    if 1 <= n <= len(counts):
        fig.add_trace(go.Scatter(x=[n], y=[counts[n - 1]], mode="markers", marker=dict(color=MARK, size=11),
                                 name=_("merge {n}").format(n=n), hoverinfo="skip"), row=1, col=1)
    tokens = _("tokens")
    fig.add_trace(go.Scatter(x=np.asarray(text_at), y=np.asarray(text_tokens), mode="lines+markers",
                             line=dict(color=MERGE, width=2), marker=dict(size=4), name=_("trained here"),
                             hovertemplate=f"N = %{{x}}<br>{tokens} %{{y:,}}<extra></extra>"), row=1, col=2)
    if real_tokens is not None and len(text_at):
        fig.add_trace(go.Scatter(x=[0, int(np.max(text_at))], y=[real_tokens, real_tokens], mode="lines",
                                 line=dict(color=REAL, width=2, dash="dash"), name=plotly_text(real_label),
                                 hovertemplate=f"{plotly_text(real_label)}<br>{tokens} %{{y:,}}<extra></extra>"),
                      row=1, col=2)
    if n in set(np.asarray(text_at).tolist()):
        y = int(np.asarray(text_tokens)[list(np.asarray(text_at)).index(n)])
        fig.add_trace(go.Scatter(x=[n], y=[y], mode="markers", marker=dict(color=MARK, size=11), showlegend=False,
                                 hoverinfo="skip"), row=1, col=2)
    fig.update_xaxes(title_text=_("merge number"), row=1, col=1)
    fig.update_yaxes(title_text=seen, type="log", row=1, col=1)
    fig.update_xaxes(title_text=_("merges used (N)"), row=1, col=2)
    fig.update_yaxes(title_text=tokens, rangemode="tozero", row=1, col=2)
    fig.update_layout(title=dict(text=plotly_text(title)), font=FONT, height=380, margin=dict(l=10, r=10, t=80, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def tax_figure(names: list[str], tokens_a: list[int], tokens_b: list[int], label_a: str, label_b: str,
               title: str) -> go.Figure:
    """Grouped bars: tokens of text A and text B in each tokenizer."""
    tokens = _("tokens")
    names = [plotly_text(n) for n in names]
    fig = go.Figure([
        go.Bar(x=names, y=tokens_a, name=plotly_text(label_a), marker_color="#94a3b8", text=tokens_a,
               textposition="auto", hovertemplate=f"%{{x}}<br>{tokens} %{{y}}<extra>{plotly_text(label_a)}</extra>"),
        go.Bar(x=names, y=tokens_b, name=plotly_text(label_b), marker_color=MERGE, text=tokens_b,
               textposition="auto", hovertemplate=f"%{{x}}<br>{tokens} %{{y}}<extra>{plotly_text(label_b)}</extra>"),
    ])
    fig.update_layout(title=dict(text=plotly_text(title)), font=FONT, barmode="group", height=320,
                      yaxis=dict(title=dict(text=tokens), rangemode="tozero"), margin=dict(l=10, r=10, t=60, b=30))
    return fig
