"""Temperature, top-k and top-p on a model's next-token logits: the math the /next-token page shows.

The numbers equal what transformers' ``generate(do_sample=True, ...)`` samples from. ``generate`` builds its
warpers in ``GenerationMixin._get_logits_processor`` in this order, each one only when it changes something:

1. ``TemperatureLogitsWarper``  (when temperature != 1): ``scores / T``
2. ``TopKLogitsWarper``         (when top_k != 0): keep every score >= the k-th largest (ties at the k-th are
   all kept); k is raised to ``min_tokens_to_keep`` and capped at the vocabulary size
3. ``TopPLogitsWarper``         (when top_p < 1): sort ascending, softmax, cumulative sum; drop the tokens whose
   cumulative probability is <= 1 - p (always keeping the ``min_tokens_to_keep`` most likely)

Removed tokens get a score of -inf, so the final softmax renormalises over the tokens still eligible. :func:`warp`
does exactly these torch operations (same sort, same softmax, same cumsum), so even ties at a cut-off are
broken the same way. Temperature 0 is not something transformers accepts (it raises); here it means greedy
decoding, ``generate(do_sample=False)``: all probability on the arg-max (the first one if several tie), and
top-k/top-p have nothing left to do.

    adj = adjust(trace.last_logits, temperature=0.7, top_k=50, top_p=0.9)
    adj.probs      # [V] the distribution a sampler draws from (zeros outside adj.kept)
    adj.kept       # [V] bool, the tokens still eligible;  adj.n_kept
    adj.entropy_original, adj.entropy_final  # bits
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TEMPERATURE_MAX = 2.0  # the page's slider range; the functions here accept any T >= 0


def check_settings(temperature: float, top_k: int, top_p: float) -> None:
    """ValueError (one sentence) for settings that transformers would reject or that mean nothing."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0, not {temperature!r}.")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
        raise ValueError(f"top_k must be a whole number >= 0 (0 = off), not {top_k!r}.")
    if not (isinstance(top_p, (int, float)) and math.isfinite(top_p) and 0 <= top_p <= 1):
        raise ValueError(f"top_p must be between 0 and 1 (1 = off), not {top_p!r}.")


def warp(scores, temperature: float, top_k: int = 0, top_p: float = 1.0, min_tokens_to_keep: int = 1):
    """transformers' Temperature -> TopK -> TopP warpers on a torch tensor of scores [..., V].

    Returns the processed scores [..., V] (removed tokens at -inf), exactly what ``generate(do_sample=True)``
    hands to ``softmax`` + ``multinomial``. Needs temperature > 0 (0 is greedy: see :func:`adjust`).
    Works on a batch [B, V] too, so a generation loop can call it once per step."""
    import torch

    check_settings(temperature, top_k, top_p)
    if temperature == 0:
        raise ValueError("temperature 0 is greedy decoding: take the arg-max instead of sampling.")
    if isinstance(scores, np.ndarray):
        scores = torch.from_numpy(np.array(scores, dtype=np.float32))
    scores = torch.as_tensor(scores, dtype=torch.float32)
    squeeze = scores.dim() == 1
    if squeeze:
        scores = scores[None]  # [1, V]: the warpers index the last dimension of a batch
    if temperature != 1.0:
        scores = scores / float(temperature)  # [B, V]
    if top_k != 0:
        k = min(max(int(top_k), min_tokens_to_keep), scores.size(-1))
        kth = torch.topk(scores, k)[0][..., -1, None]  # [B, 1] the k-th largest score
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if top_p < 1.0:
        sorted_scores, sorted_idx = torch.sort(scores, descending=False)  # [B, V] ascending
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)  # [B, V]
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[..., -min_tokens_to_keep:] = 0  # the most likely tokens always stay
        remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)  # back to vocabulary order
        scores = scores.masked_fill(remove, -float("inf"))
    return scores[0] if squeeze else scores


def softmax(logits) -> np.ndarray:
    """softmax over the LAST axis in float32, computed by torch exactly as transformers does. [..., V]"""
    import torch

    if isinstance(logits, np.ndarray):
        logits = torch.from_numpy(np.array(logits, dtype=np.float32))  # a copy: trace arrays are read-only
    return torch.as_tensor(logits, dtype=torch.float32).softmax(dim=-1).numpy()


def entropy_bits(probs: np.ndarray) -> float:
    """Shannon entropy in bits: 0 = certain; log2(n) = n equally likely tokens."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return max(0.0, float(-(p * np.log2(p)).sum()))  # max: a one-hot gives -0.0


def ranking(values: np.ndarray) -> np.ndarray:
    """Vocabulary ids from the largest value down; equal values in id order. [V]"""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


@dataclass(frozen=True)
class Adjusted:
    """Every stage of the recipe for one [V] logit vector (arrays are in vocabulary order)."""

    temperature: float
    top_k: int
    top_p: float
    greedy: bool  # temperature 0: arg-max only
    logits: np.ndarray  # [V] the model's logits
    scaled: np.ndarray  # [V] logits / T (T = 0: the logits themselves; only their arg-max matters)
    probs_original: np.ndarray  # [V] softmax(logits): the model's own distribution (T = 1, nothing cut)
    probs_scaled: np.ndarray  # [V] softmax(logits / T) over the full vocabulary (T = 0: one-hot)
    kept_top_k: np.ndarray  # [V] bool: survives top-k (all True when top-k is off)
    probs_top_p_sees: np.ndarray  # [V] the distribution top-p cuts: softmax after temperature and top-k
    kept: np.ndarray  # [V] bool: still eligible after top-k and top-p (a -inf logit never is)
    probs: np.ndarray  # [V] final distribution, renormalised over `kept` (0 elsewhere)

    @property
    def vocab_size(self) -> int:
        return int(self.logits.shape[-1])

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def n_nonzero(self) -> int:
        """Eligible tokens whose probability is not 0 in float32 (a tiny T underflows all but a few)."""
        return int((self.probs > 0).sum())

    @property
    def n_kept_top_k(self) -> int:
        return int(self.kept_top_k.sum())

    @property
    def entropy_original(self) -> float:
        return entropy_bits(self.probs_original)

    @property
    def entropy_final(self) -> float:
        return entropy_bits(self.probs)

    @property
    def kept_mass(self) -> float:
        """Share of the temperature-scaled distribution that survives the cuts (before renormalising)."""
        return float(self.probs_scaled[self.kept].astype(np.float64).sum())

    def nucleus_curve(self) -> np.ndarray:
        """Cumulative probability of the distribution top-p sees, most likely token first. [V]"""
        p = self.probs_top_p_sees.astype(np.float64)
        return np.cumsum(p[ranking(p)])


def adjust(logits, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Adjusted:
    """Apply temperature, top-k and top-p (in ``generate``'s order) to one logit vector [V].

    temperature 0 = greedy (all mass on the arg-max); top_k 0 = off; top_p 1 = off."""
    import torch

    check_settings(temperature, top_k, top_p)
    logits = np.array(logits, dtype=np.float32)  # [V] own copy (trace arrays are read-only)
    if logits.ndim != 1 or logits.size == 0:
        raise ValueError(f"expected one vector of logits [V], got shape {logits.shape}.")
    if np.isnan(logits).any() or not np.isfinite(logits).any() or np.isposinf(logits).any():
        raise ValueError("the logits must be numbers, with at least one finite and none +inf.")
    probs_original = softmax(logits)  # [V]
    if temperature == 0:  # greedy: the limit T -> 0 puts everything on the arg-max
        top = int(np.argmax(logits))  # first of equal maxima, like torch.argmax in greedy search
        one_hot = np.zeros_like(probs_original)
        one_hot[top] = 1.0
        kept = one_hot.astype(bool)
        return Adjusted(0.0, int(top_k), float(top_p), True, logits, logits, probs_original, one_hot,
                        kept_top_k=kept, probs_top_p_sees=one_hot, kept=kept, probs=one_hot)
    t = torch.from_numpy(logits)
    scaled = warp(t, temperature)  # [V] logits / T
    if torch.isposinf(scaled).any():
        raise ValueError(f"temperature {temperature:g} is too small to compute in float32: use 0 for greedy.")
    after_k = warp(scaled, 1.0, top_k=top_k)  # [V] -inf outside the top k
    final = warp(after_k, 1.0, top_p=top_p)  # [V] -inf outside the nucleus too
    return Adjusted(
        temperature=float(temperature), top_k=int(top_k), top_p=float(top_p), greedy=False,
        logits=logits, scaled=scaled.numpy(), probs_original=probs_original, probs_scaled=softmax(scaled),
        kept_top_k=torch.isfinite(after_k).numpy(), probs_top_p_sees=softmax(after_k),
        kept=torch.isfinite(final).numpy(), probs=softmax(final),
    )


def token_texts(tokenizer: Any, ids, kind: str) -> list[str]:
    """What each candidate id would add to the text: its decoded string (" Paris"), or for a byte-level piece
    that is only part of a UTF-8 character, its bytes in hex ("<F0><9F>") instead of a replacement character."""
    from models.tokens import Encoding, describe

    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    specials = set(tokenizer.all_special_ids)
    enc = Encoding(ids=ids, offsets=np.zeros((len(ids), 2), dtype=np.int64),
                   special=np.array([int(i) in specials for i in ids], dtype=bool), n_total=len(ids))
    return [p.shown if p.partial else (p.raw if p.special else p.decoded) for p in describe(tokenizer, enc, "", kind)]
