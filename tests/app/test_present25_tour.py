"""Presentation mode on a projector (issue #25, items 1-2) through the real app: in the tour the text is in a
column beside the figure, the figure is drawn to fill its box, the heads grid is the model's own attention, and a
step change (and only a step change) scrolls the new step to its heading."""
from __future__ import annotations

import json

import numpy as np
import torch

from components import tour
from tests.app.helpers import array, charts, run_page

HOME = "app_pages/home.py"
TEXT = "students celebrate the graduation with a big party"
N = len(tour.STEPS)


def tour_columns(at):
    """The (text, figure) columns of the tour step: the first row of columns under the step's heading."""
    for block in at.main.children.values():
        cols = [c for c in getattr(block, "children", {}).values() if getattr(c, "type", "") == "column"]
        if len(cols) == 2:
            return cols
    raise AssertionError("no two-column row in the tour")


def elements(node, kind: str) -> list:
    out = []
    for c in getattr(node, "children", {}).values():
        if getattr(c, "type", "") == kind:
            out.append(c)
        out.extend(elements(c, kind))
    return out


def scroll_frames(at) -> list[str]:
    return [el.proto.srcdoc for el in at.get("iframe") if "__txPresentKeys" not in el.proto.srcdoc]


def test_on_a_projector_the_text_is_beside_the_figure():
    for step in (2, 5, 6):
        at = run_page(HOME, step=str(step), present="1", text=TEXT)
        text_col, figure_col = tour_columns(at)
        assert elements(figure_col, "plotly_chart") and not elements(text_col, "plotly_chart")
        assert any("Try this" in m.value for m in elements(text_col, "markdown"))
        assert not elements(figure_col, "markdown")
    at = run_page(HOME, step="1", present="1", text=TEXT)  # step 1's figure is the token chips
    text_col, figure_col = tour_columns(at)
    assert any("tx-chips" in h.proto.body for h in elements(figure_col, "html"))


def test_without_presentation_mode_the_tour_is_one_column():
    at = run_page(HOME, step="5", text=TEXT)
    chart = at.get("plotly_chart")[0]
    assert json.loads(chart.proto.spec)["layout"]["height"] > 0  # drawn at the builder's own height


def test_heads_grid_on_a_projector_is_the_models_previous_token_share(smollm2):
    at = run_page(HOME, model="smollm2-135m", step="6", present="1", text=TEXT)
    (title, spec), = [(t, f) for t, f in charts(at).items() if t.startswith("Share of attention")]
    z = array(spec["data"][0]["z"]).astype(np.float64)
    ids = smollm2.tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        atts = [a[0].numpy() for a in smollm2.model(input_ids=ids, output_attentions=True).attentions]
    prev = np.array([[np.mean([a[h, t, t - 1] for t in range(1, a.shape[-1])]) for h in range(a.shape[0])]
                     for a in atts])
    np.testing.assert_allclose(z, prev, atol=1e-4)
    assert spec["data"][0]["y"][0] == "1" and spec["data"][0]["x"][0] == "1"  # layers and heads from 1
    # the red box is on the brightest head
    layer, head = np.unravel_index(np.argmax(prev), prev.shape)
    (box,) = spec["layout"]["shapes"]
    assert (box["x0"] + 0.5, box["y0"] + 0.5) == (head, layer)
    assert "<br>" in spec["layout"]["title"]["text"]  # the long title is split to fit beside the text


def test_a_step_change_scrolls_to_the_step_and_only_then():
    at = run_page(HOME, step="3", text=TEXT)
    assert scroll_frames(at) == []  # opening a link to a step: the page opens at its top, untouched
    at.button(key="tour_next").click().run()
    (frame,) = scroll_frames(at)
    assert '"tour-step"' in frame  # the step's heading carries that anchor
    assert at.subheader[0].proto.anchor == "tour-step"
    at.run()  # a rerun that is not a step change (a widget elsewhere) leaves the scroll alone
    assert scroll_frames(at) == []
    at.radio[0].set_value(7).run()
    (frame,) = scroll_frames(at)
    assert '"7-' in frame  # a new document for each change: the script runs again
    at.button(key="tour_previous").click().run()
    (frame,) = scroll_frames(at)
    assert '"6-' in frame


def test_on_a_projector_a_step_change_scrolls_to_the_very_top_after_the_key_listener():
    at = run_page(HOME, step="3", present="1", text=TEXT)
    at.button(key="tour_next").click().run()
    frames = [el.proto.srcdoc for el in at.get("iframe")]
    # the key listener's frame stays first (a frame drawn before it would make Streamlit redraw it)
    assert len(frames) == 2 and "__txPresentKeys" in frames[0]
    assert "scrollTop = 0" in frames[1] and "__ANCHOR__" not in frames[1] and "null === null" in frames[1]
