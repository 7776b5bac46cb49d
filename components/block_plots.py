"""Pure plotly builders for /block (inside a block): numpy in, go.Figure out (no streamlit; unit-tested).

Token labels come from the vocabulary (they may contain "<" or "&"): every label is escaped for Plotly (components.plots.plotly_text). Layers and
heads are labelled with the numbers people see (layers 1..L, heads 1..H; layer 0 is the embeddings).
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from components.plots import FONT, plotly_text
from i18n import _

ATTENTION = "#2563eb"  # what an attention sub-layer wrote
MLP = "#ea580c"  # what an MLP wrote
STREAM = "#111827"  # the residual stream itself
BEFORE = "#94a3b8"  # the ordinary run
AFTER = "#dc2626"  # with components switched off
GRID = dict(gridcolor="#e5e7eb", zeroline=False)


def sublayer_names(n_layers: int) -> list[str]:
    """x labels of the 2L + 1 points of the stream: "0 emb", "1 attn", "1 MLP", "2 attn", ..."""
    names = [_("0 embeddings")]
    for layer in range(1, n_layers + 1):
        names += [_("{layer} attention").format(layer=layer), _("{layer} MLP").format(layer=layer)]
    return names


def stream_chart(stream_norms: np.ndarray, write_norms: np.ndarray, title: str, post_norm: bool) -> go.Figure:
    """The length (L2 norm) of the residual stream after the embeddings and after every sub-layer (a line), and
    the length of what each sub-layer wrote (bars: attention blue, MLP orange). ``post_norm``: the stream points
    are taken after each LayerNorm (BERT), so the line shows the normalised stream."""
    stream_norms = np.asarray(stream_norms, dtype=np.float64)
    write_norms = np.asarray(write_norms, dtype=np.float64)
    n_layers = len(write_norms) // 2
    names = sublayer_names(n_layers)
    stream_name = _("the stream after LayerNorm") if post_norm else _("the residual stream")
    attn_name, mlp_name = _("attention wrote"), _("MLP wrote")
    norm = _("length (L2 norm)")
    fig = go.Figure([
        go.Bar(x=names[1::2], y=write_norms[0::2], name=attn_name, marker_color=ATTENTION, opacity=0.75,
               hovertemplate=f"%{{x}}<br>{attn_name}: {norm} %{{y:.4f}}<extra></extra>"),
        go.Bar(x=names[2::2], y=write_norms[1::2], name=mlp_name, marker_color=MLP, opacity=0.75,
               hovertemplate=f"%{{x}}<br>{mlp_name}: {norm} %{{y:.4f}}<extra></extra>"),
        go.Scatter(x=names, y=stream_norms, name=stream_name, mode="lines+markers",
                   line=dict(color=STREAM, width=2.5), marker=dict(size=6),
                   hovertemplate=f"%{{x}}<br>{stream_name}: {norm} %{{y:.4f}}<extra></extra>"),
    ])
    fig.update_layout(title=plotly_text(title), font=FONT, height=420, bargap=0.15,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.3),
                      yaxis_title=norm, plot_bgcolor="white")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=names, tickangle=-60,
                     nticks=min(len(names), 31))
    fig.update_yaxes(**GRID)
    return fig


def component_columns(n_heads: int, bias: bool) -> list[str]:
    """Columns of the layers × parts grids: heads 1..H, then W^O's bias (if it has one), then the MLP."""
    return [_("head {head}").format(head=h) for h in range(1, n_heads + 1)] + (
        [_("W^O bias")] if bias else []) + [_("MLP")]


def component_grid(heads: np.ndarray, mlps: np.ndarray, title: str, value_name: str,
                   attn_bias: np.ndarray | None = None, marked: set[tuple[int, int]] | None = None,
                   value_format: str = "+.3f", symmetric: bool = True) -> go.Figure:
    """Layers (rows, layer 1 at the top) × {head 1..H, W^O bias, MLP} (columns), one cell per part, the exact
    value on hover. ``symmetric``: a diverging scale centred at 0 (red pushes up, blue down); else a sequential
    one. ``marked``: (row, column) cells to outline (0-based), e.g. the parts switched off."""
    heads = np.asarray(heads, dtype=np.float64)
    L, H = heads.shape
    cols = [heads]
    if attn_bias is not None:
        cols.append(np.asarray(attn_bias, dtype=np.float64)[:, None])
    cols.append(np.asarray(mlps, dtype=np.float64)[:, None])
    z = np.concatenate(cols, axis=1)  # [L, H (+1) + 1]
    x = component_columns(H, attn_bias is not None)
    y = [_("layer {layer}").format(layer=layer) for layer in range(1, L + 1)]
    span = float(np.nanmax(np.abs(z))) if z.size and np.isfinite(z).any() else 1.0
    span = span or 1.0
    scale = dict(colorscale="RdBu", reversescale=True, zmid=0.0, zmin=-span, zmax=span) if symmetric else \
        dict(colorscale="Reds", zmin=min(0.0, float(np.nanmin(z))), zmax=span)
    text = np.vectorize(lambda v: format(v, value_format))(z) if L * len(x) <= 400 else None
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, xgap=1, ygap=1, text=text, texttemplate="%{text}" if text is not None else None,
        textfont=dict(size=10), colorbar=dict(thickness=14, title=dict(text=plotly_text(value_name))),
        hovertemplate=f"%{{y}} · %{{x}}<br>{plotly_text(value_name)} %{{z:.6f}}<extra></extra>", **scale,
    ))
    for r, c in sorted(marked or ()):
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, line=dict(color="#111827", width=3))
    fig.update_layout(title=plotly_text(title), font=FONT, height=max(300, 90 + 24 * L),
                      margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    return fig


def layer_totals(attention: np.ndarray, mlps: np.ndarray, title: str, value_name: str) -> go.Figure:
    """Per layer, the attention sub-layer's total (its heads + W^O's bias) and the MLP's, side by side."""
    attention = np.asarray(attention, dtype=np.float64)
    mlps = np.asarray(mlps, dtype=np.float64)
    x = [str(layer) for layer in range(1, len(mlps) + 1)]
    attn_name, mlp_name = _("attention"), _("MLP")
    layer = _("layer")
    fig = go.Figure([
        go.Bar(x=x, y=attention, name=attn_name, marker_color=ATTENTION,
               hovertemplate=f"{layer} %{{x}} · {attn_name}<br>{plotly_text(value_name)} %{{y:+.5f}}<extra></extra>"),
        go.Bar(x=x, y=mlps, name=mlp_name, marker_color=MLP,
               hovertemplate=f"{layer} %{{x}} · {mlp_name}<br>{plotly_text(value_name)} %{{y:+.5f}}<extra></extra>"),
    ])
    fig.update_layout(title=plotly_text(title), font=FONT, height=340, barmode="group", plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_title=layer, yaxis_title=plotly_text(value_name),
                      legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(type="category")
    fig.update_yaxes(zeroline=True, zerolinecolor="#6b7280", gridcolor="#e5e7eb")
    return fig


def before_after_bars(labels: list[str], before: np.ndarray, after: np.ndarray, title: str,
                      highlight: int | None = None) -> go.Figure:
    """Next-token probabilities of the same tokens in the ordinary run and with parts switched off (grouped
    horizontal bars, the first label at the top). ``highlight``: the target's row, marked with ◀."""
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    rows = [f"{i + 1}. {plotly_text(s)}" + (" ◀" if i == highlight else "") for i, s in enumerate(labels)]
    prob = _("probability")
    normal, switched = _("ordinary run"), _("with the parts switched off")
    fig = go.Figure([
        go.Bar(x=before, y=rows, orientation="h", name=normal, marker_color=BEFORE,
               text=[f"{v:.1%}" for v in before], textposition="auto",
               hovertemplate=f"%{{y}}<br>{prob} %{{x:.6f}}<extra>{normal}</extra>"),
        go.Bar(x=after, y=rows, orientation="h", name=switched, marker_color=AFTER,
               text=[f"{v:.1%}" for v in after], textposition="auto",
               hovertemplate=f"%{{y}}<br>{prob} %{{x:.6f}}<extra>{switched}</extra>"),
    ])
    top = float(max(before.max(initial=0), after.max(initial=0), 1e-9)) * 1.1
    fig.update_layout(title=plotly_text(title), font=FONT, barmode="group", height=120 + 44 * len(labels),
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.08),
                      plot_bgcolor="white")
    fig.update_xaxes(range=[0, top], tickformat=".0%", title=prob, **GRID)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def position_cosines(labels: list[str], cosines: np.ndarray, title: str, chosen: int | None = None) -> go.Figure:
    """Encoders: for every position, the cosine between its final vector in the ordinary run and with the parts
    switched off (1 = unchanged direction). ``chosen``: the page's position, in red."""
    cosines = np.asarray(cosines, dtype=np.float64)
    rows = [plotly_text(s) for s in labels]
    rows = [s + "\u200b" * rows[:i].count(s) for i, s in enumerate(rows)]  # keep equal labels apart
    name = _("cosine")
    colours = [AFTER if i == chosen else BEFORE for i in range(len(rows))]
    fig = go.Figure(go.Bar(x=rows, y=cosines, marker_color=colours, text=[f"{v:.3f}" for v in cosines],
                           textposition="auto", hovertemplate=f"%{{x}}<br>{name} %{{y:.6f}}<extra></extra>"))
    low = float(min(cosines.min(initial=1.0), 0.9))
    fig.update_layout(title=plotly_text(title), font=FONT, height=360, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis_title=name, plot_bgcolor="white")
    fig.update_yaxes(range=[min(low - 0.02, 1.0), 1.005], **GRID)
    fig.update_xaxes(type="category", tickangle=-45)
    return fig
