"""Tokenization with character offsets, and an honest description of every piece.

A piece of byte-level BPE (GPT-2, SmolLM2) is a sequence of BYTES: an emoji or a Chinese character can be
split into pieces that are not valid UTF-8 on their own. We keep the bytes and say which character they
belong to, instead of printing the replacement character "\ufffd" with no explanation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

MAX_TOKENS = 512  # analysis cap; longer text is truncated with a visible notice
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Encoding:
    ids: np.ndarray  # [T] int64
    offsets: np.ndarray  # [T, 2] char spans in the text ((0, 0) for special tokens)
    special: np.ndarray  # [T] bool: [CLS]/[SEP]/BOS/EOS...
    n_total: int  # tokens the full text would have (before the cap)

    @property
    def truncated(self) -> bool:
        return self.n_total > len(self.ids)


@dataclass(frozen=True)
class PieceInfo:
    index: int
    id: int
    raw: str  # the vocabulary string, e.g. "Ġcapital", "##ing", "[CLS]"
    decoded: str  # what decoding this id alone gives
    text: str  # the characters of the input it covers (from offsets)
    span: tuple[int, int]
    special: bool
    byte_values: bytes | None  # for byte-level pieces: the raw bytes
    partial: bool  # bytes that are not valid UTF-8 on their own (part of one character)
    unknown: bool  # the tokenizer's [UNK]

    @property
    def covers_text(self) -> bool:
        """Does this piece stand for characters of the input (False for added [CLS]/[SEP]/BOS)?"""
        return self.span[1] > self.span[0]

    @property
    def partial_bytes(self) -> bytes:
        """The bytes of this piece that do not form a whole character on their own."""
        if not self.partial or self.byte_values is None:
            return b""
        decoded = self.byte_values.decode("utf-8", errors="surrogateescape")
        return bytes(ord(c) - 0xDC00 for c in decoded if 0xDC80 <= ord(c) <= 0xDCFF)

    @property
    def shown(self) -> str:
        """Text for a chip. Byte-level pieces: ASCII as the vocabulary writes it ("Ġ" = space), other
        characters as themselves ("ä¸Ń" -> "中"), and bytes of an incomplete character in hex ("<F0><9F>")."""
        if self.byte_values is None:
            return self.raw
        decoded = self.byte_values.decode("utf-8", errors="surrogateescape")
        enc = _byte_encoder()
        return "".join(
            f"<{ord(c) - 0xDC00:02X}>" if 0xDC80 <= ord(c) <= 0xDCFF
            else (enc[ord(c)] if ord(c) < 0x80 else c)
            for c in decoded
        )

    @property
    def note(self) -> str:
        if self.special and self.span[1] > self.span[0]:
            return "special token typed in your text: the tokenizer reads it as the real control token"
        if self.special:
            return "special token added by the tokenizer, not part of your text"
        if self.partial:
            wide = [c for c in self.text if len(c.encode("utf-8", "surrogatepass")) > 1]
            char = wide[-1] if wide and self.byte_values and self.byte_values[-1] >= 0x80 else (wide[0] if wide else self.text)
            n = len(char.encode("utf-8", "surrogatepass"))
            return (
                f"holds {len(self.partial_bytes)} of the {n} UTF-8 bytes of {char!r} (U+{ord(char[0]):04X}); "
                "not a character on its own, the neighbouring piece(s) hold the rest"
            )
        if self.unknown:
            return f"{self.text!r} is not in the vocabulary: the tokenizer maps it to its unknown token"
        if self.byte_values is not None and self.shown != self.raw:
            return f"the vocabulary writes these {len(self.byte_values)} UTF-8 bytes as {self.raw!r}"
        return ""


def encode(tokenizer: Any, text: str, max_tokens: int = MAX_TOKENS, lock: Any = None) -> Encoding:
    """Token ids, char offsets and special-token mask; at most ``max_tokens`` (special tokens included)."""
    import contextlib

    # A lone surrogate ("\ud800", e.g. from a broken copy-paste) cannot be encoded as UTF-8 and makes the
    # tokenizer raise TypeError; U+FFFD keeps the length, so offsets still index the caller's text.
    text = _SURROGATE.sub("\ufffd", text)
    with lock or contextlib.nullcontext():
        full = tokenizer(text, add_special_tokens=True, return_special_tokens_mask=True,
                         return_offsets_mapping=True, truncation=False, verbose=False)
        n_total = len(full["input_ids"])
        enc = full
        if n_total > max_tokens:  # re-encode with truncation so [SEP] / EOS handling stays the tokenizer's
            enc = tokenizer(text, add_special_tokens=True, return_special_tokens_mask=True,
                            return_offsets_mapping=True, truncation=True, max_length=max_tokens)
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    # Special tokens the tokenizer added, plus ones typed in the text ("<|im_end|>", "[SEP]"): the tokenizer
    # turns those into the real control tokens. [UNK] is not counted: it stands for characters of the text.
    typed = set(getattr(tokenizer, "all_special_ids", [])) - {tokenizer.unk_token_id}
    return Encoding(
        ids=ids,
        offsets=np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2),
        special=np.asarray(enc["special_tokens_mask"], dtype=bool) | np.isin(ids, list(typed)),
        n_total=n_total,
    )


@lru_cache(maxsize=1)
def _byte_encoder() -> dict[int, str]:
    """GPT-2's byte -> printable character table (space -> "Ġ", newline -> "Ċ", ...)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    return {c: b for b, c in _byte_encoder().items()}


_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def piece_bytes(raw: str, kind: str) -> bytes | None:
    """Raw bytes of a piece for byte-level BPE (and SentencePiece byte fallback), else None."""
    if kind == "byte-level BPE":
        table = _byte_decoder()
        if all(c in table for c in raw):
            return bytes(table[c] for c in raw)
        return None
    m = _BYTE_FALLBACK.match(raw)
    return bytes([int(m.group(1), 16)]) if m else None


def describe(tokenizer: Any, enc: Encoding, text: str, kind: str) -> list[PieceInfo]:
    raws = tokenizer.convert_ids_to_tokens(enc.ids.tolist())
    unk = tokenizer.unk_token_id
    out = []
    for i, (tid, raw, (s, e), sp) in enumerate(zip(enc.ids.tolist(), raws, enc.offsets.tolist(), enc.special.tolist())):
        b = None if sp else piece_bytes(raw, kind)
        partial = False
        if b is not None:
            try:
                b.decode("utf-8")
            except UnicodeDecodeError:
                partial = True
        out.append(PieceInfo(
            index=i, id=int(tid), raw=raw, decoded=tokenizer.decode([tid]), text=text[s:e], span=(int(s), int(e)),
            special=bool(sp), byte_values=b, partial=partial, unknown=(unk is not None and tid == unk and not sp),
        ))
    return out


def pieces_table(pieces: list[PieceInfo]) -> list[dict]:
    """Rows for the tokens table / CSV export."""
    return [
        {
            "position": p.index,
            "piece": p.shown,
            "id": p.id,
            "vocabulary string": p.raw,
            "decoded": p.decoded,
            "start": p.span[0] if p.covers_text else None,
            "end": p.span[1] if p.covers_text else None,
            "special": p.special,
            "bytes": p.byte_values.hex(" ").upper() if p.byte_values is not None else "",
            "note": p.note,
        }
        for p in pieces
    ]
