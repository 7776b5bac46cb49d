"""Masked-LM fill-in on tiny random BERT and DistilBERT (MiniLM's real WordPiece tokenizer): the predictions
are the model's own logits at the [MASK] position. The bundled MiniLM has no MLM head."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import mlm
from models.loading import load, load_tokenizer
from models.registry import ModelSpec
from models.trace import compute_trace


def build(kind: str, folder):
    from transformers import BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM

    tok = load_tokenizer("minilm-l6")
    torch.manual_seed(1)
    if kind == "bert":
        model = BertForMaskedLM(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                           intermediate_size=64, vocab_size=30522))
    else:
        model = DistilBertForMaskedLM(DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=30522))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return load(ModelSpec(id=f"tiny-{kind}-mlm", label=f"Tiny {kind}", family="encoder", source="local",
                          path=str(folder), head="masked-lm"))


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tiny_mlm(request, tmp_path_factory):
    return build(request.param, tmp_path_factory.mktemp(f"tiny-{request.param}"))


def test_fill_masks_equals_the_models_own_mlm_logits(tiny_mlm):
    assert mlm.has_mlm_head(tiny_mlm)
    text = "the capital of france is [MASK] and [MASK] is big."
    tr = compute_trace(tiny_mlm, text)
    fills = mlm.fill_masks(tiny_mlm, tr, k=7)
    mask_id = tiny_mlm.tokenizer.mask_token_id
    assert [f.position for f in fills] == np.flatnonzero(tr.ids == mask_id).tolist() and len(fills) == 2
    with torch.inference_mode():
        logits = tiny_mlm.model(input_ids=torch.from_numpy(tr.ids.copy())[None]).logits[0]  # [T, V]
    for f in fills:
        own = logits[f.position]
        np.testing.assert_allclose(f.logits, own.numpy(), atol=1e-5, rtol=0)
        top = own.softmax(-1).topk(7)
        np.testing.assert_allclose(f.top_probs, top.values.numpy(), atol=1e-6)
        assert set(f.top_ids.tolist()) == set(top.indices.tolist())
        assert (np.diff(f.top_probs) <= 0).all()


def test_hiding_a_word_puts_one_mask_token_in_its_place(tiny_mlm):
    text = "students celebrate the graduation with a big party"
    spans = mlm.words(text)
    assert [w for _, _, w in spans] == text.split()
    start, end, word = spans[-1]
    masked = mlm.mask_span(text, start, end, tiny_mlm.tokenizer.mask_token)
    assert masked == "students celebrate the graduation with a big [MASK]"
    tr = compute_trace(tiny_mlm, masked)
    assert (tr.ids == tiny_mlm.tokenizer.mask_token_id).sum() == 1
    assert mlm.fill_masks(tiny_mlm, compute_trace(tiny_mlm, text)) == []  # nothing hidden, nothing to fill


def test_bundled_minilm_has_no_mlm_head(minilm):
    assert not mlm.has_mlm_head(minilm)
    with pytest.raises(ValueError, match="no masked-language-model head"):
        mlm.mlm_logits(minilm, np.zeros((1, minilm.facts.d_model), dtype=np.float32))


def test_hub_berts_load_with_their_mlm_head():
    """The registry asks for AutoModelForMaskedLM for the hub BERTs, so their head is there when loaded."""
    from models.loading import _model_class
    from models.registry import get_spec

    for model_id in ("bert-base-uncased", "distilbert-base-uncased"):
        assert _model_class(get_spec(model_id)).__name__ == "AutoModelForMaskedLM"
