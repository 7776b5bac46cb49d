"""Pure plotly figure builders: numpy in, go.Figure out. No streamlit here, so every builder is unit-tested."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=14)


def one_hot_vs_dense(token_id: int, vocab_size: int, embedding: np.ndarray, label: str) -> go.Figure:
    """Two rows: the one-hot vector (vocab_size long, a single 1) and the dense embedding row (d_model)."""
    embedding = np.asarray(embedding, dtype=np.float32)
    d = embedding.shape[0]
    fig = make_subplots(
        rows=2, cols=1, vertical_spacing=0.22,
        subplot_titles=(
            f"One-hot: {vocab_size:,} numbers, a single 1 at position {token_id:,}",
            f"Embedding row {token_id:,}: {d} learned numbers",
        ),
    )
    # One-hot: drawing 50k zeros tells nothing; draw the axis and the single spike at its true position.
    fig.add_trace(go.Scatter(
        x=[0, token_id, token_id, token_id, vocab_size - 1], y=[0, 0, 1, 0, 0], mode="lines",
        line=dict(color="#1d4ed8", width=2), name="one-hot",
        hovertemplate="position %{x:,}<br>value %{y}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[token_id], y=[1], mode="markers+text", marker=dict(size=9, color="#1d4ed8"),
        text=[f"{html.escape(label)} (id {token_id:,})"], textposition="top right" if token_id < vocab_size / 2 else "top left", hoverinfo="skip", showlegend=False,
    ), row=1, col=1)
    fig.add_trace(go.Bar(
        x=np.arange(d), y=embedding, marker_color=np.where(embedding >= 0, "#059669", "#dc2626"),
        name="embedding", hovertemplate="dimension %{x}<br>value %{y:.5f}<extra></extra>",
    ), row=2, col=1)
    fig.update_xaxes(range=[-vocab_size * 0.01, vocab_size * 1.01], title_text="vocabulary position", row=1, col=1)
    fig.update_yaxes(range=[-0.1, 1.35], tickvals=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="dimension", row=2, col=1)
    fig.update_yaxes(title_text="value", row=2, col=1)
    fig.update_layout(height=460, showlegend=False, margin=dict(l=50, r=20, t=50, b=40), font=FONT,
                      bargap=0.05, template="plotly_white")
    return fig
