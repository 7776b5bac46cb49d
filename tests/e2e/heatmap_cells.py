"""What the attention heatmap component has on screen (components/attention_redraw_frontend/redraw.js draws the
cells on a canvas over Plotly's plot area): the RGB drawn at a cell's centre, read from that canvas at the place
Plotly's own axes give the cell, against the colour plotly.colors gives its weight (the library the figure's
colour scale comes from)."""
from __future__ import annotations

import numpy as np
from plotly.colors import sample_colorscale, unlabel_rgb

from components.attention_plots import MASKED_GREY, colorscale

GREY = [int(MASKED_GREY[i:i + 2], 16) for i in (1, 3, 5)]


def drawn_colour(frame, row: int, col: int) -> list[int]:
    """RGBA of the pixel drawn at the centre of cell (row, col) (``frame``: the component's FrameLocator)."""
    return frame.locator("#plot").evaluate(
        """(gd, [r, c]) => { const fl = gd._fullLayout, s = fl._size, dpr = window.devicePixelRatio || 1;
                              const x = (s.l + fl.xaxis.l2p(c)) * dpr, y = (s.t + fl.yaxis.l2p(r)) * dpr;
                              const px = document.getElementById('cells').getContext('2d')
                                  .getImageData(Math.floor(x), Math.floor(y), 1, 1).data;
                              return [px[0], px[1], px[2], px[3]]; }""", [row, col])


def weight_colour(value: float, scale: str = "sqrt") -> list[int]:
    """The RGB Plotly gives ``value`` on the heatmap's colour scale (0..1)."""
    return [round(v) for v in unlabel_rgb(sample_colorscale(colorscale(scale), [float(value)])[0])]


def assert_cells_drawn(frame, weights: np.ndarray, cells: list[tuple[int, int]], scale: str = "sqrt") -> None:
    """Each of ``cells`` is drawn in its weight's colour (within one RGB step: rounding), NaN (masked) in grey."""
    for row, col in cells:
        got = drawn_colour(frame, row, col)
        if np.isnan(weights[row, col]):
            assert got == [*GREY, 255], (row, col, got)
        else:
            expected = weight_colour(weights[row, col], scale)
            assert got[3] == 255 and max(abs(a - b) for a, b in zip(got[:3], expected)) <= 1, (row, col, got, expected)


def cell_centre(page, frame, row: int, col: int, iframe: str = 'iframe[src*="attention_heatmap"]') -> tuple[float, float]:
    """Where the centre of cell (row, col) is on the page: the iframe's place plus Plotly's axes."""
    box = page.locator(iframe).first.bounding_box()
    x, y = frame.locator("#plot").evaluate(
        """(gd, [r, c]) => { const fl = gd._fullLayout, s = fl._size, b = gd.getBoundingClientRect();
                              return [b.left + s.l + fl.xaxis.l2p(c), b.top + s.t + fl.yaxis.l2p(r)]; }""", [row, col])
    return box["x"] + x, box["y"] + y


def axis_labels(frame) -> tuple[list[str], list[str]]:
    """The categories of Plotly's drawn axes (x: keys, y: queries), in order."""
    return tuple(frame.locator("#plot").evaluate("gd => [gd._fullLayout.xaxis._categories, gd._fullLayout.yaxis._categories]"))
