"""models/similarity.py against plain numpy / torch reference maths, on the real bundled models.

Every reference here is computed independently: from the embedding weight tensor, from the model's own forward
pass (no Trace, no hooks), or from the textbook formula.
"""
from __future__ import annotations

import html
import json
import threading

import numpy as np
import pytest
import torch

from models import similarity as sim
from models.loading import bundled_path
from models.trace import compute_trace
from tests.unit.conftest import last_block_output

WORDS = ["cat", "dog", "car", "banana", "king", "queen", "bratwurst"]
PARTY = ("students celebrate the graduation with a big party",
         "the deputy leader is highly respected in the party")


@pytest.fixture(scope="module", params=["smollm2-135m", "minilm-l6"])
def lm(request):
    return request.getfixturevalue({"smollm2-135m": "smollm2", "minilm-l6": "minilm"}[request.param])


@pytest.fixture(scope="module")
def index(lm):
    return sim.EmbeddingIndex(lm)


def weight(lm) -> np.ndarray:
    return lm.model.get_input_embeddings().weight.detach().double().numpy()  # [V, d]


def own_hidden_states(lm, text: str) -> tuple[np.ndarray, np.ndarray]:
    """hidden_states [L+1, T, d] and the special-token mask from the model's own forward pass; layer L is the
    last block's own output (transformers takes its last entry after a decoder's final norm)."""
    enc = lm.tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask")[0].numpy().astype(bool)
    with last_block_output(lm.model) as last, torch.inference_mode():
        out = lm.model(**enc, output_hidden_states=True)
        hs = torch.stack(out.hidden_states[:-1] + (last["last"],))[:, 0]
    return hs.double().numpy(), special


# ------------------------------------------------------------------------------------ the maths
def test_static_word_vectors_are_embedding_rows_and_piece_means(lm, index):
    W = weight(lm)
    for w in WORDS:
        wp = sim.word_pieces(lm, w)
        form = (" " + w) if lm.facts.tokenizer.kind == "byte-level BPE" else w
        ids = lm.tokenizer(form, add_special_tokens=False)["input_ids"]
        assert wp.ids == ids
        np.testing.assert_allclose(sim.static_word_vector(index, wp), W[ids].mean(axis=0), atol=1e-6)
    assert not sim.word_pieces(lm, "bratwurst").single  # the multi-piece case is really exercised


def test_cosine_matrix_equals_reference(lm, index):
    X = np.stack([sim.static_word_vector(index, sim.word_pieces(lm, w)) for w in WORDS]).astype(np.float64)
    n = np.sqrt((X * X).sum(axis=1))
    reference = (X @ X.T) / np.outer(n, n)
    M = sim.cosine_matrix(X)
    np.testing.assert_allclose(M, reference, atol=1e-12)
    np.testing.assert_allclose(np.diag(M), 1.0, atol=1e-12)
    assert np.allclose(M, M.T)
    i, j = WORDS.index("cat"), WORDS.index("dog")
    assert M[i, j] > M[WORDS.index("car"), WORDS.index("banana")]  # TEACHING.md's claim, on this model


def test_distances_equal_reference(lm, index):
    a = sim.static_word_vector(index, sim.word_pieces(lm, "king")).astype(np.float64)
    b = sim.static_word_vector(index, sim.word_pieces(lm, "queen")).astype(np.float64)
    d = sim.distances(a, b)
    dot = float(sum(x * y for x, y in zip(a.tolist(), b.tolist())))
    na, nb = float(np.sqrt((a**2).sum())), float(np.sqrt((b**2).sum()))
    assert d["dot"] == pytest.approx(dot, rel=1e-12)
    assert d["norm_a"] == pytest.approx(na, rel=1e-12) and d["norm_b"] == pytest.approx(nb, rel=1e-12)
    assert d["cosine"] == pytest.approx(dot / (na * nb), rel=1e-12)
    assert d["euclidean"] == pytest.approx(float(np.sqrt(((a - b) ** 2).sum())), rel=1e-12)
    # scaled to length 1: dot == cosine and distance == sqrt(2 - 2 cos) (what the page's right column shows)
    u = sim.distances(sim.l2_normalise(a), sim.l2_normalise(b))
    assert u["norm_a"] == pytest.approx(1.0) and u["norm_b"] == pytest.approx(1.0)
    assert u["dot"] == pytest.approx(d["cosine"], abs=1e-12)
    assert u["cosine"] == pytest.approx(d["cosine"], abs=1e-12)
    assert u["euclidean"] == pytest.approx(np.sqrt(2 - 2 * d["cosine"]), abs=1e-12)


def test_pca_equals_eigendecomposition_of_the_covariance(lm, index):
    X = np.stack([sim.static_word_vector(index, sim.word_pieces(lm, w)) for w in WORDS]).astype(np.float64)
    res = sim.pca(X, k=3)
    Xc = X - X.mean(axis=0)
    evals, evecs = np.linalg.eigh(Xc.T @ Xc)  # ascending
    evals, evecs = evals[::-1], evecs[:, ::-1]
    np.testing.assert_allclose(res.explained, evals[:3] / evals.sum(), atol=1e-10)
    for k in range(3):  # same axis up to sign; coordinates are the projections on it
        assert abs(abs(float(res.components[k] @ evecs[:, k])) - 1) < 1e-8
        np.testing.assert_allclose(res.coords[:, k], Xc @ res.components[k], atol=1e-10)
    np.testing.assert_allclose(res.components @ res.components.T, np.eye(3), atol=1e-10)


def test_nearest_equals_brute_force_over_the_whole_vocabulary(lm, index):
    W = weight(lm)
    normed = W / np.linalg.norm(W, axis=1, keepdims=True)
    special = set(lm.tokenizer.all_special_ids)
    for w in ("king", "party", "bratwurst"):
        wp = sim.word_pieces(lm, w)
        v = sim.static_word_vector(index, wp).astype(np.float64)
        scores = normed @ (v / np.linalg.norm(v))  # [V] cosine with every row
        scores[index.skip] = -np.inf
        exclude = set(wp.ids)
        scores[list(exclude)] = -np.inf
        expected = np.argsort(-scores, kind="stable")[:10]
        got = index.nearest(v, 10, exclude=exclude)
        assert [i for i, _ in got] == expected.tolist(), w
        np.testing.assert_allclose([s for _, s in got], scores[expected], atol=1e-5)
        assert not (set(i for i, _ in got) & (exclude | special))
    assert index.skip[list(special)].all()


def test_king_minus_man_plus_woman(minilm):
    index = sim.EmbeddingIndex(minilm)
    a, b, c = (sim.word_pieces(minilm, w) for w in ("king", "man", "woman"))
    res = sim.analogy(index, a, b, c, k=5)
    W = weight(minilm)
    np.testing.assert_allclose(res.vector, W[a.ids[0]] - W[b.ids[0]] + W[c.ids[0]], atol=1e-6)
    words = [index.tokens[i] for i, _ in res.results]
    assert "queen" in words, words
    assert not {"king", "man", "woman"} & set(words)  # the inputs are excluded, as the page says


def test_layer_cosines_equals_a_loop():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 33)), rng.normal(size=(7, 33))
    expected = [float(a[i] @ b[i] / np.linalg.norm(a[i]) / np.linalg.norm(b[i])) for i in range(7)]
    np.testing.assert_allclose(sim.layer_cosines(a, b), expected, atol=1e-12)


def test_top_share():
    v = np.array([0.0, 3.0, -4.0, 1.0, 0.5])
    share, dims = sim.top_share(v, k=2)
    assert dims == [2, 1] and share == pytest.approx(25 / 26.25)
    assert sim.top_share(np.zeros(4)) == (0.0, [0, 1, 2])


# --------------------------------------------------------------------- same word, two contexts
def test_party_curve_starts_at_exactly_one_for_the_token_rows(lm):
    t1, t2 = (compute_trace(lm, s) for s in PARTY)
    p1, p2 = (sim.span_positions(t.offsets, t.special, *sim.find_word(s, "party")) for t, s in zip((t1, t2), PARTY))
    assert len(p1) == len(p2) == 1 and t1.ids[p1[0]] == t2.ids[p2[0]]  # the same token id in both sentences
    static = sim.cosine(t1.token_embeddings[p1].mean(0), t2.token_embeddings[p2].mean(0))
    assert static == 1.0  # identical rows of the embedding matrix: exactly 1
    curve = sim.layer_cosines(sim.hidden_for_span(t1, *sim.find_word(PARTY[0], "party")),
                              sim.hidden_for_span(t2, *sim.find_word(PARTY[1], "party")))
    assert curve.shape == (lm.facts.n_layers + 1,)
    if lm.facts.positions == "rope":  # SmolLM2: hidden_states[0] IS the token row
        assert curve[0] == 1.0
    else:  # BERT: LayerNorm(token + position + token type) already differs between positions 8 and 9
        assert p1 != p2 and 0.9 < curve[0] < 1.0
    assert curve[-1] < 0.9  # and the contexts pull the two vectors apart
    # against the model's own forward pass
    for text, t, p in ((PARTY[0], t1, p1), (PARTY[1], t2, p2)):
        hs, _ = own_hidden_states(lm, text)
        np.testing.assert_allclose(sim.hidden_for_span(t, *sim.find_word(text, "party")), hs[:, p].mean(1),
                                   atol=1e-4)


def test_party_preset_describes_what_minilm_computes(minilm):
    """components/presets.py "party-contexts" (MiniLM): the same embedding row, a little apart at layer 0 already,
    further apart after every layer, not steadily."""
    from components.presets import get

    p = get("party-contexts")
    assert p.params["model"] == "minilm-l6" and p.params["target"] == "party"
    texts = p.params["contexts"].split("|")
    t1, t2 = (compute_trace(minilm, s) for s in texts)
    p1, p2 = (sim.span_positions(t.offsets, t.special, *sim.find_word(s, "party")) for t, s in zip((t1, t2), texts))
    assert sim.cosine(t1.token_embeddings[p1].mean(0), t2.token_embeddings[p2].mean(0)) == 1.0  # the same row
    hs1, _ = own_hidden_states(minilm, texts[0])
    hs2, _ = own_hidden_states(minilm, texts[1])
    a, b = hs1[:, p1].mean(1), hs2[:, p2].mean(1)
    curve = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert 0.95 < curve[0] < 1.0  # "already a little apart at layer 0"
    assert (curve[1:] < curve[0]).all()  # "further apart than that after every layer"
    assert (np.diff(curve) > 0.005).any()  # "the gap does not grow steadily"
    assert "a little apart at layer 0" in p.what and "does not grow steadily" in p.what


def test_contextual_word_vector_is_the_word_run_alone(lm):
    kind = lm.facts.tokenizer.kind
    for w in ("cat", "bratwurst"):
        form = sim.word_form(w, kind)
        tr = compute_trace(lm, form)
        hs, special = own_hidden_states(lm, form)
        for layer in (0, 1, lm.facts.n_layers):
            np.testing.assert_allclose(sim.contextual_word_vector(tr, layer), hs[layer][~special].mean(0), atol=1e-4)
        if lm.facts.tokenizer.wraps_cls_sep:
            assert special[0] and special[-1] and not special[1:-1].any()


def test_find_word_is_whole_word_and_case_insensitive():
    assert sim.find_word("a big party.", "party") == (6, 11)
    assert sim.find_word("The PARTY starts", "party") == (4, 9)
    assert sim.find_word("partying all night", "party") is None
    assert sim.find_word("a multiparty system", "party") is None
    assert sim.find_word("first party, then party", "party") == (6, 11)  # the first occurrence
    assert sim.find_word("I like C++ a lot", "c++") == (7, 10)  # regex characters are literal
    assert sim.find_word("I like C a lot", "c++") is None
    assert sim.find_word("in New  York", "new york") is None  # spacing must match
    assert sim.find_word("in New York now", "new york") == (3, 11)


# ------------------------------------------------------------------------------- word lists
def test_parse_words_duplicates_cap_and_empty():
    words, notes = sim.parse_words("cat, dog,, Cat ,dog\n  big   cat ")
    assert words == ["cat", "dog", "big cat"]
    assert sum("appears twice" in n for n in notes) == 2
    words, notes = sim.parse_words(", ".join(f"w{i}" for i in range(200)))
    assert words == [f"w{i}" for i in range(sim.MAX_WORDS)]
    assert any(f"first {sim.MAX_WORDS} of 200" in n for n in notes)
    assert sim.parse_words("") == ([], [])
    assert sim.parse_words(" , ,\n") == ([], [])


def test_clip_words_and_parse_sentences():
    long = "x" * 100
    words, notes = sim.clip_words(["cat", long])
    assert words == ["cat", "x" * sim.MAX_WORD_CHARS] and len(notes) == 1
    sents, notes = sim.parse_sentences("One.| two  words \n\nOne.|three")
    assert sents == ["One.", "two words", "three"] and any("twice" in n for n in notes)
    sents, notes = sim.parse_sentences("|".join(f"s{i}" for i in range(30)))
    assert len(sents) == sim.MAX_SENTENCES and any("first" in n for n in notes)
    assert sim.parse_sentences("  \n | ") == ([], [])


# ------------------------------------------------------------------------------- sentences
def test_minilm_recipe_is_read_from_its_own_files(minilm):
    folder = bundled_path(minilm.spec)
    recipe = sim.sentence_recipe(folder)
    assert recipe is not None
    assert json.loads((folder / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"] is True
    assert recipe.pooling == ("mean",) and recipe.normalize is True and recipe.max_seq_length == 256


def test_sentence_recipe_of_a_plain_folder_is_none(tmp_path):
    assert sim.sentence_recipe(tmp_path) is None
    (tmp_path / "modules.json").write_text("not json")
    assert sim.sentence_recipe(tmp_path) is None


@pytest.mark.parametrize("sentence", [
    "The students celebrated their graduation with a big party.",
    "A man is playing a guitar.",
    "Tokenizers split unbelievably rare words into pieces 🙂.",
])
def test_minilm_pooled_vector_equals_independent_computation(minilm, sentence):
    recipe = sim.sentence_recipe(bundled_path(minilm.spec))
    mine = sim.recipe_vector(compute_trace(minilm, sentence), recipe)
    with torch.inference_mode():
        out = minilm.model(**minilm.tokenizer(sentence, return_tensors="pt"))
    ref = out.last_hidden_state.mean(1)[0]
    ref = (ref / ref.norm()).double().numpy()
    np.testing.assert_allclose(mine, ref, atol=1e-5)
    assert np.linalg.norm(mine) == pytest.approx(1.0, abs=1e-12)
    # normalising changes no cosine
    raw = sim.sentence_vector(compute_trace(minilm, sentence), -1, "mean")
    assert sim.cosine(raw, ref) == pytest.approx(1.0, abs=1e-6)


def test_sentence_vectors_cls_and_mean(lm):
    s = "The stock market fell sharply this morning."
    tr = compute_trace(lm, s)
    hs, _ = own_hidden_states(lm, s)
    np.testing.assert_allclose(sim.sentence_vector(tr), hs[-1].mean(0), atol=1e-4)
    np.testing.assert_allclose(sim.sentence_vector(tr, pooling="cls"), hs[-1][0], atol=1e-4)


# ------------------------------------------------------------------------------- the figure
def test_layer_drift_figure():
    from components.plots import layer_drift

    name = "<b>s1</b> vs s2"
    fig = layer_drift({name: np.array([1.0, 0.9, 0.5])}, {name: 1.0}, "t <i>")
    line, diamond = fig.data
    assert list(line.y) == [1.0, 0.9, 0.5] and list(line.x) == [0, 1, 2]
    assert list(diamond.x) == [0] and list(diamond.y) == [1.0] and diamond.marker.symbol == "diamond-open"
    assert line.name == html.escape(name) and "<b>" not in diamond.name and "<i>" not in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "layer (0 = embeddings)"


def _holding(lock, fn, timeout: float) -> bool:
    """Run ``fn`` in a thread while another thread holds ``lock``; True when fn finished within ``timeout``."""
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def holder():
        with lock:
            held.set()
            release.wait(30)

    h = threading.Thread(target=holder)
    h.start()
    held.wait(10)
    w = threading.Thread(target=lambda: (fn(), done.set()))
    try:
        w.start()
        return done.wait(timeout)
    finally:
        release.set()
        h.join()
        w.join(30)


def test_tokenizing_waits_for_the_tokenizer_lock_not_for_a_forward_pass(lm):
    """A class computing traces holds the model lock for whole forward passes; looking up a word's pieces (or
    tokenizing a text) must not wait behind them, but must not use the tokenizer while another thread does."""
    assert _holding(lm.lock, lambda: sim.word_pieces(lm, "party"), timeout=10)
    assert not _holding(lm.tokenizer_lock, lambda: sim.word_pieces(lm, "party"), timeout=0.5)
    assert not _holding(lm.tokenizer_lock, lambda: compute_trace(lm, "a big party"), timeout=0.5)  # tokenizes too
