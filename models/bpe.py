"""Byte-pair encoding learned from scratch, one merge at a time: where a vocabulary comes from.

The trainer below is written out step by step so a page can show every merge (the pair, how often it occurred,
the new token) and cut a text with the first N merges. It follows the `tokenizers` library's ``BpeTrainer``
(tokenizers/src/models/bpe/trainer.rs and word.rs) rule for rule, so that the library trained on the same corpus
with the same settings learns the same merges in the same order (tests/unit/test_bpe.py checks it):

* the words are the corpus cut by GPT-2's byte-level pre-tokenizer (``ByteLevel(add_prefix_space=False)``, the
  one SmolLM2 uses): a leading space stays with its word as "Ġ", every byte is written as one printable character;
* the starting vocabulary is the 256 byte characters (``ByteLevel.alphabet()``), numbered in code-point order;
* each step merges the pair of neighbouring tokens that occurs most often in the corpus (each word weighted by
  its count); a tie goes to the pair with the smaller ids (left id first), the library's ``Merge`` ordering;
* a word's occurrences of the pair are merged left to right; a pair below ``min_frequency`` ends the training, and
  so does reaching the target vocabulary size (a merge whose string already exists adds no entry);
* no special tokens.

Cutting a text with the learned merges (:func:`segment`) follows the library's ``Word::merge_all``: within each
word the merge with the lowest rank is applied first (leftmost first among equal ranks), until none applies.
"""
from __future__ import annotations

import heapq
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

N_BYTES = 256  # the starting vocabulary: one token per byte value
DEFAULT_MIN_FREQUENCY = 2
MAX_MERGES = 1000  # merges learned at most in the app (the slider's range)


@lru_cache(maxsize=1)
def _pre_tokenizer():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


@lru_cache(maxsize=1)
def byte_alphabet() -> tuple[str, ...]:
    """The 256 byte characters of byte-level BPE in id order (code-point order, as the trainer numbers them)."""
    from tokenizers import pre_tokenizers

    return tuple(sorted(pre_tokenizers.ByteLevel.alphabet(), key=ord))


def pre_tokenize(text: str) -> list[tuple[str, tuple[int, int]]]:
    """The words of ``text`` as byte-level strings with their character spans: ("Ġworld", (5, 11))."""
    return [(w, (int(a), int(b))) for w, (a, b) in _pre_tokenizer().pre_tokenize_str(text)]


def word_counts(texts: Iterable[str]) -> Counter:
    """How often each pre-tokenized word occurs in the corpus (each text is pre-tokenized on its own, like the
    library's ``train_from_iterator``)."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(w for w, _ in pre_tokenize(text))
    return counts


@dataclass(frozen=True)
class Merge:
    rank: int  # 1 = the first merge learned
    left: str  # vocabulary strings (byte-level characters)
    right: str
    new: str  # left + right
    count: int  # occurrences of the pair in the corpus when it was merged
    new_id: int
    vocab_size: int  # vocabulary size after this merge
    existed: bool = False  # the new string was already in the vocabulary (made by another pair): no new entry


@dataclass(frozen=True)
class Trained:
    vocab: tuple[str, ...]  # id -> vocabulary string (the 256 bytes, then each new token)
    merges: tuple[Merge, ...]
    pairs: tuple[tuple[int, int], ...]  # the ids of each merge's pair, in rank order
    n_words: int  # words in the corpus
    n_distinct: int  # distinct words
    stop: str  # "size" (target vocabulary reached), "frequency" (no pair occurs min_frequency times), "pairs"
    min_frequency: int
    _memo: dict = field(default_factory=dict, compare=False, repr=False)  # lookups derived once

    @property
    def ids(self) -> dict[str, int]:
        if "ids" not in self._memo:
            self._memo["ids"] = {s: i for i, s in enumerate(self.vocab)}
        return self._memo["ids"]

    def ranks(self, n: int) -> dict[tuple[int, int], tuple[int, int]]:
        """pair -> (rank, new id) of the first ``n`` merges. A pair learned twice keeps its later entry, as the
        library's merge map (a HashMap filled in rank order) does."""
        key = ("ranks", n)
        if key not in self._memo:
            if len(self._memo) > 16:  # a slider visits many n: keep a few
                self._memo.clear()
            self._memo[key] = {pair: (r, m.new_id) for r, (pair, m) in enumerate(zip(self.pairs[:n], self.merges[:n]))}
        return self._memo[key]


def train(counts: Counter, vocab_size: int, min_frequency: int = DEFAULT_MIN_FREQUENCY) -> Trained:
    """Learn merges from word counts until the vocabulary has ``vocab_size`` entries (the library's do_train)."""
    id_to_word = list(byte_alphabet())
    word_to_id = {s: i for i, s in enumerate(id_to_word)}
    items = sorted(counts.items())  # any order gives the same result (counts only add up); sorted for clarity
    words = [[word_to_id[c] for c in w] for w, _ in items]
    weights = [n for _, n in items]

    # count every pair of neighbours, and remember which words contain it
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + weights[i]
            where.setdefault(pair, set()).add(i)

    # a max-heap on (count, then the smaller pair): heapq is a min-heap, so the key is (-count, pair); ``seq``
    # only keeps the heap from comparing the sets of words
    seq = itertools.count()
    queue = [(-pair_counts[p], p, next(seq), pos) for p, pos in where.items() if pair_counts[p] > 0]
    heapq.heapify(queue)
    merges: list[Merge] = []
    pairs: list[tuple[int, int]] = []
    stop = "pairs"
    while True:
        if len(word_to_id) >= vocab_size:
            stop = "size"
            break
        if not queue:
            break
        neg, pair, _, pos = heapq.heappop(queue)
        if -neg != pair_counts[pair]:  # the count changed since this entry was queued: queue it again
            heapq.heappush(queue, (-pair_counts[pair], pair, next(seq), pos))
            continue
        count = -neg
        if count < 1 or min_frequency > count:
            stop = "frequency"
            break
        a, b = pair
        new = id_to_word[a] + id_to_word[b]
        existed = new in word_to_id
        if not existed:
            word_to_id[new] = len(id_to_word)
            id_to_word.append(new)
        new_id = word_to_id[new]
        merges.append(Merge(len(merges) + 1, id_to_word[a], id_to_word[b], new, count, new_id, len(id_to_word),
                            existed))
        pairs.append(pair)

        # merge the pair in every word that had it; update the neighbours' pair counts
        added: dict[tuple[int, int], set[int]] = {}
        for i in pos:
            for changed, delta in _merge_word(words[i], a, b, new_id):
                pair_counts[changed] = pair_counts.get(changed, 0) + delta * weights[i]
                if delta > 0:
                    added.setdefault(changed, set()).add(i)
        for p, where_new in added.items():
            if pair_counts[p] > 0:
                heapq.heappush(queue, (-pair_counts[p], p, next(seq), where_new))

    return Trained(tuple(id_to_word), tuple(merges), tuple(pairs), sum(weights), len(words), stop, min_frequency)


def _merge_word(symbols: list[int], a: int, b: int, new: int) -> list[tuple[tuple[int, int], int]]:
    """Replace each (a, b) in ``symbols``, left to right, by ``new``; return the pair-count changes of the
    neighbours (the library's ``Word::merge``: the merged pair itself is not counted down)."""
    changes = []
    i = 0
    while i < len(symbols):
        if symbols[i] == a and i + 1 < len(symbols) and symbols[i + 1] == b:
            if i > 0:
                changes.append(((symbols[i - 1], a), -1))
                changes.append(((symbols[i - 1], new), 1))
            symbols[i: i + 2] = [new]
            if i < len(symbols) - 1:
                changes.append(((b, symbols[i + 1]), -1))
                changes.append(((new, symbols[i + 1]), 1))
        i += 1
    return changes


def segment_word(word: str, trained: Trained, n_merges: int) -> list[int]:
    """A pre-tokenized word cut with the first ``n_merges`` merges: the ids of its pieces (Word::merge_all)."""
    ids = trained.ids
    ranks = trained.ranks(n_merges)
    symbols = [ids[c] for c in word]
    alive = [True] * len(symbols)
    nxt = list(range(1, len(symbols))) + [-1]
    prv = list(range(-1, len(symbols) - 1))
    queue = [(ranks[p][0], i, ranks[p][1]) for i, p in enumerate(zip(symbols, symbols[1:])) if p in ranks]
    heapq.heapify(queue)
    while queue:
        _, i, new_id = heapq.heappop(queue)
        if not alive[i] or nxt[i] == -1:
            continue
        j = nxt[i]
        if ranks.get((symbols[i], symbols[j]), (None, None))[1] != new_id:  # an expired entry
            continue
        symbols[i], alive[j], nxt[i] = new_id, False, nxt[j]
        if nxt[i] != -1:
            prv[nxt[i]] = i
        if prv[i] >= 0 and (hit := ranks.get((symbols[prv[i]], symbols[i]))) is not None:
            heapq.heappush(queue, (hit[0], prv[i], hit[1]))
        if nxt[i] != -1 and (hit := ranks.get((symbols[i], symbols[nxt[i]]))) is not None:
            heapq.heappush(queue, (hit[0], i, hit[1]))
    return [s for s, keep in zip(symbols, alive) if keep]


@dataclass(frozen=True)
class Piece:
    token: str  # vocabulary string (byte-level characters)
    id: int
    span: tuple[int, int]  # characters of the text it covers (a byte piece covers the character it is part of)
    data: bytes  # its bytes


def segment(text: str, trained: Trained, n_merges: int) -> list[Piece]:
    """``text`` cut into pieces by the byte-level pre-tokenizer and the first ``n_merges`` merges."""
    out = []
    decoder = _byte_decoder()
    for word, (start, end) in pre_tokenize(text):
        original = text[start:end]
        # byte offset -> character index inside the word, to give each piece the characters it touches
        owner = [k for k, c in enumerate(original) for _ in c.encode("utf-8", "surrogatepass")]
        at = 0
        for tid in segment_word(word, trained, n_merges):
            token = trained.vocab[tid]
            data = bytes(decoder[c] for c in token)
            lo, hi = at, at + len(data)
            span = (start + owner[lo], start + owner[hi - 1] + 1) if owner and hi <= len(owner) else (start, end)
            out.append(Piece(token, tid, span, data))
            at = hi
    return out


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {c: b for b, c in bytes_to_unicode().items()}


def token_bytes(token: str) -> bytes:
    """The bytes a byte-level vocabulary string stands for ("Ġthe" -> b" the")."""
    decoder = _byte_decoder()
    return bytes(decoder[c] for c in token)


def readable(token: str) -> str:
    """A vocabulary string for people: the characters it stands for ("Ġthe" -> " the", "ä¸Ń" -> "中"; the app shows
    whitespace as ␣ / ⏎ with components.widgets.visible, one space marker for every tokenizer), and bytes of an
    incomplete character in hex ("<E4><B8>")."""
    data = token_bytes(token)
    decoded = data.decode("utf-8", errors="surrogateescape")
    return "".join(f"<{ord(c) - 0xDC00:02X}>" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in decoded)


def is_partial(token: str) -> bool:
    """Bytes that are not whole UTF-8 characters on their own (part of a character)."""
    try:
        token_bytes(token).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# ------------------------------------------------------------------------------------------- reference
def library_trained(texts: list[str], vocab_size: int, min_frequency: int = DEFAULT_MIN_FREQUENCY):
    """The `tokenizers` library's own BPE trainer on the same corpus with the same settings: a Tokenizer (byte-level
    pre-tokenizer, BPE model, no special tokens, no normalizer)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def library_merges(tok) -> list[tuple[str, str]]:
    import json

    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def agrees_with_library(texts: list[str], trained: Trained, vocab_size: int) -> bool:
    """Does the library, trained on ``texts`` with the same settings, learn exactly these merges?"""
    tok = library_trained(texts, vocab_size, trained.min_frequency)
    return library_merges(tok) == [(m.left, m.right) for m in trained.merges]


# ------------------------------------------------------------------------------------- the app's own texts
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
CORPUS_FILES = ("components/glossary.py", "components/tour.py")


def app_corpus(lang: str) -> list[str]:
    """The app's glossary and guided-tour texts in ``lang`` ("en" or "zh"), from the translation catalogue (which
    records the file every text comes from): a corpus that needs no download. Placeholders ({model}), Markdown
    links and emphasis are removed; Chinese uses only the texts that have a translation."""
    return list(_app_corpus(lang))


@lru_cache(maxsize=4)  # the catalogue is parsed once per language and process: every Tokens page run asks
def _app_corpus(lang: str) -> tuple[str, ...]:
    from babel.messages.pofile import read_po

    import i18n

    with Path(i18n.po_path("zh")).open("rb") as f:
        catalog = read_po(f, locale="zh")
    out = []
    for m in catalog:
        if not m.id or not any(loc[0] in CORPUS_FILES for loc in m.locations):
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        if lang == "zh":
            if m.fuzzy or not all(strs):
                continue
            texts = strs
        else:
            texts = ids
        for t in texts:
            t = _LINK.sub(r"\1", t)
            t = _PLACEHOLDER.sub("", t).replace("**", "").replace("`", "")
            t = re.sub(r"[ \t]+", " ", t).strip()
            if t:
                out.append(t)
    return tuple(out)
