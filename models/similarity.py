"""Geometry of embeddings: word vectors, cosine, nearest neighbours, PCA, analogies, context drift.

Plain numpy on arrays that come from the model (its embedding matrix or a Trace); every function here is
checked against the textbook formula in tests/unit/test_similarity.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import i18n
from i18n import N_, _
# sentence_recipe reads a model's files, so it lives with the other file readers in models/checkpoint.py; it is
# re-exported here (redundant alias), beside recipe_vector that applies it, for the Similarity page.
from models.checkpoint import SentenceRecipe, sentence_recipe as sentence_recipe
from models.loading import LoadedModel

MAX_WORDS = 60  # word lists longer than this are cut (with a notice on the page)


class NoSharedWord(i18n.Error, ValueError):
    """The order demo has nothing to compare: no word is the same tokens in the text and in its reversal."""


class Notice(str):
    """A one-line notice about the user's input ("'cat' appears twice; ...").

    The string itself is the English sentence (logs, tests, plain display). It keeps the catalogue template and
    its values, never translated text, so it may be cached and shared by sessions in different languages; a page
    shows it in the session's language with :meth:`markdown`. String values are the user's text (quoted in the
    English sentence, made literal by the page); numbers are formatted as they are."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, **values: object) -> Notice:
        quoted = {k: f"'{v}'" if isinstance(v, str) else v for k, v in values.items()}
        self = super().__new__(cls, template.format(**quoted))
        self.template, self.values = template, values
        return self

    def markdown(self, literal: Callable[[str], str]) -> str:
        """The notice in the session's language; ``literal`` makes the user's text literal Markdown
        (components.widgets.md_literal)."""
        return _(self.template).format(**{k: literal(v) if isinstance(v, str) else v for k, v in self.values.items()})


# ------------------------------------------------------------------------------------------- maths
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) = a·b / (|a| |b|)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else 0.0


def cosine_matrix(x: np.ndarray) -> np.ndarray:
    """[n, d] -> [n, n] pairwise cosines."""
    xn = l2_normalise(x)
    return np.clip(xn @ xn.T, -1.0, 1.0)


def distances(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """The three usual ways to compare two vectors."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return {
        "cosine": cosine(a, b),
        "dot": float(a @ b),
        "euclidean": float(np.linalg.norm(a - b)),
        "norm_a": float(np.linalg.norm(a)),
        "norm_b": float(np.linalg.norm(b)),
    }


@dataclass(frozen=True)
class PCAResult:
    coords: np.ndarray  # [n, k] projections on the first k principal components
    explained: np.ndarray  # [k] share of the variance each component explains (0..1)
    mean: np.ndarray  # [d]
    components: np.ndarray  # [k, d]


def pca(x: np.ndarray, k: int = 2) -> PCAResult:
    """Principal components by SVD of the centred data."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    xc = x - mean
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    k = min(k, vt.shape[0])
    var = s**2
    total = var.sum()
    explained = var[:k] / total if total > 0 else np.zeros(k)
    # sign convention: largest |loading| of each component positive (stable plots)
    signs = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
    signs[signs == 0] = 1
    comps = vt[:k] * signs[:, None]
    return PCAResult(coords=xc @ comps.T, explained=explained, mean=mean, components=comps)


# ------------------------------------------------------------------------------------ embeddings
class EmbeddingIndex:
    """The input embedding matrix, L2-normalised once, for nearest-neighbour queries over the vocabulary."""

    def __init__(self, lm: LoadedModel):
        self.lm = lm
        w = lm.model.get_input_embeddings().weight.detach().float().numpy()  # [V, d]
        self.matrix = w
        norms = np.linalg.norm(w, axis=1, keepdims=True)
        self.normed = (w / np.where(norms == 0, 1, norms)).astype(np.float32)  # [V, d]
        tok = lm.tokenizer
        self.tokens = tok.convert_ids_to_tokens(list(range(w.shape[0])))
        self.skip = np.zeros(w.shape[0], dtype=bool)  # special and unused ids are never neighbours
        special = [i for i in getattr(tok, "all_special_ids", []) if i < w.shape[0]]
        self.skip[special] = True
        self.skip[[i for i, t in enumerate(self.tokens) if t is None or t.startswith("[unused")]] = True

    def scores(self, vector: np.ndarray, exclude: set[int] | None = None) -> np.ndarray:
        """[V] cosine of every vocabulary row with ``vector``; -inf for special/unused and excluded ids."""
        v = np.asarray(vector, np.float32)
        n = np.linalg.norm(v)
        scores = self.normed @ (v / n if n else v)  # [V]
        scores = np.where(self.skip, -np.inf, scores)
        if exclude:
            scores[list(exclude)] = -np.inf
        return scores

    def nearest(self, vector: np.ndarray, k: int = 10, exclude: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-k vocabulary ids by cosine with ``vector``: [(id, cosine)], best first."""
        scores = self.scores(vector, exclude)
        top = np.argpartition(-scores, k)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top]


def word_form(word: str, tokenizer_kind: str) -> str:
    """How a word appears inside a sentence: byte-level BPE attaches the leading space (" cat" -> "Ġcat")."""
    word = word.strip()
    return " " + word if tokenizer_kind == "byte-level BPE" else word


@dataclass(frozen=True)
class WordPieces:
    word: str
    ids: list[int]
    pieces: list[str]

    @property
    def single(self) -> bool:
        return len(self.ids) == 1


def word_pieces(lm: LoadedModel, word: str) -> WordPieces:
    """The pieces a word becomes in the middle of a sentence (no special tokens)."""
    form = word_form(word, lm.facts.tokenizer.kind)
    with lm.tokenizer_lock:
        ids = lm.tokenizer(form, add_special_tokens=False)["input_ids"]
    unk = lm.tokenizer.unk_token_id
    return WordPieces(word=word.strip(), ids=[i for i in ids], pieces=lm.tokenizer.convert_ids_to_tokens(ids)) \
        if not (unk is not None and ids == [unk]) else WordPieces(word=word.strip(), ids=[unk], pieces=["[UNK]"])


def static_word_vector(index: EmbeddingIndex, wp: WordPieces) -> np.ndarray:
    """Input-embedding vector of a word: the mean of its pieces' rows (one row for a single-piece word)."""
    return index.matrix[wp.ids].mean(axis=0)


def parse_words(raw: str, limit: int = MAX_WORDS) -> tuple[list[str], list[Notice]]:
    """Comma/newline separated words -> (unique words in order, notices)."""
    notices = []
    words, seen = [], set()
    for w in raw.replace("\n", ",").split(","):
        w = " ".join(w.split())
        if w and w.lower() not in seen:
            seen.add(w.lower())
            words.append(w)
        elif w:
            notices.append(Notice(N_("{word} appears twice; it is shown once."), word=w))
    if len(words) > limit:
        notices.append(Notice(N_("Only the first {limit} of {n} words are used."), limit=limit, n=len(words)))
        words = words[:limit]
    return words, notices


# ------------------------------------------------------------------------------- context vectors
def span_positions(offsets: np.ndarray, special: np.ndarray, start: int, end: int) -> list[int]:
    """Token positions whose character span overlaps [start, end)."""
    return [i for i, (s, e) in enumerate(offsets.tolist()) if not special[i] and s < end and e > start and e > s]


def find_word(text: str, word: str) -> tuple[int, int] | None:
    """Character span of the first whole-word, case-insensitive occurrence of ``word`` in ``text``."""
    import re

    m = re.search(r"(?<!\w)" + re.escape(word.strip()) + r"(?!\w)", text, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def _covering(trace: Any, start: int, end: int) -> list[int]:
    """The positions of the tokens covering text[start:end]; a span no analysed token covers is the caller's bug
    (it asks :func:`span_positions` first, and says so on the page)."""
    pos = span_positions(trace.offsets, trace.special, start, end)
    if not pos:
        raise ValueError("no token covers that span")
    return pos


def hidden_for_span(trace: Any, start: int, end: int) -> np.ndarray:
    """[L+1, d]: per layer, the mean hidden state of the tokens covering text[start:end] (a word cut into pieces
    is the mean of its pieces)."""
    return trace.hidden_states[:, _covering(trace, start, end)].mean(axis=1)


def embedding_for_span(trace: Any, start: int, end: int) -> np.ndarray:
    """[d]: the mean input embedding row (before any position) of the tokens covering text[start:end]."""
    return trace.token_embeddings[_covering(trace, start, end)].mean(axis=0)


def layer_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[L+1, d] x [L+1, d] -> [L+1] cosine per layer."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.where(den == 0, 1, den)


def sentence_vector(trace: Any, layer: int = -1, pooling: str = "mean") -> np.ndarray:
    """Mean over all tokens of one layer (sentence-transformers' MiniLM recipe: mean of the last layer,
    special tokens included, attention mask all ones), or the [CLS] vector (position 0)."""
    h = trace.hidden_states[layer]  # [T, d]
    if pooling == "cls":
        return h[0]
    return h.mean(axis=0)


# --------------------------------------------------------------------------------- embeddings page
DEFAULT_GROUPS = ("animals: cat, dog, horse, lion, cow; vehicles: car, bus, train, bicycle, truck; "
                  "fruit: apple, banana, orange, grape, cherry; royalty: king, queen, prince, princess, throne")


def parse_groups(raw: str, limit: int = MAX_WORDS) -> tuple[list[tuple[str, str]], list[Notice]]:
    """"group: w1, w2; group2: w3" (or a plain comma list) -> [(group, word)], notices."""
    pairs, notices = [], []
    for chunk in raw.split(";"):
        group, sep, rest = chunk.partition(":")
        group, rest = (group.strip() or "words", rest) if sep else ("words", chunk)
        words, dup = parse_words(rest, limit=10**6)
        notices += dup
        pairs += [(group, w) for w in words]
    seen, unique = set(), []
    for g, w in pairs:
        if w.lower() in seen:
            notices.append(Notice(N_("{word} appears in more than one group; it is shown once."), word=w))
            continue
        seen.add(w.lower())
        unique.append((g, w))
    if len(unique) > limit:
        notices.append(Notice(N_("Only the first {limit} of {n} words are used."), limit=limit, n=len(unique)))
        unique = unique[:limit]
    return unique, notices


@dataclass(frozen=True)
class Analogy:
    vector: np.ndarray  # a - b + c
    excluded: set[int]  # the input words' ids, left out of the results
    results: list[tuple[int, float]]  # (id, cosine), best first


def analogy(index: EmbeddingIndex, a: WordPieces, b: WordPieces, c: WordPieces, k: int = 10) -> Analogy:
    """Nearest vocabulary entries to vec(a) - vec(b) + vec(c), the input words excluded."""
    v = static_word_vector(index, a) - static_word_vector(index, b) + static_word_vector(index, c)
    excluded = set(a.ids) | set(b.ids) | set(c.ids)
    return Analogy(v, excluded, index.nearest(v, k, exclude=excluded))


def rank_of(index: EmbeddingIndex, vector: np.ndarray, token_id: int, exclude: set[int]) -> int:
    """1-based rank of ``token_id`` among all eligible vocabulary entries by cosine with ``vector``."""
    scores = index.scores(vector, exclude)  # ineligible entries are -inf, so they never outrank it
    return int((scores > scores[token_id]).sum()) + 1


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the whitespace-separated words of ``text`` (the words ``str.split()`` gives)."""
    import re

    return [m.span() for m in re.finditer(r"\S+", text)]


@dataclass(frozen=True)
class OrderDemo:
    """The same words in two orders (a text and its word reversal), compared token by token, layer by layer.

    Tokens are matched BY WORD, so that each comparison is fair: word k of the text with the same word in the
    reversal (word n + 1 - k), token by token, and only when that word is the same token ids in both texts (a
    byte-level BPE tokenizer writes "Tim" at the start of a text but "ĠTim" after a space: different rows of the
    embedding matrix, so comparing them would mix that difference into the order's)."""

    same_multiset: bool  # the two texts are made of exactly the same token ids (specials included)
    only_a: list[str]  # tokens of the text that the reversal lacks (multiset difference), and ...
    only_b: list[str]  # ... the reversal's tokens that the text lacks
    pairs: list[tuple[int, int]]  # matched token positions (in the text, in the reversal)
    shared: list[str]  # the matched tokens (the text's token strings)
    words: int  # words in the text
    left_out: list[tuple[str, list[str], list[str]]]  # (word, its tokens in the text, in the reversal) not compared
    static: np.ndarray  # [n] cosine of the matched tokens' input (token) embeddings: exactly 1
    per_layer: np.ndarray  # [L+1] mean cosine of the matched tokens' hidden states (the model as it is)
    without_positions: np.ndarray | None  # [L+1] the same with the model's positions switched off


@dataclass(frozen=True)
class TextStates:
    """What ``order_demo`` reads of a text: its tokens and, for the comparison, its token embeddings and hidden
    states. A Trace has all of these; the word reversal of the order demo is made of these alone
    (models.positions.reversal_demo: no attention weights are needed for it)."""

    text: str
    tokens: list[str]
    ids: np.ndarray  # [T]
    offsets: np.ndarray  # [T, 2]
    special: np.ndarray  # [T]
    token_embeddings: np.ndarray | None = None  # [T, d]
    hidden_states: np.ndarray | None = None  # [L+1, T, d]


def match_words(trace_a, trace_b) -> tuple[list[tuple[int, int]], list[tuple[str, list[str], list[str]]], int]:
    """(matched token positions (in a, in b), the words left out with their tokens in a and in b, words in a) for
    a text and its word reversal: word k of a with word n + 1 - k of b, token by token, when that word is the same
    token ids in both (see OrderDemo). Reads the tokens only. NoSharedWord when nothing matches."""
    words_a, words_b = trace_a.text.split(), trace_b.text.split()
    if words_b != words_a[::-1]:
        raise ValueError("the second text is not the first one's words in reverse order")
    spans_a, spans_b = word_spans(trace_a.text), word_spans(trace_b.text)
    n = len(words_a)
    pairs, left_out, used_a, used_b = [], [], set(), set()
    for k in range(n):
        pa = span_positions(trace_a.offsets, trace_a.special, *spans_a[k])
        pb = span_positions(trace_b.offsets, trace_b.special, *spans_b[n - 1 - k])
        same = (pa and len(pa) == len(pb) and trace_a.ids[pa].tolist() == trace_b.ids[pb].tolist()
                and not used_a & set(pa) and not used_b & set(pb))  # a token shared by two words: not fair
        if same:
            pairs += list(zip(pa, pb))
            used_a |= set(pa)
            used_b |= set(pb)
        else:
            left_out.append((words_a[k], [trace_a.tokens[i] for i in pa], [trace_b.tokens[j] for j in pb]))
    if not pairs:
        raise NoSharedWord(N_("The text and its word reversal share no word made of the same tokens."))
    return pairs, left_out, n


def order_demo(trace_a, trace_b, without_a: np.ndarray | None = None,
               without_b: np.ndarray | None = None) -> OrderDemo:
    """Compare a text (``trace_a``) with its word reversal (``trace_b``, text ``reverse_words(trace_a.text)``; a
    Trace or a TextStates).

    ``without_a``/``without_b`` are the two texts' hidden states [L+1, T, d] with positions switched off
    (models.positions.hidden_states_without_positions); when given, the same mean cosine is computed on them."""
    from collections import Counter

    pairs, left_out, n = match_words(trace_a, trace_b)
    ca, cb = Counter(trace_a.ids.tolist()), Counter(trace_b.ids.tolist())
    name = dict(zip(trace_a.ids.tolist(), trace_a.tokens)) | dict(zip(trace_b.ids.tolist(), trace_b.tokens))
    only_a = [name[i] for i in sorted((ca - cb).elements(), key=trace_a.ids.tolist().index)]
    only_b = [name[i] for i in sorted((cb - ca).elements(), key=trace_b.ids.tolist().index)]
    static = np.array([cosine(trace_a.token_embeddings[i], trace_b.token_embeddings[j]) for i, j in pairs])
    return OrderDemo(
        same_multiset=ca == cb, only_a=only_a, only_b=only_b, pairs=pairs, shared=[trace_a.tokens[i] for i, _j in pairs],
        words=n, left_out=left_out, static=static,
        per_layer=mean_pair_cosines(trace_a.hidden_states, trace_b.hidden_states, pairs),
        without_positions=None if without_a is None or without_b is None else
        mean_pair_cosines(without_a, without_b, pairs))


def mean_pair_cosines(hidden_a: np.ndarray, hidden_b: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """[L+1]: per layer, the mean over the pairs (i, j) of cos(hidden_a[layer, i], hidden_b[layer, j])."""
    return np.stack([layer_cosines(hidden_a[:, i], hidden_b[:, j]) for i, j in pairs]).mean(axis=0)


@dataclass(frozen=True)
class CurveShape:
    """What a per-layer curve does, read from its numbers (layer 0 = embeddings, l = after block l)."""

    start: float  # layer 0
    low_layer: int  # where it is lowest (the first such layer)
    low: float
    end: float  # after the last layer
    rise_from: int  # the largest rise on the way: from this layer ...
    rise_to: int  # ... to this later one (equal to rise_from when the curve never rises)
    rise: float  # y[rise_to] - y[rise_from] >= 0


def curve_shape(y: np.ndarray) -> CurveShape:
    """The lowest point and the largest rise (a later layer above an earlier one) of a per-layer curve."""
    y = np.asarray(y, np.float64)
    lo = int(np.argmin(y))
    best = (0.0, 0, 0)
    low_so_far = 0
    for j in range(1, len(y)):
        if y[j - 1] < y[low_so_far]:
            low_so_far = j - 1
        if y[j] - y[low_so_far] > best[0]:
            best = (float(y[j] - y[low_so_far]), low_so_far, j)
    return CurveShape(float(y[0]), lo, float(y[lo]), float(y[-1]), best[1], best[2], best[0])


def reverse_words(text: str) -> str:
    return " ".join(reversed(text.split()))


# --------------------------------------------------------------------------------- similarity page
MAX_SENTENCES = 10  # sentence lists longer than this are cut (with a notice on the page)
MAX_WORD_CHARS = 40  # a "word" longer than this is cut (with a notice)


def clip_words(words: list[str], limit: int = MAX_WORD_CHARS) -> tuple[list[str], list[Notice]]:
    """Cut over-long entries of a word list -> (words, notices)."""
    out, notices = [], []
    for w in words:
        if len(w) > limit:
            notices.append(Notice(N_("{word} is longer than {limit} characters; only its first {limit} are used."),
                                  word=w[:limit] + "…", limit=limit))
            w = w[:limit].rstrip()
        out.append(w)
    return out, notices


def parse_sentences(raw: str, limit: int = MAX_SENTENCES) -> tuple[list[str], list[Notice]]:
    """Newline or ``|`` separated sentences -> (unique sentences in order, notices)."""
    notices, out, seen = [], [], set()
    for s in raw.replace("|", "\n").split("\n"):
        s = " ".join(s.split())
        if not s:
            continue
        if s in seen:
            notices.append(Notice(N_("{sentence} appears twice; it is used once."), sentence=s))
            continue
        seen.add(s)
        out.append(s)
    if len(out) > limit:
        notices.append(Notice(N_("Only the first {limit} of {n} sentences are used."), limit=limit, n=len(out)))
        out = out[:limit]
    return out, notices


def l2_normalise(v: np.ndarray) -> np.ndarray:
    """v / |v| along the last axis (a zero vector stays zero)."""
    v = np.asarray(v, np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1, n)


def contextual_word_vector(trace: Any, layer: int) -> np.ndarray:
    """[d]: a word run alone through the model (its trace), hidden state after ``layer`` (0 = embedding
    output), averaged over the word's pieces; special tokens ([CLS], [SEP], BOS) are left out."""
    keep = ~np.asarray(trace.special, bool)
    if not keep.any():
        raise ValueError("the text has only special tokens")
    return trace.hidden_states[layer][keep].mean(axis=0)


def top_share(v: np.ndarray, k: int = 3) -> tuple[float, list[int]]:
    """Share of |v|² held by its k largest dimensions, and those dimensions (largest first)."""
    sq = np.asarray(v, np.float64) ** 2
    top = np.argsort(-sq)[:k]
    total = sq.sum()
    return (float(sq[top].sum() / total) if total else 0.0), [int(i) for i in top]


def recipe_vector(trace: Any, recipe: SentenceRecipe) -> np.ndarray:
    """The sentence vector a sentence-transformers recipe makes from the last layer (mean / cls / max),
    L2-normalised when the recipe says so."""
    if recipe.pooling == ("mean",):
        v = sentence_vector(trace, -1, "mean")
    elif recipe.pooling == ("cls",):
        v = sentence_vector(trace, -1, "cls")
    elif recipe.pooling == ("max",):
        v = trace.hidden_states[-1].max(axis=0)
    else:
        raise ValueError(f"unsupported pooling {recipe.pooling}")
    return l2_normalise(v) if recipe.normalize else np.asarray(v, np.float64)
