"""Predict, then reveal: the class's guesses for the next word next to the model's probabilities of those guesses.

A guess is scored as a continuation of the poll's text: the text's tokens (as every page analyses them) followed by
the guess's own tokens (the loaded tokenizer, no special tokens). Its probability is that of the whole
continuation, chained through the model: p(g1 | text) * p(g2 | text, g1) * ... A guess of one token is exactly that
token's bar on the Next-token page.

Spacing rule (byte-level and SentencePiece vocabularies store a word with its leading space, " Paris"): a space is
put between the text and the guess unless the text is empty or ends in whitespace, or the guess starts with
punctuation or a wide (CJK) character, or the text ends with one (Chinese has no spaces between words).

Perplexities (natural log, e = 2.718...): "how many equally likely choices" a distribution is worth.
- the class: exp(entropy of the guesses' frequencies) - 1 when everyone wrote the same guess;
- the model: exp(entropy of its next-token distribution over the whole vocabulary);
- the model's surprise at the class: exp(mean over students of -log p_model(their guess)).
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

import i18n
from i18n import N_

MAX_SCORED = 40  # distinct guesses scored (one forward pass each); the rest are counted, not scored


class NotADecoder(i18n.Error, ValueError):
    pass


@dataclass(frozen=True)
class GuessScore:
    guess: str  # as the students wrote it (outer spaces dropped)
    continuation: str  # the characters appended to the text (the guess, with a leading space when added)
    ids: tuple[int, ...]  # its tokens
    pieces: tuple[str, ...]  # each token decoded alone, a space shown as ␣
    token_probs: tuple[float, ...]  # p(each token | text and the tokens before it)
    count: int  # students who wrote it

    @property
    def prob(self) -> float:
        """Probability of the whole continuation (the product of its tokens' probabilities); nan when not scored
        (a fill-in guess of several tokens: one [MASK] holds one token)."""
        if not self.token_probs:
            return float("nan")
        return float(math.exp(sum(math.log(p) if p > 0 else -math.inf for p in self.token_probs)))


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def continuation_for(text: str, guess: str) -> str:
    """The characters the guess adds to the text (see the spacing rule in the module docstring)."""
    g = guess.strip()
    if not text or text[-1].isspace() or not g:
        return g
    first = g[0]
    if unicodedata.category(first).startswith("P") or _wide(first) or _wide(text[-1]):
        return g
    return " " + g


def _prefix_ids(lm: Any, text: str) -> list[int]:
    from models.trace import analysed

    enc = analysed(lm, text)
    ids = [int(i) for i in enc.ids]
    eos = getattr(lm.tokenizer, "eos_token_id", None)
    # a tokenizer that appends an end-of-text token would make every guess follow "the end": drop it
    while len(ids) > 1 and enc.special[len(ids) - 1] and ids[-1] == eos:
        ids.pop()
    return ids


def score_guesses(lm: Any, text: str, counts: dict[str, int]) -> list[GuessScore]:
    """The most frequent MAX_SCORED distinct guesses (ties: alphabetical), most frequent first, each with its
    probability under the model as a continuation of ``text``. Needs a decoder (a causal-LM head)."""
    import torch

    if lm.spec.head != "causal-lm":
        raise NotADecoder(N_("Guessing the next word needs a decoder (a model that predicts the next token)."))
    prefix = _prefix_ids(lm, text)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SCORED]
    out = []
    for guess, n in ranked:
        cont = continuation_for(text, guess)
        with lm.tokenizer_lock:
            ids = [int(i) for i in lm.tokenizer(cont, add_special_tokens=False)["input_ids"]]
            # what each token decodes to, a space shown as ␣ (as the Tokens page shows pieces)
            pieces = tuple(lm.tokenizer.decode([i]).replace(" ", "␣") for i in ids)
        if not ids:
            continue
        full = torch.tensor([prefix + ids])  # [1, T + k]
        with lm.lock, torch.inference_mode():
            logits = lm.model(input_ids=full, attention_mask=torch.ones_like(full)).logits[0]  # [T + k, V]
        # the token at position T + i is predicted by the logits at position T + i - 1
        logp = torch.log_softmax(logits[len(prefix) - 1: len(prefix) - 1 + len(ids)].float(), dim=-1)  # [k, V]
        probs = tuple(float(logp[i, t].exp()) for i, t in enumerate(ids))
        out.append(GuessScore(guess, cont, tuple(ids), pieces, probs, n))
    return out


def class_perplexity(counts: dict[str, int]) -> float:
    """exp(entropy) of the class's guess frequencies: 1 when all agree, k when k guesses are equally common."""
    n = np.array([c for c in counts.values() if c > 0], dtype=np.float64)
    if n.size == 0:
        return float("nan")
    q = n / n.sum()
    return float(np.exp(-(q * np.log(q)).sum()))


def model_perplexity(last_logits: np.ndarray) -> float:
    """exp(entropy) of the model's next-token distribution (softmax of the logits, the whole vocabulary)."""
    x = np.asarray(last_logits, dtype=np.float64)
    logp = x - x.max()
    logp = logp - np.log(np.exp(logp).sum())
    p = np.exp(logp)
    return float(np.exp(-(p * logp).sum()))


def surprise_perplexity(scores: list[GuessScore]) -> float:
    """exp(mean over students of -log p_model(guess)): how surprised the model is by the class (1 = not at all).
    Guesses the model cannot score (nan) are left out."""
    scores = [s for s in scores if not math.isnan(s.prob)]
    total = sum(s.count for s in scores)
    if total == 0:
        return float("nan")
    nll = sum(s.count * -math.log(max(s.prob, 1e-300)) for s in scores) / total
    return float(math.exp(nll))


# ------------------------------------------------------------------------------------------ attention polls
MAX_ATTENTION_OPTIONS = 40  # choices a student reads through; a later query token is refused with a sentence


class BadPoll(i18n.Error, ValueError):
    pass


def piece_label(tokenizer: Any, position: int, token_id: int) -> str:
    """"3: ␣party": the position (from 0, as on the Tokens page) and what the token decodes to, a space as ␣."""
    piece = tokenizer.decode([int(token_id)])
    # control characters made visible: a label is a poll choice, which must be printable text
    shown = "".join("␣" if ch == " " else "⏎" if ch == "\n" else ch if not unicodedata.category(ch).startswith("C")
                    else f"<0x{ord(ch):02X}>" for ch in piece)
    return f"{position}: {shown}"[:60]


def attention_choices(lm: Any, trace: Any, query: int) -> list[str]:
    """The tokens that the token at position ``query`` may read: itself and the earlier ones in a decoder (the
    causal mask), every token in an encoder. One label per position."""
    t = len(trace.ids)
    if not 0 <= query < t:
        raise BadPoll(N_("Pick a token of the text (0 to {last})."), last=t - 1)
    visible = range(query + 1) if lm.spec.family == "decoder" else range(t)
    if len(visible) > MAX_ATTENTION_OPTIONS:
        raise BadPoll(N_("Too many tokens to choose from: pick a token among the first {n}."),
                               n=MAX_ATTENTION_OPTIONS)
    with lm.tokenizer_lock:
        return [piece_label(lm.tokenizer, i, trace.ids[i]) for i in visible]


def attention_row(trace: Any, layer: int, head: int, query: int) -> np.ndarray:
    """[T] the weights with which head ``head`` (1..H) of layer ``layer`` (1..L) at position ``query`` reads every
    position (the trace's softmaxed attention; 0 on the future in a decoder)."""
    return np.asarray(trace.attentions[layer - 1, head - 1, query], dtype=np.float64)


# ------------------------------------------------------------------------------------------ fill in the blank
def blank_scores(lm: Any, trace: Any, counts: dict[str, int]) -> tuple[list[GuessScore], np.ndarray]:
    """Guesses for the one [MASK] of ``trace`` (an encoder with a masked-LM head): each guess tokenized alone; a
    one-token guess gets p(token at the [MASK]) from the model's MLM head (models/mlm.py), a guess of several
    tokens is counted but not scored (one [MASK] holds one token). Also returns the logits [V] at the [MASK]."""
    from models import mlm

    if not mlm.has_mlm_head(lm):
        raise NotADecoder(N_("Filling in a blank needs an encoder with a masked-language-model head."))
    fills = mlm.fill_masks(lm, trace, k=1)
    if len(fills) != 1:
        raise BadPoll(N_("The text must have exactly one blank."))
    logits = np.asarray(fills[0].logits, dtype=np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    out = []
    for guess, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SCORED]:
        g = guess.strip()
        with lm.tokenizer_lock:
            ids = [int(i) for i in lm.tokenizer(g, add_special_tokens=False)["input_ids"]]
            pieces = tuple(lm.tokenizer.convert_ids_to_tokens(ids))
        token_probs = (float(probs[ids[0]]),) if len(ids) == 1 else ()
        out.append(GuessScore(guess, g, tuple(ids), pieces, token_probs, n))
    return out, logits
