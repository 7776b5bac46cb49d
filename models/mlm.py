"""Masked-language-model fill-in: what an encoder with an MLM head (BERT, DistilBERT) puts in a [MASK].

BERT is trained to predict hidden words from BOTH sides, so instead of continuing a text it fills a blank. The
prediction is the MLM head applied to the final hidden state at the [MASK] position, then a softmax over the
full vocabulary. We take that hidden state from the trace (one forward pass, shared with the other pages) and
apply the model's own head modules, so the numbers equal ``model(...).logits`` at that position (tested).

An encoder loaded without an MLM head (the bundled all-MiniLM-L6-v2 is a sentence-embedding model: its
checkpoint has no such head) cannot fill blanks: :func:`has_mlm_head` says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.sampling import softmax

WORD = re.compile(r"\w+", re.UNICODE)


def has_mlm_head(lm: Any) -> bool:
    return lm.spec.head == "masked-lm" and _head(lm.model) is not None


def _head(model: Any):
    """A callable hidden [n, d] -> logits [n, V] built from the model's own MLM head modules, or None."""
    if hasattr(model, "cls") and hasattr(model.cls, "predictions"):  # BertForMaskedLM
        return model.cls
    if hasattr(model, "vocab_projector"):  # DistilBertForMaskedLM: transform, activation, norm, projector
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    if hasattr(model, "lm_head") and getattr(model.config, "is_decoder", False) is False and \
            type(model).__name__.endswith("ForMaskedLM"):  # RoBERTa-style
        return model.lm_head
    return None


def mlm_logits(lm: Any, hidden: np.ndarray) -> np.ndarray:
    """The MLM head on final hidden states [n, d] -> logits [n, V]."""
    import torch

    head = _head(lm.model)
    if head is None:
        raise ValueError(f"{lm.spec.label} has no masked-language-model head.")
    h = torch.from_numpy(np.array(hidden, dtype=np.float32))  # [n, d] a copy: trace arrays are read-only
    with torch.inference_mode():
        return head(h).float().numpy()  # [n, V]


def words(text: str) -> list[tuple[int, int, str]]:
    """(start, end, word) for the words of a text, the choices for "hide this word"."""
    return [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]


def mask_span(text: str, start: int, end: int, mask_token: str) -> str:
    """The text with characters [start, end) replaced by the tokenizer's mask token (spaced off)."""
    return f"{text[:start]}{mask_token}{text[end:]}"


@dataclass(frozen=True)
class Fill:
    """The model's guesses for one [MASK]."""

    position: int  # token position of the [MASK] in the trace
    top_ids: np.ndarray  # [k] best first
    top_probs: np.ndarray  # [k] softmax over the full vocabulary
    logits: np.ndarray  # [V]


def fill_masks(lm: Any, trace: Any, k: int = 20) -> list[Fill]:
    """Predictions for every [MASK] in the trace (empty list when the text has none)."""
    mask_id = lm.tokenizer.mask_token_id
    if mask_id is None:
        raise ValueError(f"{lm.spec.label}'s tokenizer has no mask token.")
    positions = np.flatnonzero(np.asarray(trace.ids) == mask_id)  # [M]
    if positions.size == 0:
        return []
    logits = mlm_logits(lm, trace.hidden_states[-1][positions])  # [M, V]
    probs = softmax(logits)  # [M, V]
    top = np.argsort(-probs, axis=-1, kind="stable")[:, :k]  # [M, k]
    return [Fill(int(p), top[i], probs[i, top[i]], logits[i]) for i, p in enumerate(positions)]
