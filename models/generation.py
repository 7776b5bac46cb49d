"""Generation as the pages teach it: how one token is picked (greedy, sampling with temperature / top-k / top-p,
beam search), what is recorded at each step, and the text helpers around it.

The process-wide engine that runs these requests for every session (continuous batching, a KV cache, the fast
Llama step) is serving/engine.py: it takes :class:`Settings` and produces :class:`Step` records, the types
defined here, so what a page explains and what the engine does are checked against each other in the tests
(a seeded engine run equals transformers' ``generate(do_sample=True)``).

Beam search (:func:`beam_search`) runs transformers' ``generate(num_beams=k)`` itself, under the model lock;
:func:`path_steps` reads the model's probabilities along a given continuation from one teacher-forced pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

import i18n
from models.tokens import MAX_TOKENS

MAX_NEW_TOKENS = 256
DEFAULT_NEW_TOKENS = 40
MAX_PROMPT_TOKENS = MAX_TOKENS  # a prompt is cut where the analysis pages cut a text: one cap for the whole app
# Below this temperature sampling is greedy decoding in all but name (a logit gap of 0.01 already becomes a
# probability ratio of e^-100, zero in float32) and z / T overflows float32 well before 1e-37: refused at submit.
MIN_SAMPLING_TEMPERATURE = 1e-4
TOP_N = 10  # alternatives kept per step
MAX_GROUP = 100  # samples of one prompt submitted together (Engine.submit_many: "Sample 100 times")
# The largest seed a page takes (the Seed inputs, a link). torch.manual_seed accepts far larger ones; 31 bits keep a
# seed a number of at most 10 digits to read out or type.
MAX_SEED = 2**31 - 1
MODES = ("greedy", "sample", "beam", "compare")


class Refused(i18n.Error, ValueError):
    """A request the engine does not accept (raised by ``submit`` in the caller's thread; worded when shown)."""


# ------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """How one request picks its tokens. ``temperature == 0`` or ``greedy=True`` means argmax."""

    greedy: bool = True
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    seed: int = 0
    max_new_tokens: int = DEFAULT_NEW_TOKENS

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature <= 0


@dataclass(frozen=True)
class Step:
    """One generated token and what the model thought when it was chosen."""

    token_id: int
    prob: float  # the model's own probability (softmax of the logits, T = 1)
    logprob: float  # log of ``prob`` (computed as log_softmax, exact for tiny probabilities)
    chosen_prob: float  # probability in the distribution it was drawn from (after warpers); 1.0 for greedy
    top_ids: tuple[int, ...]  # the TOP_N most likely next tokens under the model
    top_probs: tuple[float, ...]  # their model probabilities
    top_chosen_probs: tuple[float, ...]  # their probabilities after the warpers (0 = cut by top-k/top-p)
    forced: bool = False  # chosen by the user (a branch), not by the model


# ------------------------------------------------------------------------------------------ beam search
@dataclass(frozen=True)
class BeamResult:
    token_ids: tuple[int, ...]  # the best beam's new tokens
    logprobs: tuple[float, ...]  # the model's log-probability of each of them
    score: float  # transformers' beam score: sum of log-probabilities / (length ** length_penalty)
    beams: int
    length_penalty: float

    @property
    def total_logprob(self) -> float:
        return float(sum(self.logprobs))


def beam_search(lm: Any, prompt_ids: list[int], beams: int, max_new_tokens: int,
                length_penalty: float = 1.0) -> BeamResult:
    """transformers' own beam search (``generate(num_beams=k, do_sample=False)``) under the model lock."""
    ids = torch.tensor([prompt_ids[-MAX_PROMPT_TOKENS:]])
    with lm.lock, torch.inference_mode():
        out = lm.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=beams,
            num_return_sequences=1, max_new_tokens=max_new_tokens, length_penalty=length_penalty,
            early_stopping=False, output_scores=True, return_dict_in_generate=True,
            pad_token_id=lm.model.generation_config.pad_token_id or lm.model.config.eos_token_id,
            top_k=None, top_p=None, temperature=None)
        steps = lm.model.compute_transition_scores(out.sequences, out.scores, out.beam_indices,
                                                   normalize_logits=False)[0]  # [new] log-probs
    new = out.sequences[0, ids.shape[1]:]
    n = int((out.beam_indices[0] >= 0).sum())  # steps the best beam actually took (padding after EOS)
    return BeamResult(tuple(new[:n].tolist()), tuple(float(x) for x in steps[:n]), float(out.sequences_scores[0]),
                      beams, length_penalty)


# ------------------------------------------------------------------------------------------- text helpers
def prompt_ids(tokenizer: Any, text: str) -> tuple[list[int], bool]:
    """Token ids of the prompt (first MAX_PROMPT_TOKENS) and whether we started from BOS (empty text)."""
    ids = tokenizer(text, add_special_tokens=True)["input_ids"] if text else []
    if not ids:
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        return [int(bos)], True
    return [int(i) for i in ids[:MAX_PROMPT_TOKENS]], False


def token_pieces(tokenizer: Any, ids: list[int]) -> list[str]:
    """The text each generated token adds, decoded incrementally: a character split over several byte tokens is
    given to the token that completes it (the earlier ones add "")."""
    pieces, shown = [], ""
    for i in range(len(ids)):
        text = tokenizer.decode(ids[: i + 1])
        if text.endswith("\ufffd") and i + 1 < len(ids):
            pieces.append("")
            continue
        pieces.append(text[len(shown):] if text.startswith(shown) else text)
        shown = text
    return pieces


def path_steps(lm: Any, prompt_ids: list[int], token_ids: list[int]) -> list[Step]:
    """Steps (model probability and top alternatives at every position) of a given continuation, from ONE
    teacher-forced forward pass: what the model predicted at each step of, e.g., the best beam."""
    if not token_ids:
        return []
    ids = torch.tensor([list(prompt_ids) + list(token_ids)])
    with lm.lock, torch.inference_mode():
        logits = lm.model(input_ids=ids).logits[0, len(prompt_ids) - 1: -1].float()  # [n, V]
    logp = torch.log_softmax(logits, dim=-1)
    top_lp, top_ids = logp.topk(TOP_N, dim=-1)  # [n, TOP_N]
    out = []
    for i, tok in enumerate(token_ids):
        lp = float(logp[i, tok])
        top_p = tuple(math.exp(x) for x in top_lp[i].tolist())
        out.append(Step(int(tok), math.exp(lp), lp, math.exp(lp), tuple(top_ids[i].tolist()), top_p, top_p))
    return out


def forced_step(step: Step, token_id: int) -> Step:
    """The same position with another token chosen by the user (a branch); its probability from the top list."""
    i = step.top_ids.index(token_id)
    p = step.top_probs[i]
    return Step(token_id, p, math.log(p) if p > 0 else -math.inf, step.top_chosen_probs[i], step.top_ids,
                step.top_probs, step.top_chosen_probs, forced=True)
