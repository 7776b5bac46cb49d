"""models.positions and the embeddings-page helpers of models.similarity, against reference maths."""
import numpy as np
import pytest
import torch

from models import positions as pos
from models import similarity as sim
from models.trace import compute_trace
from tests.unit.conftest import last_block_output


def test_sinusoidal_matches_the_paper_formula():
    pe = pos.sinusoidal(50, 16)
    for p in (0, 1, 7, 49):
        for i in range(8):
            assert pe[p, 2 * i] == pytest.approx(np.sin(p / 10000 ** (2 * i / 16)))
            assert pe[p, 2 * i + 1] == pytest.approx(np.cos(p / 10000 ** (2 * i / 16)))


def test_learned_table_is_the_models_own(minilm, smollm2):
    table = pos.learned_table(minilm)
    np.testing.assert_array_equal(table, minilm.model.embeddings.position_embeddings.weight.numpy())
    assert table.shape == (512, 384)
    assert pos.learned_table(smollm2) is None  # RoPE: nothing is added


def test_rope_frequencies_follow_the_config(smollm2):
    inv = pos.rope_inv_freq(smollm2)
    base = pos.rope_base(smollm2)
    assert base == smollm2.model.config.rope_parameters["rope_theta"]
    d = smollm2.facts.d_head
    np.testing.assert_allclose(inv, base ** (-np.arange(0, d, 2) / d), rtol=1e-6)



def test_models_without_rope_say_so(minilm):
    with pytest.raises(ValueError, match="no rotary"):
        pos.rope_inv_freq(minilm)


def test_first_layer_qk_equals_the_projection_inside_the_model(smollm2):
    trace = compute_trace(smollm2, "Tim chased clouds all his life")
    captured = {}
    attn = smollm2.model.model.layers[0].self_attn
    hq = attn.q_proj.register_forward_hook(lambda m, i, o: captured.setdefault("q", o.detach()))
    hk = attn.k_proj.register_forward_hook(lambda m, i, o: captured.setdefault("k", o.detach()))
    try:
        with torch.inference_mode():
            smollm2.model(input_ids=torch.from_numpy(np.array(trace.ids))[None])
    finally:
        hq.remove()
        hk.remove()
    d = smollm2.facts.d_head
    for head in (0, 4, 8):
        q, k = pos.first_layer_qk(smollm2, trace, 3, 1, head=head)
        kv = head // 3  # 9 query heads share 3 key/value heads
        np.testing.assert_allclose(q, captured["q"][0, 3, head * d:(head + 1) * d].numpy(), atol=1e-5)
        np.testing.assert_allclose(k, captured["k"][0, 1, kv * d:(kv + 1) * d].numpy(), atol=1e-5)


def test_rope_dot_product_depends_only_on_distance_with_the_key_before_the_query(smollm2):
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=64), rng.normal(size=64)
    starts, dists = (10, 15, 200), (0, 1, 2, 10)
    demo = pos.rope_relative_demo(smollm2, q, k, starts=starts, distances=dists)
    assert demo.scores.shape == (3, 4)
    np.testing.assert_allclose(demo.scores, np.broadcast_to(demo.scores[0], demo.scores.shape), atol=1e-4)
    assert demo.scores[0, 0] == pytest.approx(q @ k, rel=1e-5)  # distance 0: rotation cancels out
    assert not np.allclose(demo.scores[0, 1:], q @ k)  # other distances do change the score
    # the textbook rotation (rotate_half form, angle position × θᵢ), the key at n = m − d: BEFORE the query
    inv = smollm2.model.config.rope_parameters["rope_theta"] ** (-np.arange(0, 64, 2) / 64)

    def rotate(x, p):
        angle = np.concatenate([p * inv, p * inv])
        return x * np.cos(angle) + np.concatenate([-x[32:], x[:32]]) * np.sin(angle)

    expected = [[rotate(q, m) @ rotate(k, m - d) for d in dists] for m in starts]
    np.testing.assert_allclose(demo.scores, expected, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="largest distance"):
        pos.rope_relative_demo(smollm2, q, k, starts=(0, 5), distances=(0, 10))  # a key at −10 does not exist


def test_parse_groups():
    pairs, notes = sim.parse_groups("animals: cat, dog; fruit: apple, Cat; banana")
    assert pairs == [("animals", "cat"), ("animals", "dog"), ("fruit", "apple"), ("words", "banana")]
    assert any("Cat" in n for n in notes)
    pairs, notes = sim.parse_groups(", ".join(f"w{i}" for i in range(200)))
    assert len(pairs) == sim.MAX_WORDS and any("Only the first" in n for n in notes)
    assert sim.parse_groups("  ;  : ,, ")[0] == []


def test_analogy_and_rank_against_brute_force(minilm):
    index = sim.EmbeddingIndex(minilm)
    a, b, c = (sim.word_pieces(minilm, w) for w in ("king", "man", "woman"))
    res = sim.analogy(index, a, b, c, k=5)
    W = minilm.model.get_input_embeddings().weight.detach().numpy().astype(np.float64)
    v = W[a.ids].mean(0) - W[b.ids].mean(0) + W[c.ids].mean(0)
    np.testing.assert_allclose(res.vector, v, atol=1e-5)
    cos = W @ v / (np.linalg.norm(W, axis=1) * np.linalg.norm(v))
    cos[list(res.excluded)] = -np.inf
    cos[index.skip] = -np.inf
    assert [i for i, _ in res.results] == list(np.argsort(-cos)[:5])
    queen = minilm.tokenizer.convert_tokens_to_ids("queen")
    assert sim.rank_of(index, res.vector, queen, res.excluded) == int((cos > cos[queen]).sum()) + 1 == 1


def test_order_demo_static_equal_contextual_different(smollm2, minilm):
    text = "Tim chased clouds all his life"
    for lm in (smollm2, minilm):
        a, b = compute_trace(lm, text), compute_trace(lm, sim.reverse_words(text))
        demo = sim.order_demo(a, b)
        np.testing.assert_allclose(demo.static, 1.0, atol=1e-6)  # identical input embeddings
        assert demo.per_layer[-1] < 0.99  # the model knows the order by the last layer
        assert "[CLS]" not in demo.shared and "[SEP]" not in demo.shared
        assert demo.without_positions is None  # not asked for
    assert sim.order_demo(compute_trace(minilm, text), compute_trace(minilm, sim.reverse_words(text))).same_multiset
    # RoPE adds nothing at the input: layer 0 of the shared tokens is identical in both orders
    a, b = compute_trace(smollm2, text), compute_trace(smollm2, sim.reverse_words(text))
    assert sim.order_demo(a, b).per_layer[0] == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------- word order with and without positions
TIM = "Tim chased clouds all his life"


def own_hidden(model, ids, **kwargs) -> np.ndarray:
    """[L+1, T, d] from the model's own forward pass (no hooks of the app's; layer L is the last block's own
    output, taken by the tests' hook on that block: transformers' last entry is after a decoder's final norm)."""
    ids_t = torch.tensor([list(map(int, ids))])
    with last_block_output(model) as last, torch.inference_mode():
        out = model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), output_hidden_states=True, **kwargs)
        return torch.stack(out.hidden_states[:-1] + (last["last"],))[:, 0].float().numpy()


def demo_with_and_without(lm, text=TIM):
    a, b = compute_trace(lm, text), compute_trace(lm, sim.reverse_words(text))
    return a, b, sim.order_demo(a, b, pos.hidden_states_without_positions(lm, a.ids),
                                pos.hidden_states_without_positions(lm, b.ids))


def test_rope_off_is_the_stock_forward_with_position_ids_zero(smollm2):
    ids = compute_trace(smollm2, TIM).ids
    off = pos.hidden_states_without_positions(smollm2, ids)
    zeros = torch.zeros(1, len(ids), dtype=torch.long)
    np.testing.assert_allclose(off, own_hidden(smollm2.model, ids, position_ids=zeros), atol=1e-5)
    # the same thing by another route: the rotary module made to return angle 0 (cos 1, sin 0) at every position
    rotary = smollm2.model.model.rotary_emb
    handle = rotary.register_forward_hook(lambda _m, _i, out: (torch.ones_like(out[0]), torch.zeros_like(out[1])))
    try:
        unrotated = own_hidden(smollm2.model, ids)
    finally:
        handle.remove()
    np.testing.assert_allclose(off, unrotated, atol=1e-4)
    assert not np.allclose(off[1:], own_hidden(smollm2.model, ids)[1:], atol=1e-3)  # RoPE on: other vectors
    # the causal mask is still there: token t sees its prefix (the same as running the prefix alone), not only itself
    t = len(ids) - 1
    prefix = pos.hidden_states_without_positions(smollm2, ids[:t + 1])
    alone = pos.hidden_states_without_positions(smollm2, ids[t:t + 1])
    np.testing.assert_allclose(off[:, t], prefix[:, t], atol=1e-4)
    assert not np.allclose(off[1:, t], alone[1:, 0], atol=1e-2)


def test_smollm2_order_curves_mask_only_vs_mask_and_rope(smollm2):
    """Issue #18: on SmolLM2 the reversal demo barely changes with RoPE off in the first layers (0.924 vs 0.923 at
    layer 1, 0.906 vs 0.912 at layer 5): the drift there comes from the causal mask."""
    a, b, od = demo_with_and_without(smollm2)
    ref_a = own_hidden(smollm2.model, a.ids, position_ids=torch.zeros(1, a.n_tokens, dtype=torch.long))
    ref_b = own_hidden(smollm2.model, b.ids, position_ids=torch.zeros(1, b.n_tokens, dtype=torch.long))
    # matched by word: chased, clouds, all, his (Tim/ĠTim and life/Ġlife are different tokens in the two texts)
    assert [a.tokens[i] for i, _j in od.pairs] == ["Ġchased", "Ġclouds", "Ġall", "Ġhis"]
    assert [b.tokens[j] for _i, j in od.pairs] == ["Ġchased", "Ġclouds", "Ġall", "Ġhis"]
    expected = np.mean([[ref_a[l, i] @ ref_b[l, j] / np.linalg.norm(ref_a[l, i]) / np.linalg.norm(ref_b[l, j])
                         for l in range(ref_a.shape[0])] for i, j in od.pairs], axis=0)
    np.testing.assert_allclose(od.without_positions, expected, atol=1e-5)
    assert od.per_layer[0] == od.without_positions[0] == pytest.approx(1.0, abs=1e-6)
    assert abs(od.per_layer[1] - od.without_positions[1]) < 0.02 and abs(od.per_layer[5] - od.without_positions[5]) < 0.02
    assert od.without_positions[1] == pytest.approx(0.924, abs=2e-3) and od.per_layer[1] == pytest.approx(0.923, abs=2e-3)
    assert od.without_positions[5] == pytest.approx(0.906, abs=2e-3) and od.per_layer[5] == pytest.approx(0.912, abs=2e-3)
    assert od.without_positions[1:].max() < 0.99  # with no positions the mask already tells the orders apart
    # not even the same bag of tokens
    assert not od.same_multiset and od.only_a == ["Tim", "Ġlife"] and od.only_b == ["life", "ĠTim"]
    assert [w for w, _a, _b in od.left_out] == ["Tim", "life"]


def test_minilm_without_positions_cannot_tell_the_orders_apart(minilm):
    a, b, od = demo_with_and_without(minilm)
    assert od.same_multiset and not od.left_out and len(od.pairs) == 6
    np.testing.assert_allclose(od.without_positions, 1.0, atol=1e-5)
    assert 0.95 < od.per_layer[0] < 0.97  # LayerNorm(token + position + type): issue #18 measured 0.958
    shape = sim.curve_shape(od.per_layer)
    assert 0 < shape.low_layer < minilm.facts.n_layers and shape.end > shape.low  # not monotonic: it rises again


def test_positions_off_on_tiny_models_equals_zeroed_position_weights(tiny_gpt2, tiny_bert):
    """Learned tables: the hook's run equals a deep copy of the model whose position table is all zeros; the
    encoder then gives the same vector to each token of a reversed text, the decoder does not (its mask)."""
    import copy

    from models.loading import load
    from models.registry import ModelSpec

    for tiny, family, head, table in ((tiny_gpt2, "decoder", "causal-lm", "transformer.wpe"),
                                      (tiny_bert, "encoder", "masked-lm", "bert.embeddings.position_embeddings")):
        lm = load(ModelSpec(id=f"tiny-{family}", label="Tiny", family=family, source="local", path=str(tiny.dir),
                            head=head))
        zeroed = copy.deepcopy(tiny.model)
        zeroed.get_submodule(table).weight.data.zero_()
        a, b, od = demo_with_and_without(lm, "the cat saw a dog near the old red barn")
        for tr in (a, b):
            np.testing.assert_allclose(pos.hidden_states_without_positions(lm, tr.ids),
                                       own_hidden(zeroed, tr.ids), atol=1e-5)
        assert od.same_multiset is (family == "encoder")  # byte-level BPE: "the" vs "Ġthe"
        assert od.without_positions[0] == pytest.approx(1.0, abs=1e-6)  # no position: the same token, the same row
        assert od.per_layer[0] < 1 - 1e-4  # learned positions are already in layer 0
        if family == "encoder":
            # every matched token has the same vector at every layer: self-attention without positions ignores order
            off_a = pos.hidden_states_without_positions(lm, a.ids)
            off_b = pos.hidden_states_without_positions(lm, b.ids)
            for i, j in od.pairs:
                np.testing.assert_allclose(sim.layer_cosines(off_a[:, i], off_b[:, j]), 1.0, atol=1e-5)
            assert pos.layer0_kind(lm) == "norm(token+position+type)"
        else:
            assert od.without_positions[1:].min() < 0.999  # the causal mask is order-sensitive on its own
            assert pos.layer0_kind(lm) == "token+position"
            np.testing.assert_allclose(a.hidden_states[0], a.token_embeddings + a.position_embeddings, atol=1e-5)


def _as_lm(tiny, family, head):
    from models.loading import load
    from models.registry import ModelSpec

    return load(ModelSpec(id=f"tiny-{family}", label="Tiny", family=family, source="local", path=str(tiny.dir),
                          head=head))


@pytest.mark.parametrize("which", ["smollm2", "minilm", "tiny_gpt2", "tiny_bert"])
def test_batched_rows_are_each_rows_own_forward(which, request):
    """hidden_states_of runs rows of different lengths (right-padded) with positions on and off in ONE forward;
    each row equals the row's own forward alone (the trace's hidden states, the one-row run with positions off)."""
    lm = request.getfixturevalue(which)
    if which.startswith("tiny"):
        lm = _as_lm(lm, *(("decoder", "causal-lm") if which == "tiny_gpt2" else ("encoder", "masked-lm")))
    long, short = compute_trace(lm, "the cat saw a dog near the old red barn"), compute_trace(lm, "a red barn")
    assert long.n_tokens > short.n_tokens  # the short rows are padded
    rows = [(short.ids, True), (long.ids, False), (short.ids, False), (long.ids, True)]
    got = pos.hidden_states_of(lm, rows)
    assert [g.shape for g in got] == [tr.hidden_states.shape for tr in (short, long, short, long)]

    def same(x, ref):  # float32 rounding of a batched matmul: relative to each layer's largest value (SmolLM2's
        # first token reaches ~2.7e4 in the last layers, where one rounding step is ~2e-3)
        scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
        assert np.all(np.abs(x - ref) <= 1e-5 * scale + 1e-6), float((np.abs(x - ref) / scale).max())

    same(got[0], short.hidden_states)
    same(got[3], long.hidden_states)
    same(got[1], pos.hidden_states_without_positions(lm, long.ids))
    same(got[2], pos.hidden_states_without_positions(lm, short.ids))
    if lm.facts.n_layers:
        assert not np.allclose(got[0][-1], got[2][-1], atol=1e-3)  # the positions really are off in row 2 only


def test_positions_off_for_a_table_that_gives_no_batch_dimension(tiny_gpt2):
    """Some position modules (Marian's, Pegasus's) return [T, d], not [1, T, d]: the rows are still switched
    off one by one. Here GPT-2's wpe is made to answer [T, d] by a hook that runs before the app's."""
    lm = _as_lm(tiny_gpt2, "decoder", "causal-lm")
    long, short = compute_trace(lm, "the cat saw a dog near the old red barn"), compute_trace(lm, "a red barn")
    rows = [(short.ids, True), (long.ids, False), (short.ids, False)]
    ref = pos.hidden_states_of(lm, rows)
    handle = lm.model.transformer.wpe.register_forward_hook(lambda _m, _i, out: out[0])  # [1, T, d] -> [T, d]
    try:
        got = pos.hidden_states_of(lm, rows)
    finally:
        handle.remove()
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, atol=1e-6)


@pytest.mark.parametrize("which", ["smollm2", "minilm", "tiny_gpt2"])
def test_reversal_demo_is_the_demo_of_two_traces(which, request):
    """The page's order demo (one batched forward, no trace of the reversal) equals the demo computed from the
    reversal's own trace and separate forwards with positions off."""
    lm = request.getfixturevalue(which)
    if which == "tiny_gpt2":
        lm = _as_lm(lm, "decoder", "causal-lm")
    a, b, ref = demo_with_and_without(lm, "the old cat chased the little dog across the wide street")
    got = pos.reversal_demo(lm, a)
    assert (got.pairs, got.shared, got.left_out, got.only_a, got.only_b, got.words, got.same_multiset) == \
        (ref.pairs, ref.shared, ref.left_out, ref.only_a, ref.only_b, ref.words, ref.same_multiset)
    np.testing.assert_array_equal(got.static, ref.static)  # the same embedding rows
    np.testing.assert_allclose(got.per_layer, ref.per_layer, atol=1e-5)
    np.testing.assert_allclose(got.without_positions, ref.without_positions, atol=1e-5)


def test_reversal_demo_without_a_shared_word_stops_before_the_forward(smollm2, monkeypatch):
    a = compute_trace(smollm2, "Tim life")  # reversed: "life Tim": other tokens ("ĠTim", "life") for both words
    monkeypatch.setattr(pos, "hidden_states_of", lambda *_a: pytest.fail("no forward pass for nothing to compare"))
    with pytest.raises(sim.NoSharedWord):
        pos.reversal_demo(smollm2, a)


def test_layer0_kind_is_what_hidden_states_0_is(smollm2, minilm):
    assert pos.layer0_kind(smollm2) == "token"
    tr = compute_trace(smollm2, TIM)
    np.testing.assert_array_equal(tr.hidden_states[0], tr.token_embeddings)
    assert pos.layer0_kind(minilm) == "norm(token+position+type)"
    tr = compute_trace(minilm, TIM)
    emb = minilm.model.embeddings
    x = (tr.token_embeddings + tr.position_embeddings
         + emb.token_type_embeddings.weight[0].detach().numpy()).astype(np.float64)
    ln = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + emb.LayerNorm.eps)
    ln = ln * emb.LayerNorm.weight.detach().numpy() + emb.LayerNorm.bias.detach().numpy()
    np.testing.assert_allclose(tr.hidden_states[0], ln, atol=1e-4)


def test_order_demo_matches_by_word():
    """Word k of the text with word n + 1 − k of the reversal, token by token; a word that is other tokens in
    the reversal is left out; a repeated word is matched with its own occurrence."""
    from types import SimpleNamespace

    def fake(text, tokens, ids, offsets, layers):
        h = np.array(layers, dtype=np.float64)  # [L+1, T, d]
        return SimpleNamespace(text=text, tokens=tokens, ids=np.array(ids), offsets=np.array(offsets),
                               special=np.zeros(len(ids), bool), token_embeddings=h[0], hidden_states=h)

    # "a bb a" (pieces: a | b ##b | a) reversed is "a bb a": word 0 <-> word 2, word 1 <-> word 1
    a = fake("a bb a", ["a", "b", "##b", "a"], [1, 2, 3, 1], [[0, 1], [2, 3], [3, 4], [5, 6]],
             [[[1, 0], [0, 1], [1, 1], [1, 0]], [[1, 0], [0, 1], [1, 1], [0, 1]]])
    b = fake("a bb a", ["a", "b", "##b", "a"], [1, 2, 3, 1], [[0, 1], [2, 3], [3, 4], [5, 6]],
             [[[1, 0], [0, 1], [1, 1], [1, 0]], [[1, 0], [0, 1], [1, 1], [0, 1]]])  # position by position: cos 1
    od = sim.order_demo(a, b)
    assert od.pairs == [(0, 3), (1, 1), (2, 2), (3, 0)] and od.same_multiset and not od.left_out
    np.testing.assert_allclose(od.per_layer, [1.0, 0.5])  # by word: (1,1), (2,2) at cos 1; (0,3), (3,0) at 0
    c = fake("x y", ["x", "y"], [5, 6], [[0, 1], [2, 3]], [[[1, 0], [0, 1]]])
    d = fake("y x", ["Ġy", "x"], [7, 5], [[0, 1], [2, 3]], [[[1, 0], [1, 0]]])
    od = sim.order_demo(c, d)
    assert od.pairs == [(0, 1)] and od.left_out == [("y", ["y"], ["Ġy"])]
    assert not od.same_multiset and od.only_a == ["y"] and od.only_b == ["Ġy"]
    with pytest.raises(ValueError):
        sim.order_demo(c, c)  # not a reversal


def test_curve_shape():
    s = sim.curve_shape(np.array([0.958, 0.933, 0.881, 0.855, 0.881, 0.910, 0.907]))  # MiniLM, issue #18
    assert (s.low_layer, s.low, s.end) == (3, 0.855, 0.907)
    assert (s.rise_from, s.rise_to) == (3, 5) and s.rise == pytest.approx(0.055)
    s = sim.curve_shape(np.array([1.0, 0.9, 0.8]))
    assert s.low_layer == 2 and s.rise == 0 and s.rise_from == s.rise_to


def test_word_order_preset_links_both_families_and_says_what_the_tests_above_measure():
    """components/presets.py "word-order": its claims are measured by test_smollm2_order_curves_mask_only_vs_mask_
    and_rope (not the same bag, `Tim` vs `ĠTim`; with no positions the mask already separates the orders) and
    test_minilm_without_positions_cannot_tell_the_orders_apart (the same bag; cosine 1 without positions)."""
    from components.presets import TIM as PRESET_TEXT, get, parse_url

    p = get("word-order")
    links = [parse_url(url)[1] for _label, url in p.links()]
    assert [q["model"] for q in links] == ["smollm2-135m", "minilm-l6"] and {q["text"] for q in links} == {TIM}
    assert PRESET_TEXT == TIM
    assert "not even the same bag of tokens (`Tim` vs `␣Tim`)" in p.what
    assert "even with no positions its causal mask already tells the two orders apart" in p.what
    assert "could not tell apart without its position vectors" in p.what
    assert "positions matter" not in p.what
