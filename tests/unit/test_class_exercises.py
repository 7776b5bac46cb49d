"""Workshop exercises are checked against the live model: the verdicts agree with numbers computed here
independently (torch softmax of logits / T, the tokenizer, the attention weights of a plain transformers forward)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from classroom import exercises as ex
from models.trace import compute_trace


@pytest.fixture(scope="module")
def capital(smollm2):
    return compute_trace(smollm2, ex.CAPITAL)


def _p_paris(lm, trace, t: float) -> float:
    paris = lm.tokenizer(" Paris", add_special_tokens=False)["input_ids"][0]
    return float(torch.softmax(torch.tensor(trace.last_logits, dtype=torch.float64) / t, -1)[paris])


def test_temperature_verdicts(smollm2, capital):
    assert _p_paris(smollm2, capital, 1.0) > 0.5  # the exercise starts above the line
    for t in (0.5, 1.0, 1.5, 2.0, 3.0):
        c = ex.check_temperature(smollm2, capital, {"temperature": t})
        assert c.solved == (_p_paris(smollm2, capital, t) < 0.5), (t, c.message)
    assert any(ex.check_temperature(smollm2, capital, {"temperature": t}).solved for t in (1.5, 2.0, 3.0))
    for bad in (-1, "x", None, float("nan")):
        assert not ex.check_temperature(smollm2, capital, {"temperature": bad}).solved


@pytest.mark.parametrize("model", ["smollm2", "minilm"])
def test_split_verdicts(model, request):
    lm = request.getfixturevalue(model)
    solved = []
    for word in ("cat", "antidisestablishmentarianism", "zxqvbnm", "Transformerization", "photosynthesis",
                 "unbelievably", "xylophonist", "xylophone", "photosynthesize", "untranslatable"):
        n = len(lm.tokenizer(word, add_special_tokens=False)["input_ids"])
        c = ex.check_split(lm, None, {"word": word})
        assert c.solved == (n == 4), (word, n, c.message)
        solved.append(c.solved)
    assert any(solved) and not all(solved)  # both verdicts are exercised
    assert not ex.check_split(lm, None, {"word": "two words"}).solved
    assert not ex.check_split(lm, None, {"word": ""}).solved


@pytest.mark.parametrize("model", ["smollm2", "minilm"])
def test_previous_token_head(model, request):
    lm = request.getfixturevalue(model)
    text = ex.BY_ID["prev-head"].text
    trace = compute_trace(lm, text)
    ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
    with torch.inference_mode():
        att = torch.stack(lm.model(input_ids=ids, output_attentions=True).attentions)[:, 0].double().numpy()
    t = att.shape[-1]
    share = np.array([[np.mean([att[layer, h, i, i - 1] for i in range(1, t)]) for h in range(att.shape[1])]
                      for layer in range(att.shape[0])])  # [L, H], index 0 = layer 1 / head 1
    verdicts = np.array([[ex.check_head(lm, trace, {"layer": layer + 1, "head": h + 1}).solved
                          for h in range(share.shape[1])] for layer in range(share.shape[0])])
    # heads far from the 50% line must agree exactly (float32 vs float64 near it may differ)
    clear = np.abs(share - ex.PREV_TOKEN_SHARE) > 1e-3
    assert (verdicts[clear] == (share[clear] >= ex.PREV_TOKEN_SHARE)).all()
    assert verdicts.any()  # the exercise can be solved on this model
    assert not ex.check_head(lm, trace, {"layer": 0, "head": 1}).solved  # layer 0 is the embeddings
    assert not ex.check_head(lm, trace, {"layer": "x", "head": 1}).solved
