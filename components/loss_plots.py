"""Pure plotly builder for the training-signal section of /next-token: numpy in, go.Figure out (no streamlit).

Token labels come from the vocabulary and the user's text (they may contain "<", "&" ...): every label is
escaped for Plotly (components.plots.plotly_text).
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from components.plots import FONT, plotly_text
from i18n import _

# Cividis was designed to read the same with the common colour-vision deficiencies and in grey scale; reversed,
# the most surprising tokens (the tallest bars) get the darkest colour, which stays readable on white.
LOSS_SCALE = "Cividis"


def loss_bars(labels: list[str], losses: np.ndarray, probs: np.ndarray, ranks: np.ndarray, expected: list[str],
              expected_probs: np.ndarray, vocab_size: int, title: str) -> go.Figure:
    """One bar per predicted token: its loss −log p (height and colour). ``labels[j]`` names the token that
    actually came ("3 ␣party", unique), ``expected[j]`` the model's own top guess at that position; the hover
    shows p, −log p, the rank among all ``vocab_size`` tokens and the guess. A dashed line marks the mean."""
    losses = np.asarray(losses, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    ranks = np.asarray(ranks, dtype=np.int64)
    expected_probs = np.asarray(expected_probs, dtype=np.float64)
    xs = [plotly_text(s) for s in labels]
    custom = np.empty((len(xs), 4), dtype=object)
    custom[:, 0] = probs
    custom[:, 1] = ranks
    custom[:, 2] = [plotly_text(s) for s in expected]
    custom[:, 3] = expected_probs
    hover = "<br>".join([  # plotly fills the %{...} fields in the browser from each bar's own data
        "%{x}",
        "p = %{customdata[0]:.3g}",
        _("loss −log p = {loss}").format(loss="%{y:.3f}"),
        _("rank {rank} of {V:,}").format(rank="%{customdata[1]:,}", V=vocab_size),
        _("the model's top guess: {token} (p = {p})").format(token="%{customdata[2]}", p="%{customdata[3]:.3g}"),
    ]) + "<extra></extra>"
    mean = float(losses.mean()) if len(losses) else 0.0
    top = float(max(losses.max(initial=0.0), 1e-9))
    fig = go.Figure(go.Bar(
        x=xs, y=losses, customdata=custom, hovertemplate=hover,
        marker=dict(color=losses, colorscale=LOSS_SCALE, reversescale=True, cmin=0, cmax=top,
                    line=dict(color="#374151", width=0.5),
                    colorbar=dict(thickness=14, title=dict(text="−log p"))),
    ))
    fig.update_layout(
        title=dict(text=plotly_text(title)), font=FONT, height=400, bargap=0.15, showlegend=False,
        margin=dict(l=10, r=10, t=60, b=10),
        xaxis=dict(type="category", title=dict(text=_("the token that actually comes next")), automargin=True),
        yaxis=dict(range=[0, top * 1.1], title=dict(text=_("loss −log p (nats)")), rangemode="tozero"),
        shapes=[dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=mean, y1=mean,
                     line=dict(color="#111827", dash="dash", width=1.5))],
        annotations=[dict(xref="paper", yref="y", x=1, y=mean, xanchor="right", yanchor="bottom", showarrow=False,
                          text=_("mean {loss:.3f}").format(loss=mean), font=dict(size=13))],
    )
    return fig
