"""Workshop exercises whose answers are checked against the loaded model (never against stored solutions).

Each exercise has a task, hints and a checker ``check(lm, trace, answer) -> Check``; the page hands it the loaded
model, the trace of the exercise's own text (``Exercise.text``, or the sidebar text when None) and the student's
answer. The message of a Check says what was measured, so a wrong answer teaches something too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from i18n import N_, _

CAPITAL = "The capital of France is"
PREV_TOKEN_SHARE = 0.5  # a previous-token head gives at least half of its attention to the token just before
SPLIT_PIECES = 4


@dataclass(frozen=True)
class Check:
    solved: bool
    message: str  # translated, one or two sentences with the measured numbers


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str  # N_-marked
    task: str  # N_-marked
    hints: tuple[str, ...]  # N_-marked
    answer: str  # "temperature" | "word" | "head": which inputs the page draws
    text: str | None  # the text the checker analyses (None: the sidebar text)
    needs_decoder: bool
    check: Callable[[Any, Any, dict], Check]


def check_temperature(lm: Any, trace: Any, answer: dict) -> Check:
    """Is p(" Paris" | "The capital of France is") below 50% at this temperature (models/sampling.adjust)?"""
    from models.sampling import BadSetting, adjust

    t = answer.get("temperature")
    with lm.tokenizer_lock:
        ids = lm.tokenizer(" Paris", add_special_tokens=False)["input_ids"]
    paris = int(ids[0])  # " Paris" is one token in the decoders' vocabularies; if not, its first piece is meant
    try:
        p = float(adjust(trace.last_logits, temperature=float(t)).probs[paris])
    except (BadSetting, TypeError, ValueError):
        return Check(False, _("Type a temperature: a number ≥ 0."))
    p1 = float(adjust(trace.last_logits, temperature=1.0).probs[paris])
    if p < 0.5:
        return Check(True, _("Solved: at temperature {t:g}, “ Paris” gets {p:.1%} (at 1 it gets {p1:.1%}).").format(
            t=float(t), p=p, p1=p1))
    return Check(False, _("At temperature {t:g}, “ Paris” still gets {p:.1%}.").format(t=float(t), p=p))


def check_split(lm: Any, trace: Any, answer: dict) -> Check:
    """Does the loaded tokenizer cut this one word (no spaces) into exactly SPLIT_PIECES pieces?"""
    word = str(answer.get("word") or "").strip()
    if not word or len(word) > 60 or any(ch.isspace() for ch in word):
        return Check(False, _("Type one word (no spaces)."))
    with lm.tokenizer_lock:
        ids = lm.tokenizer(word, add_special_tokens=False)["input_ids"]
        pieces = lm.tokenizer.convert_ids_to_tokens(ids)
    shown = " | ".join(pieces)
    if len(ids) == SPLIT_PIECES:
        return Check(True, _("Solved: {word} → {pieces} ({n} pieces).").format(word=word, pieces=shown, n=len(ids)))
    return Check(False, _("{word} → {pieces}: {n} pieces, not {want}.").format(
        word=word, pieces=shown, n=len(ids), want=SPLIT_PIECES))


def previous_token_share(trace: Any, layer: int, head: int) -> float:
    """Mean attention from each token to the token just before it (positions 2..T), for layer ``layer`` (blocks
    1..L) and head ``head`` (1..H): the layer convention of models/numbering.py."""
    a = trace.attentions[layer - 1, head - 1]  # [T, T]
    t = a.shape[0]
    return float(np.mean([a[i, i - 1] for i in range(1, t)]))


def check_head(lm: Any, trace: Any, answer: dict) -> Check:
    n_layers, n_heads = trace.attentions.shape[:2]
    try:
        layer, head = int(answer.get("layer")), int(answer.get("head"))
    except (TypeError, ValueError):
        return Check(False, _("Pick a layer and a head."))
    if not (1 <= layer <= n_layers and 1 <= head <= n_heads):
        return Check(False, _("Layers go from 1 to {L} and heads from 1 to {H}.").format(L=n_layers, H=n_heads))
    if trace.attentions.shape[-1] < 3:
        return Check(False, _("The text needs at least 3 tokens."))
    share = previous_token_share(trace, layer, head)
    if share >= PREV_TOKEN_SHARE:
        return Check(True, _("Solved: layer {layer}, head {head} gives {share:.0%} of its attention to the token just "
                             "before, on average.").format(layer=layer, head=head, share=share))
    return Check(False, _("Layer {layer}, head {head} gives {share:.0%} of its attention to the token just before "
                          "(at least {need:.0%} needed).").format(layer=layer, head=head, share=share,
                                                                   need=PREV_TOKEN_SHARE))


EXERCISES = (
    Exercise("temperature", N_("Melt the capital"),
             N_("Find a temperature at which the model gives “ Paris” less than 50% after `The capital of France "
                "is`."),
             (N_("Temperature divides the logits before the softmax: which way flattens the distribution?"),
              N_("Try values above 1 on the Next-token page and watch the bar of “ Paris”.")),
             "temperature", CAPITAL, True, check_temperature),
    Exercise("split", N_("Four pieces"),
             N_("Find one word that this model's tokenizer cuts into exactly 4 pieces."),
             (N_("Common words are one piece; long, rare or made-up words split more."),
              N_("Try a long word on the Tokens page and count the chips.")),
             "word", None, False, check_split),
    Exercise("prev-head", N_("Previous-token head"),
             N_("Find a head that gives at least half of its attention to the token just before, on this text."),
             (N_("Such heads look like a line just below the diagonal on the Attention page."),
              N_("Look in the first layers first.")),
             "head", "students celebrate the graduation with a big party", False, check_head),
)
BY_ID = {e.id: e for e in EXERCISES}
