"""Pure plotly figure builders: numpy in, go.Figure out. No streamlit here, so every builder is unit-tested."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from i18n import _

FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=14)


# Plotly draws every title, tick, hover and text label from its own small HTML subset: it understands a few tags
# (<br>, <b>, <sup>...) and turns back only &amp; &lt; &gt;, a handful of named entities (&mu; &times; ...) and
# numeric ones (&#39;). plotly_text()'s &quot; / &#x27; for quotes are shown as those characters ("&quot;"), so the
# rule for any text that is not ours (tokens, the user's words, model names) is: escape & < > and nothing else, and
# write the characters Plotly itself reads as syntax (% of %{x} in hover templates, $ of LaTeX) as numeric entities,
# which Plotly turns back into the same characters. Every label of every figure goes through this one function.
_PLOTLY_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;", "$": "&#36;"})


def plotly_text(s: str) -> str:
    """Text for a Plotly label, title, tick or hover so that Plotly shows exactly its characters, once."""
    return str(s).translate(_PLOTLY_ENTITIES)


def plotly_lines(s: str, width: int) -> str:
    """:func:`plotly_text` broken into lines of at most ``width`` characters at spaces (a word longer than that
    keeps its line): Plotly never wraps a title or an annotation itself, so a long one runs into its neighbour."""
    lines: list[str] = []
    for word in str(s).split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(plotly_text(line) for line in lines)


def one_hot_vs_dense(token_id: int, vocab_size: int, embedding: np.ndarray, label: str) -> go.Figure:
    """Two rows: the one-hot vector (vocab_size long, a single 1) and the dense embedding row (d_model)."""
    embedding = np.asarray(embedding, dtype=np.float32)
    d = embedding.shape[0]
    position, value, dimension = _("position"), _("value"), _("dimension")
    fig = make_subplots(
        rows=2, cols=1, vertical_spacing=0.22,
        subplot_titles=(
            _("One-hot: {n:,} numbers, a single 1 at position {id:,}").format(n=vocab_size, id=token_id),
            _("Embedding row {id:,}: {d} learned numbers").format(id=token_id, d=d),
        ),
    )
    # One-hot: drawing 50k zeros tells nothing; draw the axis and the single spike at its true position.
    fig.add_trace(go.Scatter(
        x=[0, token_id, token_id, token_id, vocab_size - 1], y=[0, 0, 1, 0, 0], mode="lines",
        line=dict(color="#1d4ed8", width=2), name="one-hot",
        hovertemplate=f"{position} %{{x:,}}<br>{value} %{{y}}<extra></extra>",
    ), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=[token_id], y=[1], mode="markers+text", marker=dict(size=9, color="#1d4ed8"),
        text=[f"{plotly_text(label)} (id {token_id:,})"], textposition="top right" if token_id < vocab_size / 2 else "top left", hoverinfo="skip", showlegend=False,
    ), row=1, col=1)
    fig.add_trace(go.Bar(
        x=np.arange(d), y=embedding, marker_color=np.where(embedding >= 0, "#059669", "#dc2626"),
        name="embedding", hovertemplate=f"{dimension} %{{x}}<br>{value} %{{y:.5f}}<extra></extra>",
    ), row=2, col=1)
    fig.update_xaxes(range=[-vocab_size * 0.01, vocab_size * 1.01], title_text=_("vocabulary position"), row=1, col=1)
    fig.update_yaxes(range=[-0.1, 1.35], tickvals=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text=dimension, row=2, col=1)
    fig.update_yaxes(title_text=value, row=2, col=1)
    fig.update_layout(height=460, showlegend=False, margin=dict(l=50, r=20, t=50, b=40), font=FONT,
                      bargap=0.05)
    return fig


# Download as PNG/SVG at projector resolution from the modebar (pass as st.plotly_chart(config=...)).
def chart_config(name: str, svg: bool = False) -> dict:
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "svg" if svg else "png", "filename": name, "scale": 2,
                                 "width": 1600, "height": 900},
    }


def heatmap(z: np.ndarray, x: list[str], y: list[str], title: str, *, zmin: float | None = None,
            zmax: float | None = None, colorscale: str = "RdBu", reversescale: bool = True,
            show_values: bool = False, value_format: str = ".2f", hover_name: str | None = None,
            height: int | None = None) -> go.Figure:
    """A labelled heatmap; labels are escaped (they come from user text); exact values on hover (named
    ``hover_name``, default "value" in the session's language)."""
    z = np.asarray(z)
    # the model's float32 values are sent as they are (exact, half the bytes of float64); the rest as float64
    z = z if z.dtype == np.float32 else z.astype(np.float64)
    hover_name = _("value") if hover_name is None else hover_name
    xs = [plotly_text(s) for s in x]
    ys = [plotly_text(s) for s in y]
    # plotly merges duplicate category labels; keep them apart with invisible zero-width suffixes
    xs = [s + "\u200b" * xs[:i].count(s) for i, s in enumerate(xs)]
    ys = [s + "\u200b" * ys[:i].count(s) for i, s in enumerate(ys)]
    fig = go.Figure(go.Heatmap(
        z=z, x=xs, y=ys, zmin=zmin, zmax=zmax, colorscale=colorscale, reversescale=reversescale,
        text=np.vectorize(lambda v: format(v, value_format))(z) if show_values else None,
        texttemplate="%{text}" if show_values else None,
        hovertemplate=f"%{{y}} · %{{x}}<br>{hover_name} %{{z:.5f}}<extra></extra>",
        colorbar=dict(thickness=14),
    ))
    fig.update_layout(title=plotly_text(title), font=FONT,
                      height=height or max(320, 60 + 28 * len(y)), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="bottom", nticks=min(len(x), 24))
    fig.update_yaxes(nticks=min(len(y), 40))
    return fig


def lines(x, series: dict[str, np.ndarray], title: str, x_title: str, y_title: str,
          y_range: tuple[float, float] | None = None, markers: bool = True, height: int = 380) -> go.Figure:
    """Several named lines over the same x (e.g. a value per layer). Names are escaped."""
    fig = go.Figure()
    for name, y in series.items():
        fig.add_trace(go.Scatter(
            x=list(x), y=np.asarray(y, dtype=np.float64), name=plotly_text(name),
            mode="lines+markers" if markers else "lines",
            hovertemplate=f"{plotly_text(name)}<br>{x_title} %{{x}}<br>{y_title} %{{y:.5f}}<extra></extra>",
        ))
    fig.update_layout(title=plotly_text(title), font=FONT, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_title=x_title, yaxis_title=y_title,
                      legend=dict(orientation="h", y=-0.25))
    if y_range:
        fig.update_yaxes(range=list(y_range))
    return fig


def ranked_bars(labels: list[str], values: np.ndarray, title: str, value_name: str | None = None,
                highlight: set[int] | None = None) -> go.Figure:
    """Horizontal bars, best first (nearest neighbours, analogy results). Labels are escaped. ``value_name``
    (axis and hover) defaults to "cosine" in the session's language."""
    values = np.asarray(values, dtype=np.float64)
    value_name = _("cosine") if value_name is None else value_name
    colours = ["#dc2626" if highlight and i in highlight else "#1d4ed8" for i in range(len(labels))]
    fig = go.Figure(go.Bar(
        x=values, y=[f"{i + 1}. {plotly_text(s)}" for i, s in enumerate(labels)], orientation="h",
        text=[f"{v:.3f}" for v in values], textposition="auto", marker_color=colours,
        hovertemplate=f"%{{y}}<br>{value_name} %{{x:.5f}}<extra></extra>",
    ))
    fig.update_layout(title=plotly_text(title), font=FONT, height=90 + 30 * len(labels),
                      margin=dict(l=10, r=10, t=50, b=30), xaxis_title=value_name)
    fig.update_yaxes(autorange="reversed")
    return fig


def pca_scatter(coords: np.ndarray, labels: list[str], groups: list[str], explained: np.ndarray,
                title: str) -> go.Figure:
    """2D or 3D scatter of PCA coordinates, one colour per group, axes labelled with explained variance."""
    coords = np.asarray(coords, dtype=np.float64)
    three = coords.shape[1] >= 3
    fig = go.Figure()
    for g in dict.fromkeys(groups):
        idx = [i for i, gg in enumerate(groups) if gg == g]
        common = dict(name=plotly_text(g), text=[plotly_text(labels[i]) for i in idx], mode="markers+text",
                      textposition="top center",
                      hovertemplate="%{text}<br>" + ("(%{x:.3f}, %{y:.3f}, %{z:.3f})" if three else
                                                     "(%{x:.3f}, %{y:.3f})") + "<extra>%{fullData.name}</extra>")
        if three:
            fig.add_trace(go.Scatter3d(x=coords[idx, 0], y=coords[idx, 1], z=coords[idx, 2],
                                       marker=dict(size=5), **common))
        else:
            fig.add_trace(go.Scatter(x=coords[idx, 0], y=coords[idx, 1], marker=dict(size=10), **common))
    axis = [_("PC{i} ({pct:.1f}% of variance)").format(i=i + 1, pct=explained[i] * 100) for i in range(coords.shape[1])]
    if three:
        fig.update_layout(scene=dict(xaxis_title=axis[0], yaxis_title=axis[1], zaxis_title=axis[2]))
    else:
        fig.update_layout(xaxis_title=axis[0], yaxis_title=axis[1])
    fig.update_layout(title=plotly_text(title), font=FONT, height=560,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


PALETTE = ["#1d4ed8", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563"]


def layer_drift(series: dict[str, np.ndarray], static: dict[str, float], title: str,
                x_title: str | None = None, y_title: str | None = None,
                static_name: str | None = None) -> go.Figure:
    """One line per comparison over layers 0..L (value per layer), plus, at x = 0, an open diamond with the
    cosine of the bare input-embedding rows of the same comparison. Names are escaped (user text). Axis and
    marker names default to the session's language."""
    x_title = _("layer (0 = embeddings)") if x_title is None else x_title
    y_title = _("cosine") if y_title is None else y_title
    static_name = _("token rows alone") if static_name is None else static_name
    layer = _("layer")
    fig = go.Figure()
    lows = [1.0]
    for i, (name, y) in enumerate(series.items()):
        y = np.asarray(y, dtype=np.float64)
        colour = PALETTE[i % len(PALETTE)]
        label = plotly_text(name)
        lows.append(float(y.min()))
        fig.add_trace(go.Scatter(
            x=list(range(len(y))), y=y, name=label, mode="lines+markers", line=dict(color=colour, width=2.5),
            marker=dict(size=7, color=colour), legendgroup=str(i),
            hovertemplate=f"{label}<br>{layer} %{{x}}<br>{y_title} %{{y:.5f}}<extra></extra>",
        ))
        if name in static:
            lows.append(float(static[name]))
            fig.add_trace(go.Scatter(
                x=[0], y=[float(static[name])], name=f"{label}: {plotly_text(static_name)}", mode="markers",
                marker=dict(symbol="diamond-open", size=17, color=colour, line=dict(width=2.5)), legendgroup=str(i),
                hovertemplate=f"{label}<br>{plotly_text(static_name)}<br>{y_title} %{{y:.5f}}<extra></extra>",
            ))
    low = min(lows)
    fig.update_layout(title=plotly_text(title), font=FONT, height=420,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_title=x_title, yaxis_title=y_title,
                      legend=dict(orientation="h", y=-0.22))
    n = max((len(v) for v in series.values()), default=1)
    fig.update_xaxes(range=[-0.6, n - 0.4], dtick=1 if n <= 13 else None)
    fig.update_yaxes(range=[min(0.0, low) - 0.03, 1.03])
    return fig
