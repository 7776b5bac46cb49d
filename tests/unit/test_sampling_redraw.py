"""components/sampling_redraw.py: what the temperature / top-k / top-p component receives. The logits travel exactly;
the browser adds its softmax up in torch's order (the layout found here reproduces torch's own probabilities, the
others do not); labels are escaped once, for Plotly; the next-step logits of /generate are the model's own.
The browser's maths itself is compared with adjust() in Chromium (tests/e2e/test_sampling_maths_e2e.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from components import sampling_redraw as sr
from components.sampling_plots import probability_bars
from models.sampling import LAYOUTS, next_logits, softmax, softmax_in_lanes, torch_softmax_layout

FRANCE = "The capital of France is"


@pytest.fixture(scope="module")
def logits(smollm2) -> np.ndarray:
    ids = smollm2.tokenizer(FRANCE, return_tensors="pt").input_ids
    with torch.inference_mode():
        return smollm2.model(input_ids=ids).logits[0, -1].float().numpy()


def test_logits_travel_exactly_and_bad_ones_are_refused(logits):
    data, data_id = sr.logits_bytes(logits)
    assert len(data) == 4 * logits.size
    np.testing.assert_array_equal(sr.decode(data), logits)  # bit for bit
    other = logits.copy()
    other[7] += 1
    assert sr.logits_bytes(other)[1] != data_id
    for bad in (np.array([np.nan, 1.0]), np.array([np.inf, 1.0]), np.array([-np.inf]), np.array([])):
        with pytest.raises(ValueError):
            sr.logits_bytes(bad)


def test_the_layout_sent_to_the_browser_reproduces_torchs_softmax(logits):
    """The browser sums in this layout; on the model's logits it gives torch's probabilities within 1e-9, while
    summing in another order is off by more than 1e-6 (so the order matters at the tests' tolerance)."""
    layout = torch_softmax_layout()
    assert layout in LAYOUTS
    worst_other = 0.0
    for T in (1.0, 0.7, 1.3):
        x = (logits / np.float32(T)).astype(np.float32)
        want = softmax(x)
        assert np.abs(softmax_in_lanes(x, **layout) - want).max() < 1e-8
        worst_other = max(worst_other, max(float(np.abs(softmax_in_lanes(x, **lay) - want).max())
                                           for lay in LAYOUTS if lay["lanes"] != layout["lanes"]))
    assert worst_other > 1e-6


def test_top_ids_are_the_ranking(logits):
    want = np.argsort(-logits.astype(np.float64), kind="stable")[:20]
    np.testing.assert_array_equal(sr.top_ids(logits), want)


def test_labels_are_escaped_once_for_plotly(logits):
    """A token '"' must read '"' on a bar (Plotly does not turn &quot; back), '<b>' must not become bold. (The
    component draws its bars as DOM text, unescaped; the server-side path's figure escapes for Plotly once.)"""
    labels = ['"', "<b>x</b>", "a&b", "␣Paris"]
    fig = probability_bars(labels, np.arange(4), np.full(4, 0.1), np.full(4, 0.1), np.ones(4, bool), 't "q"', "a")
    assert list(fig.data[0].y) == ['1. "  (id 0)', "2. &lt;b&gt;x&lt;/b&gt;  (id 1)", "3. a&amp;b  (id 2)",
                                   "4. ␣Paris  (id 3)"]
    assert fig.layout.title.text == 't "q"'
    spec = sr.templates(logits)["nucleus"]
    assert len(spec["layout"]["shapes"]) == 2  # the top-p line's look is in the template
    assert "&quot;" not in json.dumps(spec)


def test_strings_are_templates_the_browser_can_fill():
    s = sr.strings(49_152)
    assert all(isinstance(v, str) and v for v in s.values())
    assert "{V:,}" in s["eligible"] and "{mass:.1%}" in s["bars_caption"] and "{T:g}" in s["math_2"]
    assert s["row"] == "{rank}. {token}  (id {id})" and s["adjusted"] == "Adjusted: {setting}"
    assert "](/glossary?term=softmax" in s["bars_caption"]  # links only to the app's own pages
    assert "{softmax}" not in s["bars_caption"]
    for k, v in s.items():
        if k.endswith("_plot"):
            assert "<" not in v and ">" not in v


def test_next_logits_are_the_models_own(smollm2):
    ids = smollm2.tokenizer(FRANCE)["input_ids"]
    with torch.inference_mode():
        want = smollm2.model(input_ids=torch.tensor([ids])).logits[0, -1].float().numpy()
    got = next_logits(smollm2, ids)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-4)
