"""models.positions and the embeddings-page helpers of models.similarity, against reference maths."""
import numpy as np
import pytest
import torch

from models import positions as pos
from models import similarity as sim
from models.trace import compute_trace


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


def test_rope_dot_product_depends_only_on_distance(smollm2):
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=64), rng.normal(size=64)
    demo = pos.rope_relative_demo(smollm2, q, k, starts=(0, 5, 200), distances=(0, 1, 2, 10))
    assert demo.scores.shape == (3, 4)
    np.testing.assert_allclose(demo.scores, np.broadcast_to(demo.scores[0], demo.scores.shape), atol=1e-4)
    assert demo.scores[0, 0] == pytest.approx(q @ k, rel=1e-5)  # distance 0: rotation cancels out
    assert not np.allclose(demo.scores[0, 1:], q @ k)  # other distances do change the score


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
    assert sim.order_demo(compute_trace(minilm, text), compute_trace(minilm, sim.reverse_words(text))).same_multiset
    # RoPE adds nothing at the input: layer 0 of the shared tokens is identical in both orders
    a, b = compute_trace(smollm2, text), compute_trace(smollm2, sim.reverse_words(text))
    assert sim.order_demo(a, b).per_layer[0] == pytest.approx(1.0, abs=1e-6)
