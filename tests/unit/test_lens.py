"""Logit lens: final norm + unembedding on every layer's hidden state; the last layer IS the model's prediction."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.lens import final_norm, lens_logits, logit_lens
from models.loading import load
from models.registry import ModelSpec
from models.trace import compute_trace

TEXT = "The capital of France is"


@pytest.fixture(scope="module")
def smollm2_trace(smollm2):
    return compute_trace(smollm2, TEXT)


def test_last_layer_of_the_lens_is_the_models_own_next_token_logits(smollm2, smollm2_trace):
    lens = logit_lens(smollm2, smollm2_trace, k=10)
    logits = lens_logits(smollm2, smollm2_trace.hidden_states[:, -1])  # what logit_lens ranks
    L = smollm2.facts.n_layers
    assert logits.shape == (L + 1, smollm2.facts.vocab_size) and lens.n_layers == L
    np.testing.assert_allclose(logits[-1], smollm2_trace.last_logits, atol=1e-4, rtol=0)
    assert lens.final_id == int(np.argmax(smollm2_trace.last_logits))
    assert lens.top_ids[-1, 0] == lens.final_id and lens.final_ranks[-1] == 0
    assert lens.position == smollm2_trace.n_tokens - 1


def test_the_last_layer_is_raw_so_the_lens_norms_every_row(smollm2, smollm2_trace):
    """The trace's layer L is the last block's own output (not transformers' normed last hidden state): the
    final norm and the unembedding applied to it give the model's own logits, and the raw row alone does not."""
    h_last = torch.from_numpy(smollm2_trace.hidden_states[-1, -1].copy())
    with torch.inference_mode():
        once = smollm2.model.lm_head(final_norm(smollm2.model)(h_last)).numpy()
        raw = smollm2.model.lm_head(h_last).numpy()
    np.testing.assert_allclose(once, smollm2_trace.last_logits, atol=1e-3, rtol=0)
    assert np.abs(raw - smollm2_trace.last_logits).max() > 1.0
    assert type(final_norm(smollm2.model)).__name__ == "LlamaRMSNorm"


def test_middle_layers_are_normed_then_unembedded(smollm2, smollm2_trace):
    """Layer l of the lens = RMSNorm(h_l) @ W_U^T, computed here by hand from the weights."""
    norm = smollm2.model.model.norm
    W = smollm2.model.lm_head.weight.detach()  # [V, d] (tied to the input embeddings in SmolLM2)
    logits = lens_logits(smollm2, smollm2_trace.hidden_states[:, -1])
    for layer in (0, 7, 15, 29):
        h = torch.from_numpy(smollm2_trace.hidden_states[layer, -1].copy())  # [d]
        rms = h * torch.rsqrt(h.pow(2).mean() + norm.variance_epsilon) * norm.weight.detach()
        np.testing.assert_allclose(logits[layer], (W @ rms).numpy(), atol=2e-3, rtol=1e-5)


def test_top_tokens_and_final_token_track(smollm2, smollm2_trace):
    lens = logit_lens(smollm2, smollm2_trace, k=5)
    probs = torch.from_numpy(lens_logits(smollm2, smollm2_trace.hidden_states[:, -1])).softmax(-1).numpy()
    np.testing.assert_allclose(lens.top_probs, np.take_along_axis(probs, lens.top_ids, axis=-1), atol=1e-7)
    assert (np.diff(lens.top_probs, axis=-1) <= 0).all()  # best first
    np.testing.assert_allclose(lens.final_probs, probs[:, lens.final_id], atol=1e-7)
    for layer in (0, 10, 30):
        assert lens.final_ranks[layer] == int((probs[layer] > probs[layer, lens.final_id]).sum())


def test_lens_at_another_position(smollm2, smollm2_trace):
    lens = logit_lens(smollm2, smollm2_trace, position=1)
    ids = torch.from_numpy(smollm2_trace.ids.copy())[None]
    with torch.inference_mode():
        own = smollm2.model(input_ids=ids).logits[0, 1].numpy()
    np.testing.assert_allclose(lens_logits(smollm2, smollm2_trace.hidden_states[:, 1])[-1], own, atol=1e-4, rtol=0)
    assert lens.position == 1 and lens.final_id == int(np.argmax(own))


def test_gpt2_architecture_uses_ln_f_and_matches_its_logits(tiny_gpt2):
    lm = load(ModelSpec(id="tiny-gpt2-lens", label="Tiny GPT-2", family="decoder", source="local",
                        path=str(tiny_gpt2.dir), head="causal-lm"))
    assert final_norm(lm.model) is lm.model.transformer.ln_f
    tr = compute_trace(lm, "The quick brown fox")
    lens = logit_lens(lm, tr)
    np.testing.assert_allclose(lens_logits(lm, tr.hidden_states[:, -1])[-1], tr.last_logits, atol=1e-4, rtol=0)
    assert lens.final_id == int(np.argmax(tr.last_logits))
    with torch.inference_mode():
        h0 = torch.from_numpy(tr.hidden_states[0, -1].copy())
        expected = lm.model.lm_head(lm.model.transformer.ln_f(h0)).numpy()
    np.testing.assert_allclose(lens_logits(lm, tr.hidden_states[:, -1])[0], expected, atol=1e-5)


def test_encoders_have_no_logit_lens(minilm):
    tr = compute_trace(minilm, TEXT)
    with pytest.raises(ValueError, match="decoder"):
        logit_lens(minilm, tr)
