"""components.plots: pure figure builders, checked against the data they are given."""
import numpy as np

from components.plots import one_hot_vs_dense


def test_one_hot_vs_dense_draws_the_real_row_and_one_spike(minilm):
    token_id = 2283  # "party"
    row = minilm.model.get_input_embeddings().weight[token_id].numpy()
    fig = one_hot_vs_dense(token_id, minilm.facts.vocab_size, row, "party")
    one_hot, marker, bars = fig.data
    # one-hot: zero everywhere except a single 1 at the token's id, spanning the whole vocabulary
    assert max(one_hot.x) == minilm.facts.vocab_size - 1 and min(one_hot.x) == 0
    assert [x for x, y in zip(one_hot.x, one_hot.y) if y == 1] == [token_id]
    assert list(marker.x) == [token_id]
    # dense: exactly the embedding row, d_model bars
    np.testing.assert_array_equal(np.asarray(bars.y, dtype=np.float32), row)
    assert len(bars.x) == minilm.facts.d_model == 384
    titles = [a.text for a in fig.layout.annotations]
    assert "30,522 numbers" in titles[0] and "384 learned numbers" in titles[1]


def test_one_hot_label_is_escaped():
    fig = one_hot_vs_dense(5, 100, np.zeros(8, dtype=np.float32), "<b>x</b>")
    assert fig.data[1].text[0].startswith("&lt;b&gt;x&lt;/b&gt;")



def test_figures_take_the_default_template_instead_of_validating_one(monkeypatch):
    """The look comes from plotly's default template (components.widgets sets plotly_white; the app's charts are
    checked in tests/app/test_widgets.py): a template passed by name is deep-copied and validated for every
    figure (~7 ms each)."""
    import re
    from pathlib import Path

    import plotly.io as pio
    from _plotly_utils import basevalidators

    from components.plots import heatmap

    monkeypatch.setattr(pio.templates, "default", "plotly_white")
    validated = []
    real = basevalidators.BaseTemplateValidator.validate_coerce
    monkeypatch.setattr(basevalidators.BaseTemplateValidator, "validate_coerce",
                        lambda self, v, *a, **k: validated.append(v) or real(self, v, *a, **k))
    fig = heatmap(np.eye(3, dtype=np.float32), ["a", "b", "c"], ["x", "y", "z"], "t")
    assert validated == []
    assert fig.to_plotly_json()["layout"]["template"] == pio.templates["plotly_white"].to_plotly_json()
    # and no figure builder passes a template (hovertemplate= and texttemplate= are other things)
    sources = Path(heatmap.__code__.co_filename).parent.glob("*.py")
    assert [f.name for f in sources if re.search(r"(?<![a-z])template=", f.read_text())] == []


def test_heatmap_sends_the_models_float32_values_exactly_and_the_rest_as_float64():
    import json

    from components.plots import heatmap
    from tests.app.helpers import array

    rng = np.random.default_rng(0)
    z32 = rng.standard_normal((5, 7)).astype(np.float32) * 100
    sent = json.loads(heatmap(z32, list("abcdefg"), list("vwxyz"), "t").to_json())["data"][0]["z"]
    assert sent["dtype"] == "f4" and np.array_equal(array(sent), z32)  # bit for bit, half of float64's bytes
    z64 = rng.standard_normal((2, 2))
    sent = json.loads(heatmap(z64, ["a", "b"], ["y", "z"], "t").to_json())["data"][0]["z"]
    assert sent["dtype"] == "f8" and np.array_equal(array(sent), z64)
    sent = json.loads(heatmap([[1, 2], [3, 4]], ["a", "b"], ["y", "z"], "t").to_json())["data"][0]["z"]
    assert sent["dtype"] == "f8" and array(sent).tolist() == [[1, 2], [3, 4]]
