"""Pure plotly builders for the KV-cache lesson (the Generate page): numpy in, go.Figure out (no streamlit).

Token labels come from the text: every label is escaped for Plotly (components.plots.plotly_text).
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from components.plots import FONT, plotly_text
from i18n import _

NEW = "#dc2626"  # the row computed at this step
CACHED = "#1d4ed8"
OTHER = "#94a3b8"


def _rows(labels: list[str]) -> list[str]:
    return [f"{i + 1} {plotly_text(s)}" for i, s in enumerate(labels)]  # unique: plotly merges equal categories


def kv_rows_figure(keys: np.ndarray, values: np.ndarray, labels: list[str], step: int, title: str) -> go.Figure:
    """Keys and values of one key/value head ([T, D] each), one row per token. Rows after ``step`` are empty (not
    computed yet); row ``step`` (1-based) is outlined: the one computed now; the rows above it come from the cache."""
    keys = np.asarray(keys, dtype=np.float32)
    values = np.asarray(values, dtype=np.float32)
    T, D = keys.shape
    rows = _rows(labels)
    shown_k, shown_v = keys.copy(), values.copy()
    shown_k[step:] = np.nan
    shown_v[step:] = np.nan
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=(_("keys"), _("values")))
    dim, val = _("dimension"), _("value")
    for col, z, name in ((1, shown_k, _("keys")), (2, shown_v, _("values"))):
        bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        fig.add_trace(go.Heatmap(z=z, x=np.arange(1, D + 1), y=rows, colorscale="RdBu", zmid=0, zmin=-bound,
                                 zmax=bound, showscale=False, name=name,
                                 hovertemplate=f"%{{y}}<br>{dim} %{{x}}<br>{val} %{{z:.4f}}<extra>{name}</extra>"),
                      row=1, col=col)
        for xref, yref in (("x", "y"), ("x2", "y2"))[col - 1:col]:
            fig.add_shape(type="rect", xref=xref, yref=yref, x0=0.5, x1=D + 0.5, y0=step - 1.5, y1=step - 0.5,
                          line=dict(color=NEW, width=3))
            if step > 1:
                fig.add_shape(type="rect", xref=xref, yref=yref, x0=0.5, x1=D + 0.5, y0=-0.5, y1=step - 1.5,
                              line=dict(color=CACHED, width=2, dash="dot"))
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=rows)
    fig.update_xaxes(title_text=dim)
    fig.update_layout(title=dict(text=plotly_text(title)), font=FONT, height=max(320, 120 + 18 * T),
                      margin=dict(l=10, r=10, t=80, b=40))
    return fig


def cache_size_figure(tokens: np.ndarray, with_gqa: np.ndarray, without_gqa: np.ndarray | None, step: int,
                      measured_at: np.ndarray, measured: np.ndarray, title: str) -> go.Figure:
    """Cache bytes against the number of tokens: the formula with this model's key/value heads, the same with one
    key/value head per query head (``without_gqa``, None for a model without GQA), and the real tensors' bytes."""
    tokens = np.asarray(tokens)
    kb = "kB"
    hover = _("{n} tokens").format(n="%{x}") + f"<br>%{{y:,.1f}} {kb}<extra></extra>"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=tokens, y=np.asarray(with_gqa) / 1e3, mode="lines", line=dict(color=CACHED, width=3),
                             name=_("this model (formula)"),
                             hovertemplate=hover))
    if without_gqa is not None:
        fig.add_trace(go.Scatter(x=tokens, y=np.asarray(without_gqa) / 1e3, mode="lines",
                                 line=dict(color=OTHER, width=2, dash="dash"),
                                 name=_("one key/value head per query head"),
                                 hovertemplate=hover))
    if len(measured_at):
        fig.add_trace(go.Scatter(x=np.asarray(measured_at), y=np.asarray(measured) / 1e3, mode="markers",
                                 marker=dict(color="#059669", size=8, symbol="circle-open", line=dict(width=2)),
                                 name=_("real cache tensors"),
                                 hovertemplate=hover))
    if 1 <= step <= len(tokens):
        fig.add_trace(go.Scatter(x=[step], y=[float(np.asarray(with_gqa)[step - 1]) / 1e3], mode="markers",
                                 marker=dict(color=NEW, size=12), name=_("step {n}").format(n=step),
                                 hoverinfo="skip"))
    fig.update_layout(title=dict(text=plotly_text(title)), font=FONT, height=360, margin=dict(l=10, r=10, t=60, b=40),
                      xaxis=dict(title=dict(text=_("tokens in the cache"))),
                      yaxis=dict(title=dict(text=kb), rangemode="tozero"), legend=dict(orientation="h", y=-0.25))
    return fig


def step_time_figure(steps: np.ndarray, cached_ms: np.ndarray, recompute_ms: np.ndarray, title: str) -> go.Figure:
    """Milliseconds per generation step: one token with the cache, and the whole prefix run again without it
    (NaN where that was not timed)."""
    steps = np.asarray(steps)
    recompute_ms = np.asarray(recompute_ms, dtype=np.float64)
    timed = ~np.isnan(recompute_ms)
    ms = _("ms")
    hover = _("step {n}").format(n="%{x}") + f"<br>%{{y:.1f}} {ms}<extra></extra>"
    fig = go.Figure([
        go.Scatter(x=steps, y=cached_ms, mode="lines+markers", line=dict(color=CACHED, width=2), marker=dict(size=5),
                   name=_("with the cache: one new token"), hovertemplate=hover),
        go.Scatter(x=steps[timed], y=recompute_ms[timed], mode="lines+markers", line=dict(color=NEW, width=2),
                   marker=dict(size=6), name=_("without: the whole prefix again"), hovertemplate=hover),
    ])
    fig.update_layout(title=dict(text=plotly_text(title)), font=FONT, height=340, margin=dict(l=10, r=10, t=60, b=40),
                      xaxis=dict(title=dict(text=_("step (tokens so far)"))),
                      yaxis=dict(title=dict(text=ms), rangemode="tozero"), legend=dict(orientation="h", y=-0.25))
    return fig
