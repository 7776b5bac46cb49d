"""Pure figure builder of class mode's reveal: the class's guesses next to the model's probabilities of them."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.plots import FONT, plotly_text


def guesses_figure(labels: list[str], class_share: np.ndarray, model_prob: np.ndarray, n_tokens: list[int],
                   title: str, class_name: str, model_name: str, tokens_word: str) -> go.Figure:
    """Grouped bars, one group per distinct guess: the share of the class that wrote it and the model's probability
    of it as a continuation (of all its tokens). A guess of several tokens carries "(k tokens)" in its tick.
    ``labels`` are the students' words: escaped for Plotly here, like every label of every figure."""
    ticks = [plotly_text(g) + ("" if k == 1 else f" ({k} {plotly_text(tokens_word)})")
             for g, k in zip(labels, n_tokens)]
    fig = go.Figure([
        go.Bar(x=ticks, y=np.asarray(class_share, dtype=float), name=plotly_text(class_name),
               hovertemplate="%{x}<br>" + plotly_text(class_name) + " %{y:.1%}<extra></extra>"),
        go.Bar(x=ticks, y=np.asarray(model_prob, dtype=float), name=plotly_text(model_name),
               hovertemplate="%{x}<br>" + plotly_text(model_name) + " %{y:.2%}<extra></extra>"),
    ])
    fig.update_layout(title=dict(text=plotly_text(title)), barmode="group", font=FONT, height=420,
                      yaxis=dict(tickformat=".0%", rangemode="tozero"), legend=dict(orientation="h", y=-0.25),
                      margin=dict(l=50, r=20, t=60, b=80))
    return fig
