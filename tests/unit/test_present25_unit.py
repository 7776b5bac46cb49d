"""Projector layout rules of issue #25 (items 1 and 3): long figure titles are split to fit beside the text, and
the presentation CSS gives st.metric values a larger size than their labels and lets labels wrap."""
from __future__ import annotations

import re

import plotly.graph_objects as go

from components import present, tour


def test_a_long_title_is_split_at_the_space_nearest_its_middle():
    title = "Share of attention to the previous token, every layer × head"
    fig = go.Figure(layout=dict(title=dict(text=title), margin=dict(t=90)))
    tour._fit_title(fig)
    first, second = fig.layout.title.text.split("<br>")
    assert f"{first} {second}" == title
    assert abs(len(first) - len(second)) <= 10
    assert fig.layout.margin.t > 90  # room for the second line


def test_escaped_text_is_never_split_inside_an_entity():
    title = "Direct push on the logit of &quot;&amp;&lt;tag&gt;&quot;, per layer of the model"
    fig = go.Figure(layout=dict(title=dict(text=title)))
    tour._fit_title(fig)
    assert fig.layout.title.text.replace("<br>", " ") == title
    for part in fig.layout.title.text.split("<br>"):
        assert not re.search(r"&[a-z]*$", part)


def test_short_titles_and_titles_without_spaces_keep_one_line():
    short = go.Figure(layout=dict(title=dict(text="Attention weights, layer 2 head 3")))
    tour._fit_title(short)
    assert short.layout.title.text == "Attention weights, layer 2 head 3"
    chinese = go.Figure(layout=dict(title=dict(text="每一层每个头的注意力有多少流向前一个词元的比例图表示例说明文字")))
    tour._fit_title(chinese)
    assert "<br>" not in chinese.layout.title.text and chinese.layout.title.font.size == present.FIGURE_FONT


def _rule(selector_part: str) -> str:
    css = present.CSS
    start = css.index(selector_part)
    return css[start:css.index("}", start)]


def _rem(rule: str) -> float:
    return float(re.search(r"font-size:\s*([\d.]+)rem", rule).group(1))


def test_metric_values_are_larger_than_labels_and_labels_wrap():
    value = _rule('[data-testid="stMetricValue"] p {font-size')
    label = _rule('[data-testid="stMetricLabel"] p {font-size')
    assert _rem(value) > _rem(label)
    wrap = _rule('[data-testid="stMetricLabel"] p {white-space')
    assert "white-space: normal" in wrap and "text-overflow: clip" in wrap


def test_the_tour_figure_box_is_the_screen_below_the_heading():
    rule = _rule(f".st-key-{present.TOUR_FIGURE}")
    assert "100vh" in rule and "flex: none" in rule
    assert f".st-key-{present.TOUR_TEXT}" in present.CSS
