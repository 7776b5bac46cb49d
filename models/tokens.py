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

from i18n import _, ngettext
from models.scripts import HAN, char_class

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
    def display(self) -> str:
        """Text for people, one convention for every tokenizer: a space or a newline is the character itself (the
        app shows it as ␣ / ⏎, components.widgets.visible), never the tokenizer's own marker (byte-level BPE's "Ġ"
        and "Ċ", SentencePiece's "▁"); bytes of an incomplete character in hex ("<F0><9F>"); WordPiece's "##"
        (a continuation, not a space) and special tokens as the vocabulary writes them."""
        if self.special:
            return self.raw
        if self.byte_values is None:
            return self.raw.replace("▁", " ")
        decoded = self.byte_values.decode("utf-8", errors="surrogateescape")
        return "".join(f"<{ord(c) - 0xDC00:02X}>" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in decoded)

    @property
    def note(self) -> str:
        """One plain sentence about what is unusual in this piece ("" if nothing), in the session's language."""
        if self.special and self.span[1] > self.span[0]:
            return _("special token typed in your text: the tokenizer reads it as the real control token")
        if self.special:
            return _("special token added by the tokenizer, not part of your text")
        if self.partial:
            wide = [c for c in self.text if len(c.encode("utf-8", "surrogatepass")) > 1]
            char = wide[-1] if wide and self.byte_values and self.byte_values[-1] >= 0x80 else (wide[0] if wide else self.text)
            n = len(char.encode("utf-8", "surrogatepass"))
            return _("holds {k} of the {n} UTF-8 bytes of {char} (U+{code:04X}); not a character on its own, the "
                     "neighbouring piece(s) hold the rest").format(
                k=len(self.partial_bytes), n=n, char=repr(char), code=ord(char[0]))
        if self.unknown:
            return _("{text} is not in the vocabulary: the tokenizer maps it to its unknown token").format(
                text=repr(self.text))
        if self.byte_values is not None and self.shown != self.raw:
            return _("the vocabulary writes these {n} UTF-8 bytes as {raw}").format(
                n=len(self.byte_values), raw=repr(self.raw))
        return ""


_HAN = re.compile(char_class(HAN))  # Han ideographs, "Chinese characters" (models/scripts.py)


@dataclass(frozen=True)
class HanSummary:
    """How a tokenizer handled the Chinese characters of a text (only the part the pieces cover)."""
    chars: int  # Han characters
    n_bytes: int  # their UTF-8 bytes (3 for common characters, 4 for rare ones)
    split: int  # characters with no piece of their own: cut into byte pieces
    unknown: int  # characters that became the unknown token
    tokens: int  # pieces that cover at least one of them

    @property
    def whole(self) -> int:
        return self.chars - self.split - self.unknown

    def sentences(self, unk_token: str | None) -> list[str]:
        """Plain-language explanation, in the session's language (translated at display time)."""
        out = [ngettext("Your text has {n} Chinese character: {bytes} UTF-8 bytes (a common Chinese character "
                        "takes 3 bytes, a rare one 4).",
                        "Your text has {n} Chinese characters: {bytes} UTF-8 bytes (a common Chinese character "
                        "takes 3 bytes, a rare one 4).", self.chars).format(n=self.chars, bytes=self.n_bytes)]
        out.append(ngettext("They take {tokens} token, {ratio:.2f} per character.",
                            "They take {tokens} tokens, {ratio:.2f} per character.", self.tokens).format(
            tokens=self.tokens, ratio=self.tokens / self.chars))
        if self.split:
            out.append(ngettext(
                "{split} of them has no piece of its own in the vocabulary, so byte-level BPE cuts it into byte "
                "pieces (the striped chips): each piece holds only some of its bytes and means nothing alone; the "
                "model has to learn which byte pieces belong together.",
                "{split} of them have no piece of their own in the vocabulary, so byte-level BPE cuts them into byte "
                "pieces (the striped chips): each piece holds only some of a character's bytes and means nothing alone; the "
                "model has to learn which byte pieces belong together.", self.split).format(split=self.split))
        if self.unknown:
            out.append(ngettext(
                "{unknown} of them is not in the vocabulary at all and becomes {unk}: the model cannot tell it "
                "from any other unknown character.",
                "{unknown} of them are not in the vocabulary at all and become {unk}: the model cannot tell them "
                "apart from each other.", self.unknown).format(unknown=self.unknown, unk=f"`{unk_token}`"))
        if self.whole:
            out.append(ngettext(
                "{whole} is covered by whole pieces (a single character, or a word of several characters).",
                "{whole} are covered by whole pieces (a single character, or a word of several characters).",
                self.whole).format(whole=self.whole))
        return out


def han_summary(pieces: list[PieceInfo], text: str) -> HanSummary | None:
    """Count the Chinese characters of ``text`` that the pieces cover and how they were cut; None if there are
    none. A character counts as split if any piece covering it holds only some of its bytes."""
    covering: dict[int, list[PieceInfo]] = {}
    for p in pieces:  # added special tokens cover no characters
        for i, c in enumerate(text[p.span[0]:p.span[1]], p.span[0]):
            if _HAN.match(c):
                covering.setdefault(i, []).append(p)
    chars = sorted(covering)
    if not chars:
        return None
    split = sum(any(p.partial for p in covering[i]) for i in chars)
    unknown = sum(all(p.unknown for p in covering[i]) for i in chars)
    tokens = len({p.index for i in chars for p in covering[i]})
    return HanSummary(chars=len(chars), n_bytes=sum(len(text[i].encode("utf-8")) for i in chars), split=split,
                      unknown=unknown, tokens=tokens)


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


@dataclass(frozen=True)
class CharGroup:
    """Neighbouring pieces that share a character split into bytes (🍕 = F0 9F 8D 95 over two or three pieces):
    pieces ``first``..``last`` (indices), and ``chars``, the character(s) they share (``span`` in the text)."""
    first: int
    last: int
    chars: str
    span: tuple[int, int]


def char_groups(pieces: list[PieceInfo]) -> list[CharGroup]:
    """The byte pieces that belong together. Two neighbouring pieces are tied when one of them holds only part of a
    character (``partial``) and their character spans overlap (a tokenizer gives every byte piece the span of its
    whole character); the shared characters are the union of those overlaps. Only the pieces' own spans and texts
    are used, so the groups follow the tokenizer's offsets, not a guess from the bytes."""
    groups: list[CharGroup] = []
    for a, b in zip(pieces, pieces[1:]):
        if a.special or b.special or not (a.partial or b.partial) or not (a.covers_text and b.covers_text):
            continue
        lo, hi = max(a.span[0], b.span[0]), min(a.span[1], b.span[1])
        if lo >= hi:
            continue
        if groups and groups[-1].last == a.index:  # the same chain: extend it by the characters it did not have
            g = groups[-1]
            lo = max(lo, g.span[1])
            new = b.text[lo - b.span[0]:hi - b.span[0]] if hi > lo else ""
            groups[-1] = CharGroup(g.first, b.index, g.chars + new, (g.span[0], max(hi, g.span[1])))
        else:
            groups.append(CharGroup(a.index, b.index, b.text[lo - b.span[0]:hi - b.span[0]], (lo, hi)))
    return groups


def pieces_table(pieces: list[PieceInfo]) -> list[dict]:
    """Rows for the tokens table / CSV export."""
    return [
        {
            "position": p.index,
            "piece": p.display,
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
