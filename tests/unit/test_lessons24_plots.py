"""The figure builders of issue #24's lessons (pure: numpy in, figure out): what they draw, and that text from the
vocabulary or the user is escaped."""
from __future__ import annotations

import numpy as np

from components.bpe_plots import merges_figure, tax_figure
from components.kv_plots import cache_size_figure, kv_rows_figure, step_time_figure
from components.samples_plots import samples_figure


def test_merges_figure_marks_the_chosen_merge_and_the_real_count():
    counts = np.array([50, 40, 40, 7])
    fig = merges_figure(counts, ["a + b → ab", "<b>", "c", "d"], 3, np.array([9, 7, 6]), np.array([0, 2, 4]), 5,
                        "SmolLM2", "title")
    marks = [t for t in fig.data if t.mode == "markers"]
    assert [(list(t.x), list(t.y)) for t in marks] == [([3], [40])]  # N = 3 is not on the sampled curve
    assert "&lt;b&gt;" in fig.data[0].customdata
    real = next(t for t in fig.data if t.name == "SmolLM2")
    assert list(real.y) == [5, 5]


def test_kv_rows_figure_shows_only_the_rows_computed_so_far():
    keys, values = np.arange(12.0).reshape(4, 3), -np.arange(12.0).reshape(4, 3)
    fig = kv_rows_figure(keys, values, ["a", "<b>", "c", "d"], 2, "t")
    z = np.array(fig.data[0].z, dtype=float)
    np.testing.assert_array_equal(z[:2], keys[:2])
    assert np.isnan(z[2:]).all() and np.isnan(np.array(fig.data[1].z, dtype=float)[2:]).all()
    assert "2 &lt;b&gt;" in fig.data[0].y
    new = [s for s in fig.layout.shapes if s.line.color == "#dc2626"]
    assert len(new) == 2 and new[0].y0 == 0.5 and new[0].y1 == 1.5  # the row of token 2 (category index 1)


def test_cache_size_figure_without_gqa_has_one_formula_line():
    t = np.arange(1, 5)
    with_gqa = cache_size_figure(t, 10 * t, 30 * t, 2, np.array([4]), np.array([40]), "t")
    without = cache_size_figure(t, 10 * t, None, 2, np.array([4]), np.array([40]), "t")
    assert len(with_gqa.data) == len(without.data) + 1
    assert list(with_gqa.data[0].y) == [0.01, 0.02, 0.03, 0.04]  # bytes shown in kB


def test_step_time_figure_skips_untimed_steps():
    fig = step_time_figure(np.arange(1, 5), np.ones(4), np.array([2.0, np.nan, np.nan, 5.0]), "t")
    assert list(fig.data[1].x) == [1, 4] and list(fig.data[1].y) == [2.0, 5.0]


def test_samples_and_tax_figures_escape_labels():
    fig = samples_figure(["<script>"], np.array([7]), np.array([3]), 100, np.array([0.05]), np.array([0.04]), "t")
    assert fig.data[0].y[0].startswith("&lt;script&gt;") and list(fig.data[0].x) == [0.03]
    tax = tax_figure(["<i>"], [3], [6], "A", "B", "t")
    assert tax.data[0].x[0] == "&lt;i&gt;"
