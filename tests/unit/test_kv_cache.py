"""models/kv_cache.py against transformers' own cache: the size formula (from the config) equals the bytes of the
real DynamicCache tensors at every length, the cached rows of earlier tokens are the numbers a longer pass computes
for them (causal: they never change), and the step-by-step run predicts what recomputing the prefix predicts. On
SmolLM2 (grouped-query attention, RoPE) and a tiny GPT-2 (one key/value head per head, learned positions)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import torch

from models import kv_cache

TEXT = "Once upon a time, in a small village by the sea, there lived an old fisherman"


def real_cache_bytes(model, ids: list[int]) -> int:
    """Bytes of transformers' own cache after a forward pass, summed here from the tensors themselves."""
    with torch.inference_mode():
        cache = model(input_ids=torch.tensor([ids]), use_cache=True).past_key_values
    total = 0
    for layer in cache.layers:
        for t in (layer.keys, layer.values):
            total += t.numel() * t.element_size()
    return total


def test_formula_from_the_config_equals_the_real_cache_tensors(smollm2):
    c = smollm2.model.config
    shape = kv_cache.cache_shape(smollm2)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    per_token = c.num_hidden_layers * c.num_key_value_heads * head_dim * 2 * 4  # float32
    assert shape.bytes_per_token == per_token == 46_080
    assert shape.n_kv_heads == 3 and shape.n_heads == 9 and shape.gqa
    assert shape.bytes_per_token_without_gqa == 3 * per_token
    ids = smollm2.tokenizer(TEXT)["input_ids"]
    for n in (1, 5, len(ids)):
        assert real_cache_bytes(smollm2.model, ids[:n]) == shape.bytes_for(n)
    snap = kv_cache.snapshot(smollm2, ids)
    assert snap.nbytes == shape.bytes_for(len(ids))
    assert snap.keys.shape == (c.num_hidden_layers, c.num_key_value_heads, len(ids), head_dim)
    assert snap.tensor_shape == (1, c.num_key_value_heads, len(ids), head_dim)


def test_earlier_rows_never_change(smollm2):
    """The keys and values of tokens 1..t are the same in the cache of t tokens and of the whole text."""
    ids = smollm2.tokenizer(TEXT)["input_ids"]
    whole = kv_cache.snapshot(smollm2, ids)
    part = kv_cache.snapshot(smollm2, ids[:6])
    np.testing.assert_allclose(part.keys, whole.keys[:, :, :6], atol=1e-4)
    np.testing.assert_allclose(part.values, whole.values[:, :, :6], atol=1e-4)
    assert not np.allclose(whole.keys[:, :, 6], whole.keys[:, :, 5])  # a new token's row is new numbers


def test_step_by_step_equals_recomputing(smollm2):
    ids = smollm2.tokenizer(TEXT)["input_ids"][:12]
    shape = kv_cache.cache_shape(smollm2)
    steps = kv_cache.recompute_steps(len(ids), most=5)
    assert steps[0] == 1 and steps[-1] == len(ids) and len(steps) <= 6
    t = kv_cache.time_steps(smollm2, ids, steps)
    assert np.array_equal(t.cache_bytes, shape.bytes_per_token * np.arange(1, len(ids) + 1))
    assert t.same_prediction and t.max_abs_diff < 1e-3
    assert list(t.timed_both) == steps and np.isnan(t.recompute_s[1])
    assert (t.cached_s > 0).all()


def test_glossary_and_preset_numbers_come_from_smollm2(smollm2):
    from components import presets
    from components.glossary import term

    shape = kv_cache.cache_shape(smollm2)
    text = term("KV cache").text
    assert f"{shape.n_layers} layers, {shape.n_kv_heads} key/value heads of {shape.head_dim}" in text
    assert f"{shape.bytes_per_token:,} bytes per token" in text and f"each of its {shape.n_heads} query" in text
    assert shape.bytes_per_token_without_gqa / shape.bytes_per_token == 3 and "a third" in text
    what = presets.get("kv-cache").what
    assert f"{shape.bytes_per_token:,} bytes" in what
    assert f"{shape.n_kv_heads} key/value heads instead of {shape.n_heads}" in what and "three times smaller" in what


def test_a_model_without_gqa(tiny_gpt2):
    """GPT-2 layout: every head has its own keys and values; the formula still equals the real tensors."""
    model = tiny_gpt2.model
    c = model.config
    lm = SimpleNamespace(model=model, tokenizer=tiny_gpt2.tokenizer, lock=threading.RLock(),
                         facts=SimpleNamespace(n_layers=c.n_layer, n_heads=c.n_head, n_kv_heads=c.n_head,
                                               d_head=c.n_embd // c.n_head))
    shape = kv_cache.cache_shape(lm)
    assert not shape.gqa and shape.bytes_per_token == shape.bytes_per_token_without_gqa
    ids = tiny_gpt2.tokenizer(TEXT)["input_ids"][:9]
    assert real_cache_bytes(model, ids) == shape.bytes_for(len(ids)) == kv_cache.snapshot(lm, ids).nbytes
    t = kv_cache.time_steps(lm, ids)
    assert t.same_prediction and np.array_equal(t.cache_bytes, shape.bytes_per_token * np.arange(1, 10))
