"""Predict, then reveal: the class's guesses scored by the real SmolLM2, checked against separate transformers
forward passes (one per prefix) and the trace's own next-token logits."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from classroom import scoring

TEXT = "The capital of France is"


def test_spacing_rule():
    assert scoring.continuation_for(TEXT, " Paris ") == " Paris"
    assert scoring.continuation_for(TEXT + " ", "Paris") == "Paris"
    assert scoring.continuation_for(TEXT, ", obviously") == ", obviously"
    assert scoring.continuation_for("中国的首都是", "北京") == "北京"
    assert scoring.continuation_for("", "Hello") == "Hello"


def _separate_passes(lm, prefix: list[int], ids: list[int]) -> list[float]:
    """p(ids[i] | prefix + ids[:i]) with one plain forward pass per prefix, softmax of the last logits."""
    out = []
    for i, t in enumerate(ids):
        x = torch.tensor([prefix + ids[:i]])
        with torch.inference_mode():
            logits = lm.model(input_ids=x).logits[0, -1].double()
        out.append(float(torch.softmax(logits, -1)[t]))
    return out


def test_scores_equal_separate_forward_passes(smollm2):
    from models.trace import compute_trace

    counts = {"Paris": 5, "a beautiful city": 2, "Lyon": 1}
    scores = scoring.score_guesses(smollm2, TEXT, counts)
    assert [s.guess for s in scores] == ["Paris", "a beautiful city", "Lyon"]
    prefix = [int(i) for i in smollm2.tokenizer(TEXT)["input_ids"]]
    trace = compute_trace(smollm2, TEXT)
    p_trace = torch.softmax(torch.tensor(trace.last_logits, dtype=torch.float64), -1)
    for s in scores:
        ids = smollm2.tokenizer(" " + s.guess, add_special_tokens=False)["input_ids"]
        assert list(s.ids) == ids and s.continuation == " " + s.guess
        expected = _separate_passes(smollm2, prefix, ids)
        np.testing.assert_allclose(s.token_probs, expected, rtol=1e-3, atol=1e-6)
        assert s.prob == pytest.approx(math.prod(expected), rel=1e-3)
        assert s.token_probs[0] == pytest.approx(float(p_trace[ids[0]]), rel=1e-3, abs=1e-6)
    multi = scores[1]
    assert len(multi.ids) > 1  # the chained case is really exercised
    assert scores[0].prob > 0.2 > multi.prob  # SmolLM2 puts most mass on " Paris" (TEACHING.md)


def test_encoder_is_refused(minilm):
    with pytest.raises(scoring.NotADecoder):
        scoring.score_guesses(minilm, TEXT, {"Paris": 1})


def test_perplexities():
    assert scoring.class_perplexity({"Paris": 7}) == pytest.approx(1.0)
    assert scoring.class_perplexity({"a": 2, "b": 2, "c": 2, "d": 2}) == pytest.approx(4.0)
    assert math.isnan(scoring.class_perplexity({}))
    assert scoring.model_perplexity(np.zeros(10)) == pytest.approx(10.0)
    logits = np.log(np.array([0.5, 0.25, 0.25]))
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert scoring.model_perplexity(logits) == pytest.approx(math.exp(h))
    s = [scoring.GuessScore("a", " a", (1,), ("a",), (0.5,), 3),
         scoring.GuessScore("b", " b", (2,), ("b",), (0.125,), 1)]
    assert scoring.surprise_perplexity(s) == pytest.approx(math.exp((3 * math.log(2) + math.log(8)) / 4))


def test_guess_pieces_decode_to_the_continuation(smollm2):
    [s] = scoring.score_guesses(smollm2, TEXT, {"a beautiful city": 1})
    assert "".join(s.pieces).replace("␣", " ") == s.continuation


@pytest.mark.parametrize("model", ["smollm2", "minilm"])
def test_attention_poll_choices_and_weights(model, request):
    """The choices are the positions the query may read (causal mask for the decoder), the weights those of a
    plain transformers forward with output_attentions."""
    from models.trace import compute_trace

    lm = request.getfixturevalue(model)
    text = "students celebrate the graduation with a big party"
    trace = compute_trace(lm, text)
    q = 4
    choices = scoring.attention_choices(lm, trace, q)
    n_visible = q + 1 if model == "smollm2" else len(trace.ids)
    assert len(choices) == n_visible and len(set(choices)) == n_visible
    assert choices[0].startswith("0: ") and choices[-1].startswith(f"{n_visible - 1}: ")
    ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
    with torch.inference_mode():
        att = lm.model(input_ids=ids, output_attentions=True).attentions
    row = scoring.attention_row(trace, 2, 3, q)  # layer 2 = block index 1, head 3 = index 2
    np.testing.assert_allclose(row, att[1][0, 2, q].double().numpy(), atol=1e-5)
    assert row.sum() == pytest.approx(1.0, abs=1e-5)
    if model == "smollm2":
        assert np.all(row[q + 1:] == 0)
    with pytest.raises(scoring.BadPoll):
        scoring.attention_choices(lm, trace, len(trace.ids))


def test_blank_scores_equal_the_mlm_heads_own_softmax(tiny_bert):
    """A one-token guess gets the softmax of BertForMaskedLM's own logits at the [MASK]; a guess of several tokens
    is counted, not scored."""
    from models.loading import load
    from models.registry import ModelSpec
    from models.trace import compute_trace

    lm = load(ModelSpec(id="tiny-bert-class", label="Tiny BERT", family="encoder", source="local",
                        path=str(tiny_bert.dir), head="masked-lm"))
    text = "students celebrate the graduation with a big [MASK]"
    trace = compute_trace(lm, text)
    counts = {"party": 3, "cake": 1, "celebrationification": 1}
    scores, logits = scoring.blank_scores(lm, trace, counts)
    ids = tiny_bert.tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        own = tiny_bert.model(input_ids=ids).logits[0]  # [T, V]
    pos = int((ids[0] == tiny_bert.tokenizer.mask_token_id).nonzero()[0, 0])
    p = torch.softmax(own[pos].double(), -1)
    by = {s.guess: s for s in scores}
    for word in ("party", "cake"):
        [tid] = tiny_bert.tokenizer(word, add_special_tokens=False)["input_ids"]
        assert by[word].prob == pytest.approx(float(p[tid]), rel=1e-4)
    long = by["celebrationification"]
    assert len(long.ids) > 1 and math.isnan(long.prob) and long.count == 1
    assert scoring.model_perplexity(logits) == pytest.approx(
        math.exp(float(-(p * torch.log(p)).sum())), rel=1e-4)
    assert scoring.surprise_perplexity(scores) == pytest.approx(
        math.exp(-(3 * math.log(by["party"].prob) + math.log(by["cake"].prob)) / 4))
    with pytest.raises(scoring.BadPoll):
        scoring.blank_scores(lm, compute_trace(lm, "no blank here"), counts)
