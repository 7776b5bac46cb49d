"""Pure plotly builder for "Sample 100 times" (the Next token page): numpy in, go.Figure out (no streamlit).

Token labels come from the vocabulary: every label is escaped for Plotly (components.plots.plotly_text).
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from components.plots import FONT, plotly_text
from i18n import _

DRAWN = "#f97316"
EXPECTED = "#1d4ed8"


def samples_figure(labels: list[str], ids: np.ndarray, counts: np.ndarray, n: int, probs: np.ndarray,
                   spread: np.ndarray, title: str) -> go.Figure:
    """One row per token: the share of the n samples that began with it, next to the probability it had in the
    distribution they were drawn from (whiskers: ± two standard deviations of a share of n draws)."""
    counts = np.asarray(counts, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    rows = [f"{plotly_text(s)}  (id {int(t)})" for s, t in zip(labels, ids)]
    share = counts / max(n, 1)
    drawn, expected = _("share of the {n} samples").format(n=n), _("probability (after temperature, top-k, top-p)")
    fig = go.Figure([
        go.Bar(x=share, y=rows, orientation="h", name=drawn, marker_color=DRAWN,
               text=[f"{c}" for c in counts], textposition="auto", textangle=0, customdata=counts,
               hovertemplate="%{y}<br>%{customdata} / " + str(n) + " = %{x:.0%}<extra></extra>"),
        go.Bar(x=probs, y=rows, orientation="h", name=expected, marker_color=EXPECTED,
               error_x=dict(type="data", array=np.asarray(spread, dtype=np.float64), color="#1e3a8a", thickness=1.5),
               hovertemplate="%{y}<br>p = %{x:.4f}<extra></extra>"),
    ])
    top = float(max(share.max(initial=0), (probs + np.asarray(spread)).max(initial=0), 1e-9)) * 1.1
    fig.update_layout(title=dict(text=plotly_text(title)), font=FONT, barmode="group", height=max(300, 90 + 42 * len(rows)),
                      xaxis=dict(range=[0, min(1.05, top)], tickformat=".0%"),
                      yaxis=dict(autorange="reversed", type="category"), margin=dict(l=10, r=10, t=60, b=40),
                      legend=dict(orientation="h", y=-0.12))
    return fig
