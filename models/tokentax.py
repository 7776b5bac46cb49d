"""The "token tax": the same meaning costs a different number of tokens in different languages.

A tokenizer's vocabulary is learned from its training texts (models/bpe.py shows how): a language it saw little of
gets few whole-word pieces and is cut into many small ones, often single bytes. Prices, speed and the context
window are all counted in tokens, so text in such a language costs more and fits less.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from models.scripts import HAN, KANA, THAI, char_class

# Scripts written without spaces between words (Han, kana, Thai, ...): "words" cannot be counted by splitting on
# spaces, so a text with them gets no word count (the two texts' token totals still compare the same meaning).
_NO_SPACES = re.compile(char_class(KANA + HAN + THAI))


@dataclass(frozen=True)
class TextCost:
    characters: int
    words: int | None  # space-separated words; None for a text in a script written without spaces
    utf8_bytes: int
    tokens: int  # the text's own tokens (no [CLS]/[SEP]/BOS added)
    unknown: int  # of them, the tokenizer's unknown token

    @property
    def per_character(self) -> float:
        return self.tokens / self.characters if self.characters else 0.0

    @property
    def per_word(self) -> float | None:
        return self.tokens / self.words if self.words else None


def count_words(text: str) -> int | None:
    if _NO_SPACES.search(text):
        return None
    return len(text.split())


def cost(tokenizer: Any, text: str, lock: Any = None) -> TextCost:
    """How many tokens ``tokenizer`` needs for ``text`` (without the special tokens it adds around a text)."""
    with lock or contextlib.nullcontext():
        ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    unk = getattr(tokenizer, "unk_token_id", None)
    return TextCost(characters=len(text), words=count_words(text), utf8_bytes=len(text.encode("utf-8", "replace")),
                    tokens=len(ids), unknown=sum(1 for i in ids if unk is not None and i == unk))


def tax(a: TextCost, b: TextCost) -> float | None:
    """How many times as many tokens text b takes as text a (None when a has none)."""
    return b.tokens / a.tokens if a.tokens else None


def fits(context_tokens: int, c: TextCost) -> int:
    """About how many characters of text like this fit in a context window of ``context_tokens`` tokens."""
    return int(context_tokens / c.per_character) if c.tokens else 0
