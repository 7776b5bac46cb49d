"""Pure plotly builders for the attention page: numpy in, go.Figure out (no streamlit, unit-tested).

Colour scales are viridis (readable by colour-blind viewers and on a projector). Masked cells of a causal
model are drawn in a separate grey layer with their own hover text, so "not allowed to look" never looks like
"looked with weight 0".
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from components.plots import FONT, plotly_text
from i18n import _
from models.numbering import number

MASKED_GREY = "#c7ccd4"
SCALES = ("sqrt", "linear")


def colorscale(kind: str = "sqrt") -> list[list]:
    """Viridis; ``sqrt`` spends more colours on small weights (the colour bar still reads real weights)."""
    ts = np.linspace(0.0, 1.0, 21)
    shades = ts if kind == "linear" else np.sqrt(ts)
    return [[float(t), c] for t, c in zip(ts, sample_colorscale("Viridis", list(map(float, shades))))]


def attention_heatmap(weights: np.ndarray, q_labels: list[str], k_labels: list[str], title: str, *,
                      masked: np.ndarray | None = None, scale: str = "sqrt", hover_name: str | None = None,
                      zmax: float = 1.0, height: int | None = None) -> go.Figure:
    """Query tokens on rows, key tokens on columns. ``weights`` [Tq, Tk]; ``masked`` [Tq, Tk] bool (True = the
    query may not look at that key: drawn grey with its own hover). Labels are escaped (user text) and should be
    unique (prefix the position). ``hover_name``: the value's name on hover and on the colour bar ("weight")."""
    hover_name = hover_name or _("weight")
    w = np.asarray(weights, dtype=np.float32)
    ys = [plotly_text(s) for s in q_labels]
    xs = [plotly_text(s) for s in k_labels]
    z = w if masked is None else np.where(masked, np.float32(np.nan), w)
    fig = go.Figure(go.Heatmap(
        z=z, x=xs, y=ys, zmin=0.0, zmax=zmax, colorscale=colorscale(scale), hoverongaps=False,
        hovertemplate=_("query") + " %{y}<br>" + _("key") + " %{x}<br>" + hover_name + " %{z:.6f}<extra></extra>",
        colorbar=dict(thickness=14, title=dict(text=hover_name, side="right")), name="attention",
    ))
    if masked is not None and masked.any():
        fig.add_trace(go.Heatmap(
            z=np.where(masked, 1, np.nan).astype(np.float32), x=xs, y=ys, showscale=False, hoverongaps=False,
            colorscale=[[0, MASKED_GREY], [1, MASKED_GREY]], name="masked",
            hovertemplate=_("query") + " %{y}<br>" + _("key") + " %{x}<br>"
            + _("masked: a later token, this query cannot see it") + "<extra></extra>",
        ))
    n = max(len(ys), len(xs))
    fig.update_layout(title=plotly_text(title), font=FONT, plot_bgcolor="white",
                      height=height or int(min(900, max(380, 120 + 26 * n))), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(autorange="reversed", type="category", title_text=_("query (the token that is reading)"),
                     nticks=min(len(ys), 48))
    fig.update_xaxes(type="category", title_text=_("key (the token being read)"), nticks=min(len(xs), 48),
                     tickangle=-60 if n > 8 else 0)
    return fig


def pool_square(attn: np.ndarray, size: int) -> np.ndarray:
    """Shrink [..., T, T] attention to at most [..., size, size] for thumbnails: blocks of query rows are
    averaged and blocks of key columns are summed, so each row still sums to 1."""
    a = np.asarray(attn, dtype=np.float32)
    T = a.shape[-1]
    if T <= size:
        return a
    edges = np.linspace(0, T, size + 1).round().astype(int)
    cols = np.add.reduceat(a, edges[:-1], axis=-1)  # sum over key blocks
    rows = np.add.reduceat(cols, edges[:-1], axis=-2) / np.diff(edges)[:, None]  # mean over query blocks
    return rows


def pooled_future(T: int, size: int) -> np.ndarray:
    """[s, s] bool: blocks of :func:`pool_square` that lie wholly in a causal model's future (drawn blank)."""
    s = min(T, size)
    edges = np.linspace(0, T, s + 1).round().astype(int)
    last_query, first_key = edges[1:] - 1, edges[:-1]
    return last_query[:, None] < first_key[None, :]


def head_grid(thumbs: np.ndarray, cells: np.ndarray, title: str, *, row_labels: list[str], col_labels: list[str],
              row_title: str | None = None, col_title: str | None = None, selected: tuple[int, int] | None = None,
              scale: str = "sqrt", height: int | None = None,
              cell_labels: list[list[str]] | None = None) -> go.Figure:
    """Thumbnails [R, C, s, s] of attention patterns laid out as ONE image (one heatmap: cheap to send and to
    draw), with a clickable marker on each thumbnail (plotly heatmaps are not selectable in Streamlit; scatter
    markers are). ``cells`` [R, C, 2] holds the 0-based (block, head) indices of each thumbnail (-1 = empty slot);
    the marker's customdata is (block index, head index, layer number, head number): a click reads the indices,
    the hover shows the numbers (models/numbering.py). ``selected``: (block index, head index). Axis titles:
    ``row_title`` (default "layer"), ``col_title`` (default "head", "" for none); tick labels are the caller's.
    ``cell_labels`` [R][C]: a caption over each thumbnail ("head 4 (shares K/V 2)"), so no arithmetic on row and
    column labels is needed to tell which head a thumbnail is."""
    row_title = _("layer") if row_title is None else row_title
    col_title = _("head") if col_title is None else col_title
    R, C, s = thumbs.shape[:3]
    gap = max(1, s // 6) if cell_labels is None else max(2, s // 3)  # room for the captions between the rows
    cell = s + gap
    image = np.full((R * cell - gap, C * cell - gap), np.nan, dtype=np.float32)
    xs, ys, custom = [], [], []
    centre = (s - 1) / 2
    for r in range(R):
        for c in range(C):
            if cells[r, c, 0] < 0:
                continue
            image[r * cell:r * cell + s, c * cell:c * cell + s] = thumbs[r, c]
            xs.append(c * cell + centre)
            ys.append(r * cell + centre)
            lyr, hd = int(cells[r, c, 0]), int(cells[r, c, 1])
            custom.append([lyr, hd, number(lyr), number(hd)])
    fig = go.Figure(go.Heatmap(z=image, zmin=0, zmax=1, colorscale=colorscale(scale), hoverinfo="skip",
                               showscale=False, name="patterns"))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers", customdata=custom, name="open",
        marker=dict(symbol="square", size=max(8, min(60, 600 // max(R, C))), color="rgba(0,0,0,0.01)"),
        hovertemplate=_("layer") + " %{customdata[2]} · " + _("head") + " %{customdata[3]}<br>" + _("click to open")
        + "<extra></extra>",
    ))
    if selected is not None:
        hit = np.argwhere((cells[..., 0] == selected[0]) & (cells[..., 1] == selected[1]))
        if len(hit):
            r, c = hit[0]
            fig.add_shape(type="rect", x0=c * cell - 0.5 - gap / 2, x1=c * cell + s - 0.5 + gap / 2,
                          y0=r * cell - 0.5 - gap / 2, y1=r * cell + s - 0.5 + gap / 2,
                          line=dict(color="#dc2626", width=3))
    fig.update_xaxes(tickvals=[c * cell + centre for c in range(C)], ticktext=[plotly_text(t) for t in col_labels],
                     title_text=col_title, showgrid=False, zeroline=False, side="top")
    fig.update_yaxes(tickvals=[r * cell + centre for r in range(R)], ticktext=[plotly_text(t) for t in row_labels],
                     title_text=row_title, autorange="reversed", showgrid=False, zeroline=False,
                     scaleanchor="x")
    if cell_labels is not None:
        tx, ty, tt = [], [], []
        for r in range(R):
            for c in range(C):
                if cells[r, c, 0] >= 0 and cell_labels[r][c]:
                    tx.append(c * cell + centre)
                    ty.append(r * cell - 0.5)
                    tt.append(plotly_text(cell_labels[r][c]))
        fig.add_trace(go.Scatter(x=tx, y=ty, mode="text", text=tt, textposition="top center", hoverinfo="skip",
                                 textfont=dict(size=12), name="captions", cliponaxis=False))
        fig.update_yaxes(autorange=None, range=[R * cell - gap - 0.5, -0.5 - gap])  # reversed, the top gap shown
    fig.update_layout(title=plotly_text(title), font=FONT, plot_bgcolor="white",
                      height=height or int(min(2400, max(260, 130 + R * 900 / max(C, 1)))),
                      margin=dict(l=10, r=10, t=100, b=10), showlegend=False,
                      )
    return fig


def stat_grid(values: np.ndarray, title: str, label: str, *, fmt: str = ".3f", zmin: float | None = None,
              zmax: float | None = None, selected: tuple[int, int] | None = None) -> go.Figure:
    """One statistic per (block, head) [L, H]: coloured squares, the value on hover, click one to open it
    (scatter markers, selectable in Streamlit; customdata = the 0-based (block, head) indices). The axes and the
    hover show the numbers people see: layers 1..L, heads 1..H (models/numbering.py). ``selected``: indices."""
    v = np.asarray(values, dtype=np.float64)
    L, H = v.shape
    layers, heads = np.meshgrid(np.arange(L), np.arange(H), indexing="ij")  # 0-based indices
    first = number(0)  # x and y are drawn at the numbers
    height = int(min(1300, 140 + 24 * L))
    size = max(6, min((height - 110) / L, 900 / max(H, 1)) - 3)  # squares that nearly touch, rows and columns
    fig = go.Figure(go.Scatter(
        x=first + heads.ravel(), y=first + layers.ravel(), mode="markers",
        customdata=np.stack([layers.ravel(), heads.ravel()], 1).tolist(),
        marker=dict(symbol="square", size=size, color=v.ravel(),
                    colorscale="Viridis", cmin=zmin, cmax=zmax, showscale=True,
                    colorbar=dict(thickness=14, title=dict(text=plotly_text(label), side="right")),
                    line=dict(width=0)),
        hovertemplate=_("layer") + " %{y} · " + _("head") + " %{x}<br>" + plotly_text(label)
        + f" %{{marker.color:{fmt}}}<br>" + _("click to open") + "<extra></extra>", name="heads",
    ))
    if selected is not None:
        fig.add_trace(go.Scatter(x=[number(selected[1])], y=[number(selected[0])], mode="markers", hoverinfo="skip",
                                 marker=dict(symbol="square-open", size=size + 4,
                                             color="#dc2626", line=dict(width=3)), name="selected"))
    fig.update_xaxes(title_text=_("head"), dtick=1, range=[first - 0.6, first + H - 0.4], side="top", showgrid=False,
                     zeroline=False)
    fig.update_yaxes(title_text=_("layer"), dtick=1 if L <= 32 else None, range=[first + L - 0.4, first - 0.6],
                     showgrid=False, zeroline=False)
    fig.update_layout(title=plotly_text(title), font=FONT, showlegend=False,
                      height=height, margin=dict(l=10, r=10, t=90, b=10),
                      )
    return fig


def vectors(z: np.ndarray, row_labels: list[str], title: str, *, col_title: str | None = None,
            hover_name: str | None = None, height: int | None = None, diverging: bool = True) -> go.Figure:
    """Rows of vectors [N, d] (queries, keys, values, q⊙k) as a heatmap centred on 0 (diverging RdBu).
    ``col_title`` / ``hover_name`` default to "dimension" / "value"."""
    col_title, hover_name = col_title or _("dimension"), hover_name or _("value")
    z = np.asarray(z, dtype=np.float32)
    m = float(np.abs(z).max()) or 1.0
    ys = [plotly_text(s) for s in row_labels]
    fig = go.Figure(go.Heatmap(
        z=z, y=ys, x=list(range(z.shape[1])), colorscale="RdBu" if diverging else "Viridis",
        reversescale=diverging, zmin=-m if diverging else None, zmax=m if diverging else None,
        hovertemplate="%{y}<br>" + col_title + " %{x}<br>" + hover_name + " %{z:.5f}<extra></extra>",
        colorbar=dict(thickness=12),
    ))
    fig.update_layout(title=plotly_text(title), font=FONT,
                      height=height or int(min(700, max(170, 90 + 22 * len(ys)))), margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(type="category", autorange="reversed", nticks=min(len(ys), 40))
    fig.update_xaxes(title_text=col_title)
    return fig


def step_bars(labels: list[str], scores: np.ndarray, weights: np.ndarray, masked: np.ndarray,
              title: str) -> go.Figure:
    """For one query, two panels over the same key tokens, read top to bottom as the computation goes: the scaled
    scores q·k × scale (top) and the softmax weights they become (bottom, 0..1). One y-axis per panel with its own
    round ticks: two scales overlaid on one plot gave an axis with ticks such as 0.257 and 0.637 that matched nothing.
    Masked keys get no score and a grey "masked" bar."""
    xs = [plotly_text(s) for s in labels]
    scores = np.asarray(scores, dtype=np.float64)
    masked = np.asarray(masked, dtype=bool)
    finite = np.where(masked, np.nan, scores)
    key = _("key")
    fig = go.Figure()
    fig.add_trace(go.Bar(x=xs, y=np.where(masked, np.nan, weights), name=_("softmax weight"), marker_color="#1d4ed8",
                         xaxis="x", yaxis="y",
                         hovertemplate=key + " %{x}<br>" + _("weight") + " %{y:.6f}<extra></extra>"))
    if masked.any():
        fig.add_trace(go.Bar(x=xs, y=np.where(masked, 1.0, np.nan), name=_("masked (future)"),
                             marker_color=MASKED_GREY, opacity=0.5, xaxis="x", yaxis="y",
                             hovertemplate=key + " %{x}<br>" + _("masked: not visible to this query") + "<extra></extra>"))
    fig.add_trace(go.Bar(x=xs, y=finite, name=_("score q·k × scale"), marker_color="#d97706", xaxis="x", yaxis="y2",
                         hovertemplate=key + " %{x}<br>" + _("scaled score") + " %{y:.5f}<extra></extra>"))
    lo, hi = (float(np.nanmin(finite)), float(np.nanmax(finite))) if np.isfinite(finite).any() else (0.0, 1.0)
    pad = 0.08 * max(hi - lo, 1e-6)
    score_range = [min(lo, 0.0) - (pad if lo < 0 else 0), max(hi, 0.0) + (pad if hi > 0 else 0)]
    fig.update_layout(
        title=plotly_text(title), font=FONT, barmode="overlay", showlegend=False, height=520,
        margin=dict(l=10, r=10, t=60, b=10),
        # top: the scores (zero line drawn: a score can be negative); bottom: the weights, 0..1 in round steps
        yaxis2=dict(domain=[0.58, 1.0], title=dict(text=_("scaled score")), range=score_range, nticks=6,
                    zeroline=True, zerolinecolor="#9ca3af", anchor="x"),
        yaxis=dict(domain=[0.0, 0.44], title=dict(text=_("softmax weight")), range=[0, 1.02], dtick=0.25,
                   anchor="x"),
        xaxis=dict(type="category", tickangle=-60 if len(xs) > 8 else 0, nticks=min(len(xs), 48), anchor="y"),
        annotations=[dict(text=plotly_text(_("1. score q·k × scale")), xref="paper", yref="paper", x=0, y=1.0,
                          xanchor="left", yanchor="bottom", showarrow=False),
                     dict(text=plotly_text(_("2. softmax → weights (add up to 1)")), xref="paper", yref="paper",
                          x=0, y=0.44, xanchor="left", yanchor="bottom", showarrow=False)],
    )
    return fig
