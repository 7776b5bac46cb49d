"""Unicode ranges of the writing systems the app treats specially, defined once (code points, inclusive).

* :data:`HAN`, Han ideographs, "Chinese characters": CJK Unified Ideographs and Extension A, the compatibility
  ideographs, and Extensions B to H with the compatibility supplement (planes 2 and 3);
* :data:`KANA`, Japanese hiragana and katakana;
* :data:`THAI`, the Thai block.
Han, kana and Thai are written without spaces between words. Where a module needs more (CJK punctuation for word
level attention, models/attention.py), it adds its own ranges to these.
"""
from __future__ import annotations

HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
KANA = ((0x3040, 0x30FF),)
THAI = ((0x0E00, 0x0E7F),)


def char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """A regular-expression character class matching any character of ``ranges`` ("[㐀-䶿一-鿿...]")."""
    return "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges) + "]"
