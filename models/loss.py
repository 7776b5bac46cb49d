"""The training signal at every position: how well a decoder predicted each token that actually follows.

A causal LM reads tokens 0..t and predicts token t+1, at EVERY position t at once (the causal mask keeps the
future out). Pre-training lowers the cross-entropy: the mean over positions of −log p(actual next token). This is
exactly what transformers computes for ``model(ids, labels=ids).loss`` (labels shifted by one), tested.

Only small per-position arrays are kept ([T-1] each): the full [T, V] log-probabilities would be ~100 MB for a
512-token SmolLM2 text, and nothing on screen needs them. No streamlit here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

CHUNK = 64  # rows of [T, V] logits turned into log-probabilities at once (64 × 49,152 floats = 12.6 MB)


@dataclass(frozen=True)
class NextTokenScores:
    """Entry j is the prediction made at position j (after reading tokens 0..j) for token j+1."""

    logprobs: np.ndarray  # [T-1] float32: log p(ids[j+1] | ids[:j+1]), log_softmax of the model's float32 logits
    ranks: np.ndarray  # [T-1] int64: 1 + how many of the V tokens got a strictly higher logit at position j
    top_ids: np.ndarray  # [T-1] int64: the model's most likely next token at position j
    top_logprobs: np.ndarray  # [T-1] float32: its log-probability

    @property
    def n(self) -> int:
        """How many predictions: T-1 (the first token has none)."""
        return len(self.logprobs)

    @property
    def losses(self) -> np.ndarray:
        """[T-1] the cross-entropy at each position, −log p (in nats: natural log, as training uses)."""
        return -self.logprobs.astype(np.float64)

    @property
    def probs(self) -> np.ndarray:
        """[T-1] p(actual next token)."""
        return np.exp(self.logprobs.astype(np.float64))

    @property
    def mean_loss(self) -> float:
        """The text's loss: the mean of the per-position losses (NaN when there is no prediction)."""
        return float(self.losses.mean()) if self.n else math.nan

    @property
    def perplexity(self) -> float:
        """exp(mean loss): as unsure, on average, as a uniform pick among this many tokens."""
        return math.exp(self.mean_loss) if self.n else math.nan

    def most_surprising(self, k: int) -> np.ndarray:
        """Indices j of the k highest losses, highest first (ties: earlier position first)."""
        return np.argsort(-self.losses, kind="stable")[:k]

    @property
    def nbytes(self) -> int:  # counted by the trace cache's byte budget
        return sum(a.nbytes for a in (self.logprobs, self.ranks, self.top_ids, self.top_logprobs))


def next_token_scores(lm: Any, trace: Any) -> NextTokenScores | None:
    """The training signal of a decoder's trace (None for a model without a next-token head), computed once and
    kept on the trace (``Trace.derived``, a few [T-1] arrays).

    The trace keeps only the last position's logits, so the other rows are made here the way the model makes
    them: its final norm and its unembedding applied to ``hidden_states[L]`` (the last block's raw output),
    ``CHUNK`` rows at a time. ``forward()`` is called rather than the modules, so no capture hook that another
    session's trace has put on them fires. Equal to the logits of a full forward pass (tested)."""
    if lm.spec.head != "causal-lm":
        return None

    def make() -> NextTokenScores:
        import torch

        from models.lens import final_norm

        norm, head = final_norm(lm.model), lm.model.get_output_embeddings()
        last = torch.from_numpy(np.array(trace.hidden_states[-1], dtype=np.float32))  # [T, d] a writable copy

        def rows(start: int, stop: int):
            return head.forward(norm.forward(last[start:stop]))  # [c, V]

        return score_next_tokens(rows, trace.ids)

    return trace.derived("next_tokens", make)


def score_next_tokens(logits: Any, ids: np.ndarray, chunk: int = CHUNK) -> NextTokenScores:
    """Per-position scores of the actual next tokens from a causal LM's logits.

    ``logits``: torch tensor [T, V], the model's output for ``ids`` [T] (row t predicts ids[t+1]; the last row
    predicts a token the text does not contain and is not scored), or a function ``(start, stop) -> [stop-start,
    V]`` that makes those rows on demand. log_softmax runs in float32, ``chunk`` rows at a time, so only
    [chunk, V] extra floats exist at once."""
    import torch

    if callable(logits):
        rows_of = logits
    else:
        def rows_of(start: int, stop: int):
            return logits[start:stop]

    ids_t = torch.tensor(np.array(ids, dtype=np.int64))  # a copy: the trace's ids are read-only
    T = int(ids_t.shape[0])
    n = max(T - 1, 0)
    logprobs = np.empty(n, dtype=np.float32)
    ranks = np.empty(n, dtype=np.int64)
    top_ids = np.empty(n, dtype=np.int64)
    top_logprobs = np.empty(n, dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            rows = rows_of(start, stop).float()  # [c, V]
            target = ids_t[start + 1:stop + 1, None]  # [c, 1] the tokens that actually follow
            lp = torch.log_softmax(rows, dim=-1)  # [c, V]
            logprobs[start:stop] = lp.gather(1, target)[:, 0].numpy()
            # rank on the logits themselves (softmax is monotonic): ties share the better rank
            ranks[start:stop] = (rows > rows.gather(1, target)).sum(-1).numpy() + 1
            best = lp.max(dim=-1)
            top_ids[start:stop] = best.indices.numpy()
            top_logprobs[start:stop] = best.values.numpy()
    for a in (logprobs, ranks, top_ids, top_logprobs):
        a.setflags(write=False)
    return NextTokenScores(logprobs, ranks, top_ids, top_logprobs)
