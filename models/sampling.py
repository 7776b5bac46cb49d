"""Temperature, top-k and top-p on a model's next-token logits: the math the /next-token page shows.

The numbers equal what transformers' ``generate(do_sample=True, ...)`` samples from. ``generate`` builds its
warpers in ``GenerationMixin._get_logits_processor`` in this order, each one only when it changes something:

1. ``TemperatureLogitsWarper``  (when temperature != 1): ``scores / T``
2. ``TopKLogitsWarper``         (when top_k != 0): keep every score >= the k-th largest (ties at the k-th are
   all kept); k is raised to ``min_tokens_to_keep`` and capped at the vocabulary size
3. ``TopPLogitsWarper``         (when top_p < 1): sort ascending, softmax, cumulative sum; drop the tokens whose
   cumulative probability is <= 1 - p (always keeping the ``min_tokens_to_keep`` most likely)

Removed tokens get a score of -inf, so the final softmax renormalises over the tokens still eligible. :func:`warp`
gives the same scores bit for bit (same float32 division, same softmax and cumsum kernels); when exact ties
straddle the top-p cut it uses torch.sort like transformers, so even those are broken the same way. Temperature 0 is not something transformers accepts (it raises); here it means greedy
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

import i18n
from i18n import N_


class BadSetting(i18n.Error, ValueError):
    """A sampling setting that transformers would reject or that means nothing (one sentence, worded when shown)."""


def check_settings(temperature: float, top_k: int, top_p: float) -> None:
    """BadSetting (a ValueError, one sentence) for settings that transformers would reject or that mean nothing."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise BadSetting(N_("The temperature must be a finite number ≥ 0, not {value!r}."), value=temperature)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
        raise BadSetting(N_("Top-k must be a whole number ≥ 0 (0 = off), not {value!r}."), value=top_k)
    if not (isinstance(top_p, (int, float)) and math.isfinite(top_p) and 0 <= top_p <= 1):
        raise BadSetting(N_("Top-p must be between 0 and 1 (1 = off), not {value!r}."), value=top_p)


def warp(scores, temperature: float, top_k: int = 0, top_p: float = 1.0, min_tokens_to_keep: int = 1):
    """transformers' Temperature -> TopK -> TopP warpers on scores [V] or [B, V] (torch tensor or numpy).

    Returns a float32 torch tensor of the processed scores, same shape (removed tokens at -inf): bit for bit
    what ``generate(do_sample=True)`` hands to ``softmax`` + ``multinomial``. Needs temperature > 0 (0 is
    greedy: see :func:`adjust`). A generation loop can call it once per step on a batch."""
    import torch

    check_settings(temperature, top_k, top_p)
    if temperature == 0:
        raise ValueError("temperature 0 is greedy decoding: take the arg-max instead of sampling.")
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().to(torch.float32).cpu().numpy()
    x = np.array(scores, dtype=np.float32)  # [..., V] own copy
    rows = x.reshape(-1, x.shape[-1])  # [B, V] view
    for b in range(rows.shape[0]):
        rows[b] = _warp_row(rows[b], float(temperature), int(top_k), float(top_p), min_tokens_to_keep)
    return torch.from_numpy(x)


def _warp_row(x: np.ndarray, temperature: float, top_k: int, top_p: float, min_keep: int) -> np.ndarray:
    """One row [V], float32. The same arithmetic as the transformers warpers (see the module docstring), but
    elementwise steps run in numpy: torch splits a 49,152-element op over its threads, and on a busy 2-core
    machine waiting for the second thread made each slider move 50-500 ms slower. Float32 division and
    comparisons are exact in both; softmax and cumsum (the rounding-sensitive part) stay torch's own kernels."""
    import torch

    if temperature != 1.0:
        with np.errstate(over="ignore"):  # a tiny T overflows to inf, as in torch (adjust refuses it)
            x = x / np.float32(temperature)  # [V] TemperatureLogitsWarper
    if top_k != 0:  # TopKLogitsWarper: remove scores < the k-th largest (ties with it stay)
        k = min(max(top_k, min_keep), x.shape[-1])
        kth = np.partition(x, x.shape[-1] - k)[x.shape[-1] - k]
        x = np.where(x < kth, np.float32(-np.inf), x)
    if top_p < 1.0:  # TopPLogitsWarper: ascending sort, softmax, cumsum, remove cumulative <= 1 - p
        ascending = np.sort(x)  # [V] the same values torch.sort gives (only tied ids may be ordered differently)
        cumulative = torch.from_numpy(ascending)[None].softmax(dim=-1).cumsum(dim=-1)[0].numpy()  # [V]
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[-min_keep:] = False  # the most likely tokens always stay
        r = int(remove_sorted.argmin()) if not remove_sorted.all() else x.shape[-1]  # first kept, sorted order
        if 0 < r < x.shape[-1] and ascending[r - 1] == ascending[r]:
            # exact ties across the cut: which of the tied ids go is decided by torch.sort's order
            t = torch.from_numpy(x)[None]
            _, idx = torch.sort(t, descending=False)
            remove = torch.from_numpy(remove_sorted)[None].scatter(1, idx, torch.from_numpy(remove_sorted)[None])
            return t.masked_fill(remove, -float("inf"))[0].numpy()
        if r > 0:
            x = np.where(x < ascending[r], np.float32(-np.inf), x)  # every score below the first kept one
    return x


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


def top_ranked(values: np.ndarray, k: int) -> np.ndarray:
    """``ranking(values)[:k]`` for every row of [..., V] -> [..., k], without sorting the whole vocabulary: a
    partition finds the k-th largest value, and only the ids at or above it (ties included) are sorted."""
    v = np.asarray(values, dtype=np.float64)
    V = v.shape[-1]
    k = min(int(k), V)
    out = np.empty(v.shape[:-1] + (k,), dtype=np.int64)
    if k == 0:
        return out
    for row, dst in zip(v.reshape(-1, V), out.reshape(-1, k)):
        neg = -row  # [V] ascending = most likely first
        candidates = np.flatnonzero(neg <= np.partition(neg, k - 1)[k - 1])  # in id order
        if len(candidates) < k:  # NaNs in the row: the full sort puts them last
            dst[:] = ranking(row)[:k]
        else:
            dst[:] = candidates[np.argsort(neg[candidates], kind="stable")[:k]]
    return out


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
    scaled = warp(logits, temperature).numpy()  # [V] logits / T
    if np.isposinf(scaled).any():
        raise BadSetting(N_("A temperature of {value:g} is too small to compute in 32-bit floating point: use 0 for "
                            "greedy decoding."), value=temperature)
    after_k = warp(scaled, 1.0, top_k=top_k).numpy()  # [V] -inf outside the top k
    final = warp(after_k, 1.0, top_p=top_p).numpy()  # [V] -inf outside the nucleus too
    return Adjusted(
        temperature=float(temperature), top_k=int(top_k), top_p=float(top_p), greedy=False,
        logits=logits, scaled=scaled, probs_original=probs_original, probs_scaled=softmax(scaled),
        kept_top_k=np.isfinite(after_k), probs_top_p_sees=softmax(after_k), kept=np.isfinite(final),
        probs=softmax(final),
    )


def token_texts(tokenizer: Any, ids, kind: str) -> list[str]:
    """What each candidate id would add to the text: its decoded string (" Paris"), or for a byte-level piece
    that is only part of a UTF-8 character, its bytes in hex (" <F0><9F>", :attr:`PieceInfo.display`) instead of a
    replacement character."""
    from models.tokens import Encoding, describe

    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    specials = set(tokenizer.all_special_ids)
    enc = Encoding(ids=ids, offsets=np.zeros((len(ids), 2), dtype=np.int64),
                   special=np.array([int(i) in specials for i in ids], dtype=bool), n_total=len(ids))
    return [p.display if p.partial else (p.raw if p.special else p.decoded) for p in describe(tokenizer, enc, "", kind)]


def decoded_tail(tokenizer: Any, ids, n: int) -> tuple[str, bool]:
    """(the text of the last ``n`` tokens decoded together, whether earlier tokens were left out). Decoded as one
    sequence, a character split into byte pieces comes out whole ("首都是", not "<E9><A6><96>..."); when the cut
    falls inside such a character the tail reaches back to its first byte."""
    ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
    start = max(0, len(ids) - n)
    while True:
        out = tokenizer.decode(ids[start:], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if start == 0 or not out.startswith("\ufffd"):
            return out, start > 0
        start -= 1


# ------------------------------------------------------------------------ the browser's copy of the maths
# components/sampling_redraw_frontend/sampling.js re-weights the logits in the browser and must give adjust()'s
# numbers within 1e-6. torch's float32 softmax sums exp(x - max) in float32 vector lanes (16 with AVX-512, 8 with
# AVX2) and then reduces the lanes; over 49,152 terms that sum is off by ~1e-5 of itself, which shows in the
# probabilities at 1e-6. So the browser adds in the same order: the layout of this machine's torch is found here
# by reproducing torch's softmax on a probe vector, and sent to the browser.
LAYOUTS = ({"lanes": 16, "tree": True}, {"lanes": 8, "tree": True}, {"lanes": 8, "tree": False},
           {"lanes": 4, "tree": True}, {"lanes": 4, "tree": False}, {"lanes": 16, "tree": False})


def softmax_in_lanes(x: np.ndarray, lanes: int, tree: bool) -> np.ndarray:
    """softmax over [V] in float32, the sum of exp(x - max) accumulated in ``lanes`` float32 accumulators (one
    vector register) and the lanes then reduced pairwise (``tree``: lane i + lane i xor half, as torch's AVX2/AVX-512
    reduce_all shuffles do) or one by one; each probability is exp(x - max) times float32(1 / sum)."""
    x = np.asarray(x, dtype=np.float32)
    e = np.exp((x - x.max()).astype(np.float32).astype(np.float64)).astype(np.float32)  # [V]
    n = len(e)
    if n < lanes:  # torch: lane 0 adds the others one by one
        s = np.float32(e[0]) if n else np.float32(0)
        for v in e[1:]:
            s = np.float32(s + v)
    else:
        full = n - n % lanes
        acc = np.cumsum(e[:full].reshape(-1, lanes), axis=0, dtype=np.float32)[-1]  # [lanes] in order
        tail = e[full:]
        acc[:len(tail)] = (acc[:len(tail)] + tail).astype(np.float32)
        if tree:
            k = lanes // 2
            while k >= 1:
                acc = (acc + acc[np.arange(lanes) ^ k]).astype(np.float32)
                k //= 2
            s = acc[0]
        else:
            s = acc[0]
            for v in acc[1:]:
                s = np.float32(s + v)
    inv = np.float32(np.float32(1) / s)
    return (e * inv).astype(np.float32)


_LAYOUT: dict | None = None


def torch_softmax_layout() -> dict:
    """{"lanes", "tree"}: how this process's torch adds up a float32 softmax (the candidate in :data:`LAYOUTS` that
    reproduces torch's own probabilities on a 49,157-long probe most closely; found once)."""
    global _LAYOUT
    if _LAYOUT is None:
        x = np.random.default_rng(0).normal(0, 3, 49_157).astype(np.float32)  # not a multiple of any lane count
        want = softmax(x).astype(np.float64)
        _LAYOUT = dict(min(LAYOUTS, key=lambda lay: float(np.abs(softmax_in_lanes(x, **lay) - want).max())))
    return dict(_LAYOUT)


def next_logits(lm: Any, ids) -> np.ndarray:
    """[V] float32: the model's logits for the token after ``ids`` (one forward pass, under the model's lock)."""
    import torch

    x = torch.tensor([list(ids)], dtype=torch.long)  # [1, T]
    with lm.lock, torch.inference_mode():
        out = lm.model(input_ids=x, attention_mask=torch.ones_like(x), logits_to_keep=1)
    return out.logits[0, -1].float().numpy().copy()
