"""Pure plotly builder for "heads are concatenated and mixed by W^O": numbers in, go.Figure out (no streamlit).

The picture is a matrix product drawn with the model's own shapes, widths to scale (one unit = one dimension):

    [ head 1 | head 2 | ... | head H ]   ×   W^O                  =   attention output
      T × (H·d_head), one strip per head      (H·d_head) × d_model      T × d_model  -> added to the residual
                                              head h's d_head rows      stream
                                              in head h's colour

T (the number of tokens) is drawn with a fixed height: it changes with the text, the other sizes do not.
"""
from __future__ import annotations


import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from components.plots import FONT, plotly_text
from i18n import _
from models.numbering import number

OUTPUT_BLUE = "#93c5fd"
EDGE = "#334155"


def head_colours(n_heads: int) -> list[str]:
    """One viridis colour per head (readable by colour-blind viewers and on a projector)."""
    return sample_colorscale("Viridis", [(h + 0.5) / n_heads for h in range(n_heads)])


def heads_concat_diagram(*, n_tokens: int, n_heads: int, d_head: int, d_model: int, wo_shape: tuple[int, int],
                         wo_name: str, title: str, kv_groups: list[list[int]] | None = None,
                         bias: bool = False, post_norm: bool = False) -> go.Figure:
    """The heads' outputs side by side, times W^O, equals the attention output (all shapes labelled).

    ``wo_shape`` is (rows, columns) of W^O as the product uses it, read from the loaded module; ``wo_name`` its
    name inside a block (escaped). ``kv_groups`` (grouped-query attention): key/value head -> the query head
    indices (0-based) that share it; brackets under the strips show the groups. ``bias``: W^O adds a bias.
    ``post_norm``: the block normalises after adding (BERT) rather than before attention (pre-norm)."""
    T, H, dh, d = int(n_tokens), int(n_heads), int(d_head), int(d_model)
    rows, cols = (int(x) for x in wo_shape)
    width_concat = H * dh
    size = max(width_concat, rows, cols, d)
    band = 0.22 * size  # the height of a T-row matrix (not to scale: T depends on the text)
    gap = 0.22 * size
    mid = 0.0
    x_wo = width_concat + gap
    x_out = x_wo + cols + gap
    colours = head_colours(H)
    fig = go.Figure()

    def rect(x0, x1, y0, y1, fill, opacity=1.0, line=EDGE):
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, fillcolor=fill, opacity=opacity,
                      line=dict(color=line, width=1), layer="below")

    def label(x, y, text, anchor="middle", size=13, **kw):
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=size), yanchor=anchor, **kw)

    # 1. the concatenation: one strip per head, T tall, d_head wide
    for h in range(H):
        rect(h * dh, (h + 1) * dh, mid - band / 2, mid + band / 2, colours[h])
    rect(0, width_concat, mid - band / 2, mid + band / 2, "rgba(0,0,0,0)")
    label(width_concat / 2, mid + band / 2 + 0.04 * size, _("{heads} heads side by side<br>T × H·d_head = {t} × {hd}")
          .format(heads=H, t=T, hd=width_concat), anchor="bottom")
    if H <= 16:  # the head numbers fit under their strips
        for h in range(H):
            label((h + 0.5) * dh, mid - band / 2 - 0.02 * size, str(number(h)), anchor="top", size=11)
    label(width_concat / 2, mid - band / 2 - 0.1 * size, _("each head: T × d_head = {t} × {dh}").format(t=T, dh=dh),
          anchor="top")
    if kv_groups and len(kv_groups) < H:  # grouped-query attention: which query heads share a key/value head
        y = mid - band / 2 - 0.22 * size
        for j, heads in enumerate(kv_groups):
            x0, x1 = min(heads) * dh + 0.08 * dh, (max(heads) + 1) * dh - 0.08 * dh
            fig.add_shape(type="line", x0=x0, x1=x1, y0=y, y1=y, line=dict(color=EDGE, width=2))
            label((x0 + x1) / 2, y - 0.02 * size, f"kv {number(j)}", anchor="top", size=11)

    # 2. W^O: head h's d_head rows in head h's colour
    top = mid + rows / 2
    if rows == width_concat:
        for h in range(H):
            rect(x_wo, x_wo + cols, top - (h + 1) * dh, top - h * dh, colours[h], opacity=0.45, line="rgba(0,0,0,0)")
    rect(x_wo, x_wo + cols, top - rows, top, "rgba(0,0,0,0)")
    label(x_wo + cols / 2, top + 0.04 * size, "W<sup>O</sup> (" + plotly_text(wo_name) + f"): {rows} × {cols}",
          anchor="bottom")
    label(x_wo + cols / 2, top - rows - 0.04 * size, _("head h meets only its own {dh} rows").format(dh=dh),
          anchor="top", size=11)
    label(width_concat + gap / 2, mid, "×", size=26)

    # 3. the output, added to the residual stream
    rect(x_out, x_out + d, mid - band / 2, mid + band / 2, OUTPUT_BLUE)
    out_text = _("attention output<br>T × d_model = {t} × {d}").format(t=T, d=d)
    if bias:
        out_text = _("attention output (+ bias, {d} numbers)<br>T × d_model = {t} × {d}").format(t=T, d=d)
    label(x_out + d / 2, mid + band / 2 + 0.04 * size, out_text, anchor="bottom")
    label(x_out + d / 2, mid - band / 2 - 0.04 * size,
          _("→ LayerNorm(x + output)") if post_norm else _("→ x + output (residual stream)"), anchor="top")
    label(x_wo + cols + gap / 2, mid, "=", size=26)

    # hover targets at the centres of the three matrices
    fig.add_trace(go.Scatter(
        x=[(h + 0.5) * dh for h in range(H)] + [x_wo + cols / 2, x_out + d / 2],
        y=[mid] * H + [mid, mid], mode="markers", marker=dict(size=14, opacity=0), showlegend=False,
        hovertext=[_("head {h}: {t} × {dh}").format(h=number(h), t=T, dh=dh) for h in range(H)]
        + [f"W<sup>O</sup>: {rows} × {cols}", _("attention output: {t} × {d}").format(t=T, d=d)],
        hoverinfo="text", name="shapes",
    ))
    fig.update_xaxes(visible=False, range=[-0.05 * size, x_out + d + 0.05 * size])
    fig.update_yaxes(visible=False, range=[min(mid - rows / 2, mid - band / 2 - 0.3 * size) - 0.1 * size,
                                           mid + max(rows / 2, band / 2) + 0.16 * size],
                     scaleanchor="x", scaleratio=1)
    fig.update_layout(title=plotly_text(title), font=FONT, plot_bgcolor="white", height=380,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig
