"""The hub and local-folder code paths, on tiny random GPT-2 / BERT models built here (no network).

GPT-2 exercises learned absolute positions (``wpe``) and Conv1D attention; BERT exercises [CLS]/[SEP] and an
MLM head. The tokenizers are the real bundled ones (SmolLM2's byte-level BPE, MiniLM's WordPiece).
"""
from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

from models.loading import (
    ModelUnavailable,
    hub_cached,
    hub_reachable,
    is_available,
    load,
    load_tokenizer,
)
from models.registry import ModelSpec, get_spec
from models.trace import compute_trace

TEXT = "The quick brown fox jumps over the lazy dog"


def local_spec(folder, family="decoder", head="causal-lm", model_id="tiny") -> ModelSpec:
    return ModelSpec(id=model_id, label=f"Tiny {model_id}", family=family, source="local", path=str(folder), head=head)


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------------------- local: tiny GPT-2
@pytest.fixture(scope="module")
def gpt2_local(tiny_gpt2):
    return load(local_spec(tiny_gpt2.dir, model_id="tiny-gpt2"))


@pytest.fixture(scope="module")
def bert_local(tiny_bert):
    return load(local_spec(tiny_bert.dir, family="encoder", head="masked-lm", model_id="tiny-bert"))


def test_local_gpt2_loads_the_saved_weights(gpt2_local, tiny_gpt2):
    assert type(gpt2_local.model).__name__ == "GPT2LMHeadModel"
    assert same_weights(gpt2_local.model, tiny_gpt2.model)
    assert not gpt2_local.model.training
    assert not any(p.requires_grad for p in gpt2_local.model.parameters())
    assert gpt2_local.model.config._attn_implementation == "eager"  # attention weights come back


def test_local_gpt2_trace_equals_its_outputs(gpt2_local, check_trace):
    tr = compute_trace(gpt2_local, TEXT)
    assert tr.ids.tolist() == gpt2_local.tokenizer(TEXT).input_ids
    out = check_trace(gpt2_local, tr)
    assert tr.attentions.shape == (2, 2, tr.n_tokens, tr.n_tokens)
    # learned absolute positions: the trace shows rows 0..T-1 of the wpe table
    wpe = gpt2_local.model.transformer.wpe.weight.detach().numpy()
    assert tr.position_embeddings is not None
    np.testing.assert_allclose(tr.position_embeddings, wpe[: tr.n_tokens], atol=1e-6, rtol=0)
    # GPT-2's residual stream starts as token + position (dropout is off in eval)
    np.testing.assert_allclose(tr.hidden_states[0], tr.token_embeddings + tr.position_embeddings, atol=1e-5)
    np.testing.assert_allclose(tr.last_logits, out.logits[0, -1].numpy(), atol=1e-4)
    upper = np.triu(np.ones((tr.n_tokens, tr.n_tokens), dtype=bool), k=1)
    assert (tr.attentions[..., upper] == 0).all()


def test_local_gpt2_logits_equal_the_original_model(gpt2_local, tiny_gpt2):
    ids = torch.tensor([gpt2_local.tokenizer(TEXT).input_ids])
    with torch.inference_mode():
        np.testing.assert_allclose(
            gpt2_local.model(input_ids=ids).logits.numpy(), tiny_gpt2.model(input_ids=ids).logits.numpy(), atol=1e-5
        )


def test_local_gpt2_facts(gpt2_local):
    f = gpt2_local.facts
    assert f.architecture == "GPT2LMHeadModel" and f.model_type == "gpt2"
    assert f.positions == "learned"
    assert (f.n_layers, f.n_heads, f.n_kv_heads, f.d_model, f.d_head) == (2, 2, 2, 32, 16)
    assert not f.gqa
    assert f.d_ff == 4 * 32  # GPT-2's n_inner=None means 4 * d_model
    assert f.vocab_size == 49152 and f.context_length == 128
    assert f.head == "causal-lm" and f.family == "decoder"
    assert f.tied_embeddings  # GPT-2's LM head shares the wte matrix
    assert f.n_params == sum(p.numel() for p in gpt2_local.model.transformer.parameters())
    assert f.tokenizer.kind == "byte-level BPE" and f.tokenizer.marker == "Ġ"
    assert "tied" in f.head_text


def test_local_gpt2_hooks_are_removed_even_when_the_forward_pass_fails(gpt2_local, monkeypatch):
    emb = gpt2_local.model.get_input_embeddings()
    wpe = gpt2_local.model.transformer.wpe
    before = (list(emb._forward_hooks), list(wpe._forward_hooks))

    def boom(*args, **kwargs):
        raise RuntimeError("forward failed")

    monkeypatch.setattr(gpt2_local.model, "forward", boom)
    with pytest.raises(RuntimeError, match="forward failed"):
        compute_trace(gpt2_local, TEXT)
    assert (list(emb._forward_hooks), list(wpe._forward_hooks)) == before
    monkeypatch.undo()
    compute_trace(gpt2_local, TEXT)  # and the model still works


# --------------------------------------------------------------------------------- local: tiny BERT
def test_local_bert_trace_equals_its_outputs(bert_local, tiny_bert, check_trace):
    assert type(bert_local.model).__name__ == "BertForMaskedLM"
    assert same_weights(bert_local.model, tiny_bert.model)
    tr = compute_trace(bert_local, TEXT)
    assert tr.tokens[0] == "[CLS]" and tr.tokens[-1] == "[SEP]"
    assert tr.special[0] and tr.special[-1] and not tr.special[1:-1].any()
    check_trace(bert_local, tr)
    assert tr.last_logits is None  # a masked LM: no "next token"
    pos = bert_local.model.bert.embeddings.position_embeddings.weight.detach().numpy()
    np.testing.assert_allclose(tr.position_embeddings, pos[: tr.n_tokens], atol=1e-6, rtol=0)
    np.testing.assert_allclose(tr.attentions.sum(-1), 1.0, atol=1e-5)


def test_local_bert_facts(bert_local):
    f = bert_local.facts
    assert f.architecture == "BertForMaskedLM" and f.model_type == "bert"
    assert f.head == "masked-lm" and f.family == "encoder"
    assert f.positions == "learned"
    assert (f.n_layers, f.n_heads, f.n_kv_heads, f.d_model, f.d_ff) == (2, 2, 2, 32, 64)
    assert f.context_length == 512 and f.vocab_size == 30522
    assert f.tokenizer.wraps_cls_sep and not f.tokenizer.adds_bos
    assert f.tokenizer.kind == "WordPiece" and f.tokenizer.marker == "##"
    assert "[MASK]" in f.head_text


def test_local_folder_without_config_is_unavailable(tmp_path, is_one_sentence):
    spec = local_spec(tmp_path / "missing")
    assert not is_available(spec)
    with pytest.raises(ModelUnavailable) as info:
        load(spec)
    assert is_one_sentence(str(info.value))

    empty = tmp_path / "empty"
    empty.mkdir()
    assert not is_available(local_spec(empty))  # a folder, but not a model folder
    with pytest.raises(ModelUnavailable, match="config.json"):
        load(local_spec(empty))
    # no path at all must not mean "the current directory"
    assert not is_available(ModelSpec(id="x", label="X", family="decoder", source="local"))


def test_local_model_folder_is_available(tiny_gpt2):
    assert is_available(local_spec(tiny_gpt2.dir))


def test_local_folder_with_broken_weights_is_unavailable(tmp_path, tiny_gpt2, is_one_sentence):
    folder = tmp_path / "broken"
    folder.mkdir()
    for f in tiny_gpt2.dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelUnavailable) as info:
        load(local_spec(folder, model_id="broken"))
    assert is_one_sentence(str(info.value)) and "Tiny broken" in str(info.value)


# -------------------------------------------------------------------- hub: the real HF cache layout
@pytest.mark.parametrize("cache_name", ["openai-community/gpt2", "gpt2"])  # current name and old alias
def test_hub_gpt2_loads_from_the_hf_cache_without_network(
    cache_name, hf_cache, hf_put, tiny_gpt2, no_network, check_trace
):
    spec = get_spec("gpt2")
    assert not hub_cached(spec)
    snapshot = hf_put(hf_cache, cache_name, tiny_gpt2.dir)
    assert (snapshot / "config.json").is_symlink()
    assert hub_cached(spec) and is_available(spec)

    lm = load("gpt2")
    assert no_network == []  # nothing tried to reach the internet
    assert lm.spec is spec and lm.facts.model_id == "gpt2" and lm.facts.label == "GPT-2 small"
    assert same_weights(lm.model, tiny_gpt2.model)
    assert lm.facts.architecture == "GPT2LMHeadModel" and lm.facts.positions == "learned"
    tr = compute_trace(lm, TEXT)
    check_trace(lm, tr)
    np.testing.assert_allclose(tr.position_embeddings, lm.model.transformer.wpe.weight.detach().numpy()[: tr.n_tokens])
    assert load_tokenizer("gpt2")(TEXT).input_ids == tr.ids.tolist()
    assert no_network == []


def test_hub_bert_loads_from_the_hf_cache_without_network(hf_cache, hf_put, tiny_bert, no_network, check_trace):
    hf_put(hf_cache, "google-bert/bert-base-uncased", tiny_bert.dir)
    spec = get_spec("bert-base-uncased")
    assert hub_cached(spec) and is_available(spec)
    assert not hub_cached(get_spec("distilbert-base-uncased"))  # only what is really there
    lm = load("bert-base-uncased")
    assert no_network == []
    assert type(lm.model).__name__ == "BertForMaskedLM" and same_weights(lm.model, tiny_bert.model)
    assert lm.facts.head == "masked-lm" and lm.facts.tokenizer.wraps_cls_sep
    tr = compute_trace(lm, "students celebrate the graduation")
    assert tr.ids[0] == 101 and tr.ids[-1] == 102
    check_trace(lm, tr)
    assert no_network == []


def test_hub_model_missing_offline_fails_with_one_sentence(hf_cache, no_network, is_one_sentence):
    spec = get_spec("distilgpt2")
    assert not is_available(spec)
    with pytest.raises(ModelUnavailable) as info:
        load("distilgpt2")
    # it fails at once: a single reachability probe, no download attempt and no retry
    assert len(no_network) == 1, no_network
    msg = str(info.value)
    assert is_one_sentence(msg), msg
    assert spec.label in msg
    with pytest.raises(ModelUnavailable):
        load_tokenizer("distilgpt2")
    # the only network use is the reachability probe of huggingface.co (which this test makes fail)
    hosts = {target if kind == "getaddrinfo" else target[0] for kind, target in no_network}
    assert hosts == {"huggingface.co"}


def test_hub_model_missing_on_this_machine_fails_fast(hf_cache, is_one_sentence, monkeypatch):
    """No simulation: the real (unreachable) network of this machine. Skipped where the hub IS reachable."""
    import models.loading

    monkeypatch.setattr(models.loading, "_HUB_REACHABLE", None)
    probes = []  # every TCP connection attempt, still made for real
    real = socket.create_connection

    def create_connection(address, timeout=None, *args, **kwargs):
        probes.append((address, timeout))
        return real(address, timeout, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    if hub_reachable():
        pytest.skip("the Hugging Face hub is reachable here: load would download the model")
    assert not is_available(get_spec("distilgpt2"))
    with pytest.raises(ModelUnavailable) as info:
        load("distilgpt2")
    # fast by construction: one probe with a short timeout, its answer reused; nothing else is tried
    assert len(probes) == 1 and probes[0][0] == ("huggingface.co", 443) and probes[0][1] <= 5, probes
    assert is_one_sentence(str(info.value)) and "DistilGPT-2" in str(info.value)
