"""Figure builders of the attention page: what they send is the data they were given."""
from __future__ import annotations

import json

import numpy as np
import pytest

from components import attention_plots as ap
from tests.app.helpers import array


def spec(fig) -> dict:
    return json.loads(fig.to_json())


def random_attention(rng, *lead, T):
    a = rng.random((*lead, T, T)).astype(np.float32)
    return a / a.sum(-1, keepdims=True)


@pytest.mark.parametrize("T,size", [(5, 8), (50, 16), (512, 48), (17, 4)])
def test_pool_square_keeps_rows_summing_to_one(T, size):
    rng = np.random.default_rng(T)
    a = random_attention(rng, 3, T=T)
    p = ap.pool_square(a, size)
    assert p.shape == (3, min(T, size), min(T, size))
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)


def test_pool_square_blocks_by_hand():
    a = np.arange(36, dtype=np.float32).reshape(6, 6)
    p = ap.pool_square(a, 3)  # blocks of 2 rows x 2 columns: mean over rows of sums over columns
    expected = np.array([[a[r:r + 2, c:c + 2].sum(1).mean() for c in (0, 2, 4)] for r in (0, 2, 4)])
    np.testing.assert_allclose(p, expected)


def test_attention_heatmap_masks_future_cells_in_their_own_layer():
    rng = np.random.default_rng(0)
    T = 6
    w = np.tril(rng.random((T, T))).astype(np.float32)
    w /= w.sum(-1, keepdims=True)
    masked = np.triu(np.ones((T, T), bool), 1)
    labels = [f"{i} <b>t{i}</b>" for i in range(T)]
    s = spec(ap.attention_heatmap(w, labels, labels, "<script>", masked=masked))
    main, grey = s["data"]
    z = array(main["z"])
    assert np.isnan(z[masked]).all() and np.allclose(z[~masked], w[~masked])
    gz = array(grey["z"])
    assert (gz[masked] == 1).all() and np.isnan(gz[~masked]).all()
    assert "masked" in grey["hovertemplate"]
    assert all("<b>" not in x for x in main["x"]) and "&lt;b&gt;" in main["x"][0]  # user text escaped
    assert "<script>" not in s["layout"]["title"]["text"]


def test_attention_heatmap_encoder_has_no_mask_layer():
    w = np.full((3, 3), 1 / 3, dtype=np.float32)
    s = spec(ap.attention_heatmap(w, list("abc"), list("abc"), "t"))
    assert len(s["data"]) == 1 and np.allclose(array(s["data"][0]["z"]), w)


def test_sqrt_scale_spends_more_colours_on_small_weights():
    lin, sq = ap.colorscale("linear"), ap.colorscale("sqrt")
    assert [t for t, _ in lin] == [t for t, _ in sq]
    assert lin[0][1] == sq[0][1] and lin[-1][1] == sq[-1][1]
    assert sq[1][1] != lin[1][1]  # at 5% of the range, sqrt is already further along viridis


def test_head_grid_places_each_thumbnail_and_its_click_target():
    rng = np.random.default_rng(1)
    R, C, s = 2, 3, 4
    thumbs = random_attention(rng, R, C, T=s)
    cells = np.stack(np.meshgrid(np.arange(R), np.arange(C), indexing="ij"), -1)
    cells[1, 2] = -1  # an empty slot
    fig = spec(ap.head_grid(thumbs, cells, "grid", row_labels=["a", "b"], col_labels=["x", "y", "z"],
                            selected=(1, 1)))
    image = array(fig["data"][0]["z"])
    gap = max(1, s // 6)
    cell = s + gap
    np.testing.assert_allclose(image[cell:cell + s, cell:cell + s], thumbs[1, 1])
    assert np.isnan(image[cell:cell + s, 2 * cell:2 * cell + s]).all()
    marks = fig["data"][1]
    # (block index, head index) for the click, then the numbers people see (from 1) for the hover
    assert [tuple(c) for c in marks["customdata"]] == [(0, 0, 1, 1), (0, 1, 1, 2), (0, 2, 1, 3), (1, 0, 2, 1),
                                                      (1, 1, 2, 2)]
    assert "customdata[2]" in marks["hovertemplate"] and "customdata[3]" in marks["hovertemplate"]
    centre = (s - 1) / 2
    assert marks["x"][4] == cell + centre and marks["y"][4] == cell + centre
    assert len(fig["layout"]["shapes"]) == 1  # the selected head is outlined


def test_stat_grid_click_targets_are_layer_and_head():
    v = np.arange(12, dtype=float).reshape(3, 4)
    fig = spec(ap.stat_grid(v, "t", "share", selected=(2, 3)))
    pts = fig["data"][0]
    custom = array(pts["customdata"]).astype(int).reshape(-1, 2)
    colour = array(pts["marker"]["color"])
    for (layer, head), c, x, y in zip(custom, colour, array(pts["x"]), array(pts["y"])):
        assert v[layer, head] == c and x == head + 1 and y == layer + 1  # drawn (and hovered) at the numbers
    assert fig["data"][1]["x"] == [4] and fig["data"][1]["y"] == [3]  # selected indices (2, 3): layer 3, head 4
    assert fig["layout"]["xaxis"]["range"][0] > 0 and fig["layout"]["yaxis"]["range"][1] > 0  # no row/column 0


def test_step_bars_hide_scores_of_masked_keys():
    masked = np.array([False, False, True])
    fig = spec(ap.step_bars(["a", "b", "c"], np.array([1.0, 2.0, 0.0]), np.array([0.3, 0.7, 0.0]), masked, "t"))
    weights, grey, scores = fig["data"]
    assert np.isnan(array(weights["y"])[2]) and array(grey["y"])[2] == 1.0
    assert np.isnan(array(scores["y"])[2]) and np.allclose(array(scores["y"])[:2], [1.0, 2.0])


@pytest.mark.parametrize("T,size", [(6, 8), (50, 16), (512, 48)])
def test_pooled_future_blocks_are_exactly_the_all_masked_ones(T, size):
    future = np.triu(np.ones((T, T), np.float32), 1)
    share = ap.pool_square(future / T, size)  # any masked cell in a block makes it > 0
    cells = ap.pool_square(np.ones((T, T), np.float32) / T, size)
    blank = ap.pooled_future(T, size)
    np.testing.assert_array_equal(blank, np.isclose(share, cells))  # blank <=> every cell of the block masked
