"""The training signal at every position (models/loss.py, Trace.next_tokens): the per-position losses are
torch's CrossEntropyLoss on the logits of an independent stock forward, their mean is transformers' own
``model(ids, labels=ids).loss``, and the trace keeps only [T-1]-sized arrays."""
from __future__ import annotations

import html
import math

import numpy as np
import pytest
import torch

from components.cache import trace_nbytes
from components.loss_plots import loss_bars
from models.loading import load
from models.loss import next_token_scores, score_next_tokens
from models.registry import ModelSpec
from models.trace import compute_trace

TEXTS = ["students celebrate the graduation with a big party",
         "The capital of France is Paris, and the capital of Italy is Rome.",
         "今天天气很好，我们去公园散步吧。"]


def stock_reference(model, ids: np.ndarray):
    """transformers' own loss and torch's per-position cross-entropy for ``ids``, from a plain forward (no
    hooks, no attention outputs, no attention mask)."""
    t = torch.from_numpy(np.array(ids, dtype=np.int64))[None]
    with torch.inference_mode():
        out = model(input_ids=t, labels=t)
        logits = out.logits[0].float()  # [T, V]
        per_position = torch.nn.CrossEntropyLoss(reduction="none")(logits[:-1], t[0, 1:])
    return out.loss.item(), per_position.numpy().astype(np.float64), logits.numpy()


@pytest.fixture(scope="module")
def tiny_gpt2_lm(tiny_gpt2):
    """The tiny random GPT-2 loaded the way the app loads a local folder."""
    return load(ModelSpec(id="tiny-gpt2", label="Tiny GPT-2", family="decoder", source="local",
                          path=str(tiny_gpt2.dir), head="causal-lm"))


def check_against_stock(lm, stock_model, text: str) -> None:
    tr = compute_trace(lm, text)
    s = next_token_scores(lm, tr)
    assert s is not None and s.n == tr.n_tokens - 1 > 0
    mean_ref, ce, logits = stock_reference(stock_model, tr.ids)
    assert np.max(np.abs(s.losses - ce)) <= 1e-5
    assert abs(s.mean_loss - mean_ref) <= 1e-5
    assert s.perplexity == pytest.approx(math.exp(mean_ref), rel=1e-5)
    assert s.perplexity == math.exp(s.mean_loss)
    np.testing.assert_allclose(s.probs, np.exp(-ce), rtol=1e-5, atol=1e-9)
    targets = tr.ids[1:]
    # rank: where the actual token lands when the V logits are sorted, most likely first
    order = np.argsort(-logits[:-1], axis=1, kind="stable")
    ranks = np.argmax(order == targets[:, None], axis=1) + 1
    np.testing.assert_array_equal(s.ranks, ranks)
    np.testing.assert_array_equal(s.top_ids, logits[:-1].argmax(1))
    np.testing.assert_allclose(s.top_logprobs, torch.log_softmax(torch.from_numpy(logits[:-1]), -1).max(-1)
                               .values.numpy(), atol=1e-5)


@pytest.mark.parametrize("text", TEXTS)
def test_smollm2_losses_equal_cross_entropy_of_a_stock_forward(smollm2, text):
    check_against_stock(smollm2, smollm2.model, text)


@pytest.mark.parametrize("text", TEXTS[:2])
def test_tiny_gpt2_losses_equal_cross_entropy_of_the_original_model(tiny_gpt2_lm, tiny_gpt2, text):
    """The reference is the in-memory model built in conftest, not the copy the app loaded from its folder."""
    check_against_stock(tiny_gpt2_lm, tiny_gpt2.model, text)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_any_chunk_size_gives_cross_entropy(chunk):
    torch.manual_seed(1)
    logits = torch.randn(10, 50) * 4
    ids = torch.randint(0, 50, (10,))
    s = score_next_tokens(logits, ids.numpy(), chunk=chunk)
    ce = torch.nn.functional.cross_entropy(logits[:-1], ids[1:], reduction="none").numpy()
    np.testing.assert_allclose(s.losses, ce, atol=1e-6)
    assert s.n == 9 and not s.logprobs.flags.writeable


def test_ties_share_the_better_rank_and_the_most_surprising_come_first():
    logits = torch.tensor([[0.0, 2.0, 2.0, 1.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0] * 4])
    s = score_next_tokens(logits, np.array([0, 2, 3, 1]))
    assert s.ranks.tolist() == [1, 2, 1]  # token 2 ties with token 1 for first place; row 2 is all equal
    assert s.most_surprising(2).tolist() == [1, 2]  # p = e^0 / (e^3 + 3) is the smallest, then 1/4
    assert s.most_surprising(9).tolist() == [1, 2, 0]


def test_one_token_has_no_prediction(smollm2):
    tr = compute_trace(smollm2, "Hello")
    s = next_token_scores(smollm2, tr)
    assert tr.n_tokens == 1 and s.n == 0
    assert math.isnan(s.mean_loss) and math.isnan(s.perplexity)


def test_encoders_have_no_next_token_scores(minilm):
    assert next_token_scores(minilm, compute_trace(minilm, TEXTS[0])) is None


def test_the_trace_keeps_no_vocabulary_sized_array_per_position(smollm2):
    """The trace's forward asks for the last position's logits only; the training signal is made later from
    hidden_states[L], kept on the trace as four [T-1] arrays, and computed once."""
    tr = compute_trace(smollm2, TEXTS[1])
    T, V = tr.n_tokens, smollm2.facts.vocab_size
    assert tr.last_logits.nbytes == V * 4
    assert trace_nbytes(tr) == sum(a.nbytes for a in (tr.ids, tr.offsets, tr.special, tr.token_embeddings,
                                                      tr.hidden_states, tr.attentions, tr.last_logits))
    s = next_token_scores(smollm2, tr)
    assert s.nbytes <= 4 * 8 * (T - 1)
    assert next_token_scores(smollm2, tr) is s


def test_loss_bars_draw_each_loss_with_escaped_labels_and_a_hover_naming_the_rank():
    losses = np.array([0.5, 3.0, 7.25])
    fig = loss_bars(["1 <b>", "2 &x", "3 ␣ok"], losses, np.exp(-losses), np.array([1, 12, 3000]),
                    ["<i>", "a", "b"], np.array([0.9, 0.5, 0.1]), 49152, title="t <script>")
    bar = fig.data[0]
    assert list(bar.x) == [html.escape(s) for s in ["1 <b>", "2 &x", "3 ␣ok"]]
    np.testing.assert_array_equal(bar.y, losses)
    assert bar.customdata[2][1] == 3000 and bar.customdata[0][2] == "&lt;i&gt;"
    assert "of 49,152" in bar.hovertemplate and "%{customdata[1]:,}" in bar.hovertemplate
    assert bar.marker.colorscale[0][1] != bar.marker.colorscale[-1][1] and bar.marker.cmin == 0
    assert fig.layout.title.text == "t &lt;script&gt;"
    assert fig.layout.shapes[0].y0 == pytest.approx(losses.mean())  # the dashed mean line
