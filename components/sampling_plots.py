"""Pure plotly builders for the /next-token page: numpy in, go.Figure out (no streamlit; unit-tested).

Token labels come from the vocabulary (and so may contain "<", "&", '"' ...): every label that goes into a figure is
escaped once, for Plotly (:func:`components.plots.plotly_text`, the app's one rule for Plotly text); the HTML table
escapes as HTML.
"""
from __future__ import annotations


import numpy as np
import plotly.graph_objects as go

from components.plots import FONT, plotly_lines, plotly_text  # noqa: F401 (sampling_redraw imports it from here)
from i18n import _

ORIGINAL = "#94a3b8"  # the model's own distribution
ADJUSTED = "#1d4ed8"  # after temperature / top-k / top-p
CUT = "#dc2626"  # removed by a cut


def _rows(labels: list[str], ids: np.ndarray) -> list[str]:
    """Unique y labels "1. ␣Paris  (id 7042)" (plotly merges equal category labels)."""
    row = _("{rank}. {token}  (id {id})")
    return [row.format(rank=i + 1, token=plotly_text(s), id=int(t)) for i, (s, t) in enumerate(zip(labels, ids))]


PANELS = ((0.0, 0.44), (0.56, 1.0))  # x domains of the model's and the adjusted panel (a 12% gap between them)
SUBTITLE_CHARS = 26  # a title line in characters (wrapped at spaces): the plot area beside the token labels on a 390 px phone
LINE_PX = 20  # height of one title line at 14 px
MODEL_TEXT = "#64748b"  # the model panel's title: the grey of its bars, dark enough to read as text


# These two figures are redrawn on every slider move (150 ms budget, browser included), so they are built
# without make_subplots, add_hline/add_vline or a named template: each of those validates hundreds of
# properties on every build. Streamlit's own chart theme styles them in the browser.
PLAIN = dict(font=FONT, paper_bgcolor="white", plot_bgcolor="white", showlegend=False)
GRID = dict(gridcolor="#e5e7eb", zeroline=False)


def probability_bars(labels: list[str], ids: np.ndarray, original: np.ndarray, adjusted: np.ndarray,
                     kept: np.ndarray, title: str, adjusted_title: str) -> go.Figure:
    """Two bar charts side by side, the same tokens on both: the model's probabilities (left) and the
    re-weighted ones (right; tokens cut by top-k/top-p marked with a red "cut" at 0)."""
    original = np.asarray(original, dtype=np.float64)
    adjusted = np.asarray(adjusted, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    rows = _rows(labels, ids)
    cut = [r for r, k in zip(rows, kept) if not k]
    top = float(max(original.max(initial=0), adjusted.max(initial=0), 1e-9)) * 1.08
    # at most 5 ticks a panel and a wide gap between the panels: the last tick of the left panel and the first of
    # the right one never run together ("80%0%"), down to a phone's width
    axis = dict(range=[0, top], tickformat=".0%", nticks=5, title=dict(text=_("probability")), **GRID)
    # The two panel titles are stacked above the panels, each in its bars' colour (the model's above the adjusted
    # one), and wrapped to SUBTITLE_CHARS: Plotly neither wraps nor knows the width it will get, and two titles side
    # by side ran into each other on a phone. Stacked, they cannot overlap at any width.
    titles = [plotly_lines(_("Model (T = 1, nothing cut)"), SUBTITLE_CHARS), plotly_lines(adjusted_title, SUBTITLE_CHARS)]
    lines = [t.count("<br>") + 1 for t in titles]
    subtitle = dict(xref="paper", yref="paper", x=0, xanchor="left", y=1.0, yanchor="bottom", showarrow=False,
                    align="left")
    model, adjusted_name, cut_word, prob = _("model"), _("adjusted"), _("cut"), _("probability")
    return go.Figure(
        data=[
            go.Bar(x=original, y=rows, orientation="h", marker_color=ORIGINAL, name=model, xaxis="x", yaxis="y",
                   text=[f"{v:.1%}" for v in original], textposition="auto",
                   hovertemplate=f"%{{y}}<br>{prob} %{{x:.6f}}<extra>{model}</extra>"),
            go.Bar(x=adjusted, y=rows, orientation="h", marker_color=ADJUSTED, name=adjusted_name, xaxis="x2",
                   yaxis="y", text=[f"{v:.1%}" if k else "" for v, k in zip(adjusted, kept)], textposition="auto",
                   hovertemplate=f"%{{y}}<br>{prob} %{{x:.6f}}<extra>{adjusted_name}</extra>"),
            # a cut token has no bar: mark it, or it would look like a tiny probability
            go.Scatter(x=[0] * len(cut), y=cut, mode="markers+text", marker=dict(symbol="x", color=CUT, size=9),
                       text=[cut_word] * len(cut), textposition="middle right", textfont=dict(color=CUT),
                       name=cut_word, xaxis="x2", yaxis="y", cliponaxis=False,
                       hovertemplate="%{y}<br>" + _("cut by top-k / top-p (probability 0)") + "<extra></extra>"),
        ],
        layout=dict(
            title=dict(text=plotly_text(title)), height=110 + 24 * len(rows), bargap=0.25,
            margin=dict(l=10, r=10, t=58 + LINE_PX * sum(lines), b=40), **PLAIN,
            xaxis=dict(domain=list(PANELS[0]), **axis), xaxis2=dict(domain=list(PANELS[1]), **axis),
            yaxis=dict(autorange="reversed", type="category", automargin=True),
            annotations=[dict(text=titles[0], yshift=LINE_PX * lines[1], font=dict(size=14, color=MODEL_TEXT),
                              **subtitle),
                         dict(text=titles[1], font=dict(size=14, color=ADJUSTED), **subtitle)],
        ),
    )


def nucleus_curve(cumulative: np.ndarray, top_p: float, n_kept: int, title: str, points: int = 400) -> go.Figure:
    """Cumulative probability of the most likely tokens over the whole vocabulary (rank on a log axis, sampled
    at ``points`` log-spaced ranks plus the cut-off), the top-p line and the number of tokens kept."""
    cumulative = np.asarray(cumulative, dtype=np.float64)
    V = len(cumulative)
    ranks = np.unique(np.r_[np.geomspace(1, V, points).round().astype(np.int64), max(n_kept, 1), V])  # 1-based
    kept_at = max(n_kept, 1)
    shapes = [dict(type="line", xref="x", yref="paper", x0=kept_at, x1=kept_at, y0=0, y1=1,
                   line=dict(color="#059669", dash="dot"))]
    notes = [dict(xref="x", yref="paper", x=np.log10(kept_at), y=1, text=_("{n:,} kept").format(n=n_kept),
                  showarrow=False, xanchor="right", yanchor="bottom")]
    if top_p < 1:
        shapes.append(dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=top_p, y1=top_p,
                           line=dict(color=CUT, dash="dash")))
        notes.append(dict(xref="paper", yref="y", x=1, y=top_p, text=f"top-p = {top_p:g}", showarrow=False,
                          xanchor="right", yanchor="top", font=dict(color=CUT)))
    return go.Figure(
        data=[go.Scatter(x=ranks, y=cumulative[ranks - 1], mode="lines", line=dict(color=ADJUSTED, width=2),
                         name=_("cumulative"),
                         hovertemplate=_("the %{x:,} most likely tokens hold %{y:.4f}") + "<extra></extra>")],
        layout=dict(
            title=dict(text=plotly_text(title)), height=320, margin=dict(l=10, r=10, t=50, b=40), **PLAIN,
            xaxis=dict(type="log", title=dict(text=_("tokens, most likely first (log scale)")), **GRID),
            yaxis=dict(range=[0, 1.02], tickformat=".0%", title=dict(text=_("cumulative probability")), **GRID),
            shapes=shapes, annotations=notes,
        ),
    )


def lens_heatmap(top_texts: list[list[str]], top_probs: np.ndarray, layer_names: list[str], title: str) -> go.Figure:
    """Layer x rank grid: each cell is the token the lens puts at that rank after that layer, coloured by its
    probability. Rows are layers, from the embeddings (top) down to the output."""
    z = np.asarray(top_probs, dtype=np.float64)  # [L+1, k]
    text = [[plotly_text(s) for s in row] for row in top_texts]
    hover = [[f"{t}<br>{p:.4f}" for t, p in zip(row, zrow)] for row, zrow in zip(text, z)]
    k = z.shape[1]
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"#{r + 1}" for r in range(k)], y=[plotly_text(s) for s in layer_names], zmin=0, zmax=1,
        colorscale="Blues", text=text, texttemplate="%{text}", textfont=dict(size=11), customdata=hover,
        hovertemplate=_("%{y} · rank %{x}") + "<br>%{customdata}<extra></extra>",
        colorbar=dict(thickness=14, title="p"),
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", side="top")
    fig.update_layout(title=plotly_text(title), font=FONT,
                      height=110 + 22 * len(layer_names), margin=dict(l=10, r=10, t=90, b=10))
    return fig


def lens_line(probs: np.ndarray, ranks: np.ndarray, token: str, title: str) -> go.Figure:
    """Probability (and rank) of the model's final choice after every layer."""
    probs = np.asarray(probs, dtype=np.float64)
    layers = np.arange(len(probs))
    fig = go.Figure(go.Scatter(
        x=layers, y=probs, mode="lines+markers", line=dict(color=ADJUSTED, width=2), customdata=np.asarray(ranks) + 1,
        hovertemplate=_("after layer %{x}") + f"<br>p({plotly_text(token)}) = %{{y:.5f}}<br>"
                      + _("rank %{customdata:,}") + "<extra></extra>",
    ))
    fig.update_xaxes(title_text=_("layer (0 = embeddings)"), dtick=max(1, len(probs) // 15))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text=_("probability"))
    fig.update_layout(title=plotly_text(title), font=FONT, height=300,
                      margin=dict(l=10, r=10, t=50, b=40), showlegend=False)
    return fig


TABLE_CSS = ("<style>.tx-steps{border-collapse:collapse;font-size:0.9rem;width:100%}"
             ".tx-steps th,.tx-steps td{padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:right;"
             "font-variant-numeric:tabular-nums}.tx-steps th{font-weight:600;background:#f8fafc}"
             ".tx-steps td.tx-text{text-align:left;font-family:ui-monospace,monospace;white-space:pre}"
             ".tx-steps td.tx-cut{color:#dc2626;font-weight:600}</style>")


def steps_table_html(columns: dict[str, list], formats: dict[str, str]) -> str:
    """A small HTML table (plain DOM: cheaper to redraw on every slider move than a data grid). Numbers use
    ``formats[column]``; text is escaped; a "cut" cell (the word in the session's language) in a column with a
    format is red."""
    names = list(columns)
    cut = _("cut")
    n = len(next(iter(columns.values()), []))
    head = "".join(f"<th>{plotly_text(c)}</th>" for c in names)
    body = []
    for i in range(n):
        cells = []
        for c in names:
            v = columns[c][i]
            if isinstance(v, str):
                cls = ("tx-cut" if v == cut else "") if c in formats else "tx-text"
                cells.append(f'<td class="{cls}">{plotly_text(v)}</td>')
            else:
                cells.append(f"<td>{format(v, formats.get(c, ''))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'{TABLE_CSS}<table class="tx-steps"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
