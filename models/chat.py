"""Chat models see a conversation as tokens.

An instruction-tuned model (the bundled SmolLM2-135M-Instruct) was fine-tuned on conversations written in one
fixed format: its tokenizer carries that format as a Jinja template (``tokenizer.chat_template``), which wraps
each message in role markers and special tokens (``<|im_start|>user`` ... ``<|im_end|>`` for SmolLM2) and, with
``add_generation_prompt=True``, ends with the header of the assistant's turn, so that the next token the model
writes is the start of its reply. We never write that format ourselves: everything here goes through the
tokenizer's own ``apply_chat_template``, so the tokens shown and generated are the ones the model was tuned on.
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import i18n
from i18n import N_
from models.tokens import MAX_TOKENS, Encoding, PieceInfo, describe

MAX_MESSAGE_CHARS = 1_000  # per message; a conversation must also fit the generation engine's prompt


class ChatTemplateError(i18n.Error, ValueError):
    """The tokenizer's template refused a conversation (some templates raise on roles they do not support)."""


def has_chat_template(tokenizer: Any) -> bool:
    return getattr(tokenizer, "chat_template", None) is not None


def conversation(user: str, system: str = "") -> list[dict[str, str]]:
    """The messages of a one-turn chat: an optional system message, then the user's message."""
    out = [{"role": "system", "content": system}] if system.strip() else []
    return out + [{"role": "user", "content": user}]


def render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The conversation as the template writes it (the exact text the model reads)."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as e:  # jinja2's TemplateError (raise_exception in a template), TypeError, ValueError...
        raise ChatTemplateError(N_("The model's chat template refused this conversation ({reason})."),
                                reason=str(e) or type(e).__name__) from e


def chat_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The prompt ids of the conversation, ending with the assistant's header: ``apply_chat_template(...,
    tokenize=True, add_generation_prompt=True)``."""
    render(tokenizer, messages)  # the same refusal as a ChatTemplateError
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    ids = out["input_ids"] if isinstance(out, Mapping) else out  # transformers 5 returns a BatchEncoding
    return [int(i) for i in ids]


@dataclass(frozen=True)
class ChatTokens:
    """A templated conversation, cut into the model's tokens."""

    text: str  # the template's output, exactly
    ids: list[int]  # apply_chat_template's ids (all of them)
    pieces: list[PieceInfo]  # the first max_tokens, spans index into ``text``
    from_message: list[bool] | None  # per piece: all its characters come from a message's text; None if the
    #   template changed a message's text (then we cannot tell which characters are yours)
    generation_prompt: str  # what add_generation_prompt appends (the assistant's header); "" if none
    message_spans: list[tuple[int, int]]  # where each message's text sits in ``text``
    default_system: bool = False  # no system message was given, yet the template wrote a system turn itself

    @property
    def n_total(self) -> int:
        return len(self.ids)

    @property
    def truncated(self) -> bool:
        return len(self.ids) > len(self.pieces)

    @property
    def added_by_template(self) -> int:
        """Tokens that are not (entirely) text of a message: role markers, special tokens, default text."""
        return sum(not m for m in self.from_message) if self.from_message is not None else 0


def _spans(tokenizer: Any, messages: list[dict[str, str]], text: str) -> list[tuple[int, int]] | None:
    """Where each message's content sits in the rendered ``text``; None if the template changed a content.

    Searching for the content itself is not enough (a message "You" would be found inside SmolLM2's default
    system message), so the conversation is rendered once more with a unique marker in place of each content:
    the template's own text lies between the markers. Putting the real contents back must give ``text``
    exactly, otherwise the template does something to the contents and we do not guess."""
    marks = [f"\ue000{i}\ue001" for i in range(len(messages))]  # private-use characters: inert in templates
    marked = render(tokenizer, [dict(m, content=k) for m, k in zip(messages, marks)])
    spans, rebuilt, pos = [], [], 0
    for m, k in zip(messages, marks):
        i = marked.find(k, pos)
        if i < 0:
            return None
        rebuilt.append(marked[pos:i])
        start = sum(map(len, rebuilt))
        spans.append((start, start + len(m["content"])))
        rebuilt.append(m["content"])
        pos = i + len(k)
    rebuilt.append(marked[pos:])
    return spans if "".join(rebuilt) == text else None


def chat_tokens(tokenizer: Any, messages: list[dict[str, str]], kind: str, max_tokens: int = MAX_TOKENS,
                lock: Any = None) -> ChatTokens:
    """The templated conversation, its ids (apply_chat_template's) and its pieces with character spans."""
    with lock or contextlib.nullcontext():
        text = render(tokenizer, messages)
        ids = chat_ids(tokenizer, messages)
        without = render(tokenizer, messages, add_generation_prompt=False)
        spans = _spans(tokenizer, messages, text)
        # character spans: tokenizing the rendered text the way apply_chat_template does (the template wrote the
        # special tokens itself, so nothing is added)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    arr = np.asarray(ids, dtype=np.int64)
    if list(enc["input_ids"]) == ids:
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    else:  # cannot place the tokens in the text: no spans, rather than wrong ones
        offsets = np.zeros((len(ids), 2), dtype=np.int64)
    specials = set(getattr(tokenizer, "all_special_ids", [])) - {tokenizer.unk_token_id}
    special = np.isin(arr, list(specials))
    n = min(len(ids), max_tokens)
    pieces = describe(tokenizer, Encoding(arr[:n], offsets[:n], special[:n], len(ids)), text, kind)
    from_message = None
    if spans is not None and offsets.any():  # a special token typed in a message counts as the message's
        from_message = [p.covers_text and any(s <= p.span[0] and p.span[1] <= e for s, e in spans) for p in pieces]
    generation_prompt = text[len(without):] if text.startswith(without) else ""
    # SmolLM2's template (like Llama 3.1's) writes a system turn of its own when the conversation has none: the
    # role name "system" appears in what the template wrote, outside the messages
    template_text, pos = [], 0
    for s, e in spans or []:
        template_text.append(text[pos:s])
        pos = e
    template_text.append(text[pos:])
    default_system = spans is not None and all(m["role"] != "system" for m in messages) and \
        "system" in "".join(template_text)
    return ChatTokens(text=text, ids=ids, pieces=pieces, from_message=from_message,
                      generation_prompt=generation_prompt, message_spans=spans or [], default_system=default_system)
