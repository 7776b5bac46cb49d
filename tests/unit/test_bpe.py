"""models/bpe.py against the `tokenizers` library's own BPE trainer and BPE model: the same merges in the same order
(ties and all), the same vocabulary ids, and the same segmentation after the first N merges; the app's corpus.
models/tokentax.py against the tokenizers' own counts."""
from __future__ import annotations

import json
import random

import pytest

from models import bpe, tokentax

TEXTS = ["students celebrate the graduation with a big party",
         "The capital of France is Paris.\n\nIt is 2024; 3.14 + 2 = 5.14 ",
         "我们在毕业典礼后举办了一个盛大的派对 🎉 ok"]


def library(texts: list[str], n_merges: int, min_frequency: int = bpe.DEFAULT_MIN_FREQUENCY):
    return bpe.library_trained(texts, bpe.N_BYTES + n_merges, min_frequency)


def library_vocab(tok) -> dict[str, int]:
    return json.loads(tok.to_str())["model"]["vocab"]


def check_same(texts: list[str], n_merges: int, min_frequency: int = bpe.DEFAULT_MIN_FREQUENCY) -> bpe.Trained:
    ours = bpe.train(bpe.word_counts(texts), bpe.N_BYTES + n_merges, min_frequency)
    ref = library(texts, n_merges, min_frequency)
    assert [(m.left, m.right) for m in ours.merges] == bpe.library_merges(ref)
    assert {s: i for i, s in enumerate(ours.vocab)} == library_vocab(ref)  # ids too (they break ties)
    return ours


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_app_corpus_merges_equal_the_library(lang):
    texts = bpe.app_corpus(lang)
    ours = check_same(texts, bpe.MAX_MERGES)
    assert len(ours.merges) > 300 and ours.stop in ("frequency", "size")
    # every merge joined the pair that was most frequent at that point: the counts never increase
    counts = [m.count for m in ours.merges]
    assert counts == sorted(counts, reverse=True)
    assert all(m.count >= ours.min_frequency for m in ours.merges)


def test_random_corpora_with_many_ties_equal_the_library():
    """Small alphabets make many ties (equal counts) and overlapping pairs ("aaa"): the tie-breaking (smaller ids
    first), the left-to-right merging inside a word and the counts' updates must match the library's exactly."""
    rng = random.Random(24)
    ties = 0
    for trial in range(60):
        alphabet = ("ab", "abc", "abcd ", "a")[trial % 4]
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(3, 40))]
        texts = [" ".join(words[i: i + 5]) for i in range(0, len(words), 5)]
        ours = check_same(texts, rng.randint(1, 60), min_frequency=rng.choice([0, 1, 2, 3]))
        counts = [m.count for m in ours.merges]
        ties += sum(a == b for a, b in zip(counts, counts[1:]))
    assert ties > 50  # the corpora really exercised the tie-breaking


def test_stops_at_the_vocabulary_size_and_at_min_frequency():
    texts = bpe.app_corpus("en")
    small = check_same(texts, 7)
    assert len(small.merges) == 7 and len(small.vocab) == bpe.N_BYTES + 7 and small.stop == "size"
    big = check_same(texts, 5000)
    assert big.stop == "frequency" and big.merges[-1].count >= 2
    # the first merges of a longer training are the merges of a shorter one
    assert big.merges[:7] == small.merges


@pytest.mark.parametrize("n", [0, 1, 10, 100, 400])
def test_segmentation_equals_the_library_model_trained_with_n_merges(n):
    corpus = bpe.app_corpus("en") + TEXTS
    trained = bpe.train(bpe.word_counts(corpus), bpe.N_BYTES + 400)
    ref = library(corpus, n)
    for text in TEXTS + ["unbelievably tokenizers", "   leading spaces\tand\ttabs\n"]:
        pieces = bpe.segment(text, trained, n)
        enc = ref.encode(text)
        assert [p.token for p in pieces] == enc.tokens
        assert [p.id for p in pieces] == enc.ids
        assert b"".join(p.data for p in pieces) == text.encode("utf-8")


def test_pieces_point_at_the_characters_they_cover():
    text = "a 中文 text"
    trained = bpe.train(bpe.word_counts([text * 3]), bpe.N_BYTES + 3)
    pieces = bpe.segment(text, trained, 0)  # bytes only: 中 is three pieces, each pointing at 中
    assert [text[a:b] for a, b in (p.span for p in pieces)][2:5] == ["中", "中", "中"]
    assert [bpe.is_partial(p.token) for p in pieces][2:5] == [True, True, True]
    assert bpe.readable(pieces[2].token) == "<E4>" and bpe.readable("Ġthe") == " the"  # the app shows ␣the
    assert bpe.readable("".join(p.token for p in pieces[2:5])) == "中"


def test_more_merges_never_add_tokens_to_a_text():
    texts = bpe.app_corpus("en")
    trained = bpe.train(bpe.word_counts(texts), bpe.N_BYTES + 300)
    counts = [len(bpe.segment(TEXTS[0], trained, n)) for n in range(0, 301, 20)]
    assert counts == sorted(counts, reverse=True) and counts[0] == len(TEXTS[0].encode()) > counts[-1]


def test_app_corpus_is_the_glossary_and_tour_in_each_language():
    from components.glossary import term

    en, zh = bpe.app_corpus("en"), bpe.app_corpus("zh")
    assert term("softmax").text.split(":")[0] in " ".join(en)
    assert all("{" not in t and "**" not in t and "](" not in t for t in en + zh)
    han = sum(1 for c in "".join(zh) if "\u4e00" <= c <= "\u9fff")
    assert han > 1000 and not any("\u4e00" <= c <= "\u9fff" for c in "".join(en))


# ------------------------------------------------------------------------------------------- token tax
def test_token_tax_counts_are_the_tokenizers_own(smollm2_tok, minilm_tok):
    from components import presets

    a, b = presets.TAX_EN, presets.CHINESE_WEATHER
    for lt in (smollm2_tok, minilm_tok):
        tok = lt.tokenizer
        for text in (a, b):
            c = tokentax.cost(tok, text)
            ids = tok.encode(text, add_special_tokens=False)
            assert c.tokens == len(ids) and c.characters == len(text)
            assert c.unknown == ids.count(tok.unk_token_id) if tok.unk_token_id is not None else c.unknown == 0
    assert tokentax.cost(smollm2_tok.tokenizer, a).words == len(a.split()) == 14
    assert tokentax.cost(smollm2_tok.tokenizer, b).words is None  # Chinese: no spaces between words


def test_token_tax_preset_describes_the_tokenizers(smollm2_tok, minilm_tok):
    """The numbers in the token-tax preset's description, from the tokenizers themselves."""
    from components import presets

    text = presets.get("token-tax").what
    a, b = presets.TAX_EN, presets.CHINESE_WEATHER
    sa, sb = (len(smollm2_tok.tokenizer.encode(t, add_special_tokens=False)) for t in (a, b))
    mb = minilm_tok.tokenizer.encode(b, add_special_tokens=False)
    unk = mb.count(minilm_tok.tokenizer.unk_token_id)
    assert f"English ({len(a)} characters) and Chinese ({len(b)})" in text
    assert f"SmolLM2 needs {sa} tokens for the English and {sb} for the Chinese, {sb / sa:.1f} times" in text
    assert f"MiniLM needs only {len(mb)} for the Chinese, but {unk} of them are [UNK]" in text


def test_train_tokenizer_preset_words_become_single_tokens():
    from components import presets

    assert "“model” and “token”" in presets.get("train-tokenizer").what
    trained = bpe.train(bpe.word_counts(bpe.app_corpus("en")), bpe.N_BYTES + 500)
    pieces = [p.token for p in bpe.segment(presets.APP_SENTENCE, trained, 500)]
    assert "Ġmodel" in pieces and ("Ġtokens" in pieces or "Ġtoken" in pieces), pieces
