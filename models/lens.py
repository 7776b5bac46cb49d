"""Logit lens (nostalgebraist, 2020): read the residual stream after every layer as if it were the last.

A decoder predicts the next token by normalising the last position's final hidden state and multiplying it by
the unembedding matrix. Applying that same final norm + unembedding to the hidden state after EACH layer shows
which tokens the model "has in mind" along the way, e.g. when " Paris" rises to the top.

The trace's hidden states are the raw residual stream at every layer, the last one included (transformers
returns its last entry after the final norm; models.trace replaces it with the last block's raw output). So the
final norm is applied to every row, and the lens of the last layer equals the model's real next-token logits
(tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import i18n
from i18n import N_
from models.sampling import softmax, top_ranked

# Names of the final normalisation on the base model: Llama/Mistral/Qwen `norm`, GPT-2 `ln_f`, OPT
# `final_layer_norm`, Phi `final_layernorm`.
FINAL_NORM_NAMES = ("norm", "ln_f", "final_layer_norm", "final_layernorm")


class NoFinalNorm(i18n.Error, ValueError):
    """The decoder's final normalisation is not under a name the logit lens knows."""


def final_norm(model: Any):
    """The decoder's final normalisation module (applied before the unembedding)."""
    base = model.base_model
    for name in FINAL_NORM_NAMES:
        module = getattr(base, name, None)
        if module is not None:
            return module
    raise NoFinalNorm(N_("{model} has no final normalisation the logit lens knows about (looked for {names})."),
                      model=type(model).__name__, names=", ".join(FINAL_NORM_NAMES))


@dataclass(frozen=True)
class Lens:
    """Top tokens after every layer, for one position. Layer 0 = the embeddings, layer l = after block l."""

    position: int  # the token position read (the last one: it predicts the next token)
    top_ids: np.ndarray  # [L+1, k] most likely next-token ids after each layer
    top_probs: np.ndarray  # [L+1, k] their probabilities (softmax over the full vocabulary)
    final_id: int  # the model's own prediction (arg-max after the last layer)
    final_probs: np.ndarray  # [L+1] probability of final_id after each layer
    final_ranks: np.ndarray  # [L+1] rank of final_id after each layer (0 = top)
    # Not the [L+1, V] logits themselves (lens_logits makes them): a Lens is kept on its trace, and 31 rows of
    # SmolLM2's vocabulary would be 6 MB per trace outside the trace cache's byte budget.

    @property
    def n_layers(self) -> int:
        return self.top_ids.shape[0] - 1


def lens_logits(lm: Any, hidden: np.ndarray) -> np.ndarray:
    """Final norm + unembedding applied to raw hidden states [L+1, d] (a trace's, one position) -> [L+1, V]."""
    import torch

    model = lm.model
    h = torch.from_numpy(np.array(hidden, dtype=np.float32))  # [L+1, d] a copy: trace arrays are read-only
    with torch.inference_mode():
        # forward(), not the modules: no capture hook of a trace being computed in another session fires
        logits = model.get_output_embeddings().forward(final_norm(model).forward(h))  # [L+1, V]
    return logits.float().numpy()


def logit_lens(lm: Any, trace: Any, k: int = 10, position: int = -1) -> Lens:
    """The logit lens of a decoder's trace at one position (default: the last, which predicts the next token),
    computed once and kept on the trace (``Trace.derived``), which every session on that text shares."""
    if lm.spec.head != "causal-lm":
        raise ValueError("The logit lens needs a decoder with a next-token head.")
    T = trace.hidden_states.shape[1]
    position = position % T
    return trace.derived(("lens", k, position), lambda: _logit_lens(lm, trace, k, position))


def _logit_lens(lm: Any, trace: Any, k: int, position: int) -> Lens:
    logits = lens_logits(lm, trace.hidden_states[:, position])  # [L+1, V]
    probs = softmax(logits)  # [L+1, V]
    top_ids = top_ranked(probs, k)  # [L+1, k]
    final_id = int(np.argmax(logits[-1]))
    final_probs = probs[:, final_id]  # [L+1]
    final_ranks = (probs > final_probs[:, None]).sum(axis=-1)  # [L+1] tokens strictly more likely
    return Lens(position=position, top_ids=top_ids, top_probs=np.take_along_axis(probs, top_ids, axis=-1),
                final_id=final_id, final_probs=final_probs, final_ranks=final_ranks)
