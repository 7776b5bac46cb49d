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
