"""models/similarity.py's vectors of one word inside a sentence (the Similarity page's "same word, different
contexts"), against the model's own embedding weight tensor: a word cut into pieces is the mean of its pieces."""
from __future__ import annotations

import numpy as np
import pytest

from models import similarity as sim
from models.trace import compute_trace

SENTENCE = "we ate a bratwurst at the party"


@pytest.fixture(scope="module", params=["smollm2-135m", "minilm-l6"])
def lm(request):
    return request.getfixturevalue({"smollm2-135m": "smollm2", "minilm-l6": "minilm"}[request.param])


def test_embedding_for_span_is_the_mean_of_the_pieces_rows(lm):
    trace = compute_trace(lm, SENTENCE)
    span = sim.find_word(SENTENCE, "bratwurst")
    pos = sim.span_positions(trace.offsets, trace.special, *span)
    assert len(pos) > 1  # the word is cut into pieces: the mean is over more than one row
    with lm.tokenizer_lock:
        ids = lm.tokenizer(SENTENCE)["input_ids"]
    weight = lm.model.get_input_embeddings().weight.detach().numpy()  # [V, d] the embedding matrix itself
    expected = weight[[ids[p] for p in pos]].mean(axis=0)
    np.testing.assert_allclose(sim.embedding_for_span(trace, *span), expected, atol=1e-6)
    assert sim.hidden_for_span(trace, *span).shape == (lm.facts.n_layers + 1, lm.facts.d_model)


def test_a_span_no_token_covers_is_refused(lm):
    trace = compute_trace(lm, SENTENCE)
    end = len(SENTENCE)
    with pytest.raises(ValueError, match="no token covers"):
        sim.embedding_for_span(trace, end, end + 5)
    with pytest.raises(ValueError, match="no token covers"):
        sim.hidden_for_span(trace, end, end + 5)
