"""models/block.py against independent computations: the parts of a logit add up to the model's own logit, an
ablation equals the same ablation done another way on a STOCK model (loaded here with from_pretrained, no hooks
of ours: its modules are swapped for wrappers), the batched ranking equals one ablated run per
part, and the neurons' activations and read-outs equal a direct computation from the weights.

Models: the two bundled ones and tiny random GPT-2 / BERT (tests/conftest.py). The stock model's forward and
the wrapped one can sum in another order: for SmolLM2 the ablation equality is checked on probabilities
(<= 1e-5) and logits (<= 3e-4); the tiny models and MiniLM are checked at 1e-5.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from models import block
from models.block import BlockError, Component
from models.loading import bundled_path, converted_dir, load
from models.registry import ModelSpec, get_spec
from models.trace import compute_trace

CAPITAL = "The capital of France is"
SENTENCE = "students celebrate the graduation with a big party"


def local_spec(folder, family, head, model_id) -> ModelSpec:
    return ModelSpec(id=model_id, label=f"Tiny {model_id}", family=family, source="local", path=str(folder), head=head)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def stock_smollm2():
    """SmolLM2 as transformers builds it from the converted fp32 copy, loaded here on its own: no hooks."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(converted_dir(get_spec("smollm2-135m")), dtype=torch.float32,
                                                attn_implementation="eager").eval().requires_grad_(False)


@pytest.fixture(scope="module")
def stock_minilm():
    from transformers import AutoModel

    return AutoModel.from_pretrained(bundled_path(get_spec("minilm-l6")), dtype=torch.float32,
                                     attn_implementation="eager").eval().requires_grad_(False)


def with_random_biases(model, seed: int):
    """Random biases and LayerNorm weights (a fresh model has zero biases and unit gains: the bias terms and
    the normalisations' gamma would go untested)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "ln" in name or "LayerNorm" in name:
                param.copy_(torch.randn(param.shape, generator=g) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
    return model.eval().requires_grad_(False)


@dataclass
class Tiny:
    dir: object
    model: object


@pytest.fixture(scope="module")
def tiny_gpt2_b(tmp_path_factory, tiny_gpt2) -> Tiny:
    """tests/conftest.py's tiny GPT-2 with random biases, saved and reloaded through models.loading."""
    from transformers import GPT2LMHeadModel

    model = with_random_biases(GPT2LMHeadModel(tiny_gpt2.model.config), 3)
    folder = tmp_path_factory.mktemp("tiny-gpt2-biases")
    model.save_pretrained(folder)
    tiny_gpt2.tokenizer.save_pretrained(folder)
    return Tiny(folder, model)


@pytest.fixture(scope="module")
def tiny_bert_b(tmp_path_factory, tiny_bert) -> Tiny:
    from transformers import BertForMaskedLM

    model = with_random_biases(BertForMaskedLM(tiny_bert.model.config), 4)
    folder = tmp_path_factory.mktemp("tiny-bert-biases")
    model.save_pretrained(folder)
    tiny_bert.tokenizer.save_pretrained(folder)
    return Tiny(folder, model)


@pytest.fixture(scope="module")
def gpt2_lm(tiny_gpt2_b):
    return load(local_spec(tiny_gpt2_b.dir, "decoder", "causal-lm", "tiny-gpt2-block"))


@pytest.fixture(scope="module")
def bert_lm(tiny_bert_b):
    return load(local_spec(tiny_bert_b.dir, "encoder", "masked-lm", "tiny-bert-block"))


# ------------------------------------------------------------------- the stock models, spelled out by hand
def stock_parts(model, layer: int):
    """((owner, name) of W^O, (owner, name) of the MLP) of block ``layer``, written out per architecture (not
    found the way models/block.py finds them). BERT's MLP output is its BertOutput.dense."""
    if hasattr(model, "model") and hasattr(model.model, "layers"):  # Llama
        b = model.model.layers[layer]
        return (b.self_attn, "o_proj"), (b, "mlp")
    if hasattr(model, "transformer"):  # GPT-2
        b = model.transformer.h[layer]
        return (b.attn, "c_proj"), (b, "mlp")
    bert = model.bert if hasattr(model, "bert") else model
    b = bert.encoder.layer[layer]
    return (b.attention.output, "dense"), (b.output, "dense")


class MaskedInput(torch.nn.Module):
    """W^O with some of its input columns replaced (zeros or given values) before it runs."""

    def __init__(self, inner, cols: list[slice], values: list[torch.Tensor]):
        super().__init__()
        self.inner, self.cols, self.values = inner, cols, values

    def forward(self, x, *args, **kwargs):
        x = x.clone()
        for cols, value in zip(self.cols, self.values):
            x[..., cols] = value
        return self.inner(x, *args, **kwargs)


class Constant(torch.nn.Module):
    """An MLP that writes the same vector at every position (zeros, or the mean of its ordinary output)."""

    def __init__(self, value: torch.Tensor):
        super().__init__()
        self.value = value

    def forward(self, x, *args, **kwargs):
        return self.value.expand(*x.shape[:-1], self.value.shape[-1]).clone()


@contextlib.contextmanager
def swapped(model, components, mode: str, d_head: int, means: dict):
    """Replace modules of the stock model for the ablation (and put the originals back)."""
    saved = []
    by_layer: dict[int, list] = {}
    for c in components:
        by_layer.setdefault(c.layer, []).append(c)
    try:
        for layer, comps in by_layer.items():
            (wo_owner, wo_name), (mlp_owner, mlp_name) = stock_parts(model, layer)
            heads = [c.head for c in comps if c.kind == "a"]
            if heads:
                inner = getattr(wo_owner, wo_name)
                cols = [slice(h * d_head, (h + 1) * d_head) for h in heads]
                values = [torch.zeros(d_head) if mode == "zero" else means[("wo", layer)][s] for s in cols]
                saved.append((wo_owner, wo_name, inner))
                setattr(wo_owner, wo_name, MaskedInput(inner, cols, values))
            if any(c.kind == "m" for c in comps):
                inner = getattr(mlp_owner, mlp_name)
                d = means[("mlp", layer)].shape[-1]
                value = torch.zeros(d) if mode == "zero" else means[("mlp", layer)]
                saved.append((mlp_owner, mlp_name, inner))
                setattr(mlp_owner, mlp_name, Constant(value))
        yield
    finally:
        for owner, name, inner in reversed(saved):
            setattr(owner, name, inner)


def stock_means(model, ids: np.ndarray, n_layers: int) -> dict:
    """Means over the positions of W^O's input and of each MLP's output, from the stock model's ordinary run."""
    got, handles = {}, []
    for layer in range(n_layers):
        (wo_owner, wo_name), (mlp_owner, mlp_name) = stock_parts(model, layer)
        handles.append(getattr(wo_owner, wo_name).register_forward_pre_hook(
            lambda _m, a, layer=layer: got.__setitem__(("wo", layer), a[0][0].mean(0))))
        handles.append(getattr(mlp_owner, mlp_name).register_forward_hook(
            lambda _m, _a, out, layer=layer: got.__setitem__(("mlp", layer), out[0].mean(0))))
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor(ids)[None])
    finally:
        for h in handles:
            h.remove()
    return got


def stock_outputs(model, ids: np.ndarray, causal: bool):
    """[V] logits at the last position (decoders) or [T, d] final vectors (encoders) of the stock model."""
    with torch.inference_mode():
        out = model(input_ids=torch.tensor(ids)[None], output_hidden_states=True)
    if causal:
        return out.logits[0, -1].numpy()
    return out.hidden_states[-1][0].numpy()


def probs(logits) -> np.ndarray:
    return torch.softmax(torch.as_tensor(np.asarray(logits, np.float32)), -1).numpy()


def no_hooks_left(model) -> bool:
    """No hook of ours (models.*) or of these tests is left on any module. transformers installs hooks of its own
    (it records hidden states with them, from the first forward pass that asks for them): those stay."""
    ours = ("models.", "tests.", __name__)
    return not [fn for m in model.modules() for fn in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
                if getattr(fn, "__module__", "").startswith(ours)]


# ------------------------------------------------------------------------------- anatomy and the stream
def test_anatomy_of_each_family(smollm2, minilm, gpt2_lm, bert_lm):
    a = block.anatomy(smollm2.model)
    assert not a.post_norm and a.n_layers == 30 and a.n_heads == 9 and a.d_head == 64 and a.d_ff == 1536
    assert a.wo_name == "self_attn.o_proj" and a.down_name == "mlp.down_proj"
    assert a.final_norm is smollm2.model.model.norm
    b = block.anatomy(minilm.model)
    assert b.post_norm and b.n_layers == 6 and b.d_head == 32 and b.d_ff == 1536 and b.final_norm is None
    assert b.wo_name == "attention.output.dense" and b.down_name == "output.dense"
    assert block.anatomy(gpt2_lm.model).wo_name == "attn.c_proj" and not block.anatomy(gpt2_lm.model).post_norm
    assert block.anatomy(bert_lm.model).post_norm


@pytest.mark.parametrize("name", ["smollm2", "minilm", "gpt2_lm", "bert_lm"])
def test_stream_is_the_models_hidden_states(name, request):
    lm = request.getfixturevalue(name)
    tr = compute_trace(lm, SENTENCE)
    p = tr.n_tokens - 1
    run = block.capture(lm, tr.ids, p)
    L = lm.facts.n_layers
    assert run.stream.shape == (2 * L + 1, lm.facts.d_model) and run.writes.shape == (2 * L, lm.facts.d_model)
    # the points after each block are the model's own hidden states (a decoder's last one is after its final
    # norm in output_hidden_states, so the pre-norm check stops one short)
    stop = L + 1 if run.post_norm else L
    np.testing.assert_allclose(run.stream[0::2][:stop], tr.hidden_states[:stop, p], atol=1e-4, rtol=0)
    if not run.post_norm:  # pre-norm: the stream is the running sum of the writes
        np.testing.assert_allclose(run.stream[1:], run.stream[:-1] + run.writes, atol=1e-4, rtol=0)
    assert no_hooks_left(lm.model)


# ------------------------------------------------------------------------------ direct contributions
@pytest.mark.parametrize("position", [None, 2])
def test_smollm2_contributions_add_up_to_its_logit(smollm2, stock_smollm2, position):
    tr = compute_trace(smollm2, CAPITAL)
    p = tr.n_tokens - 1 if position is None else position
    run = block.capture(smollm2, tr.ids, p)
    if position is None:  # the same ids as the trace: the same logits
        np.testing.assert_allclose(run.logits, tr.last_logits, atol=1e-4, rtol=0)
    stock = stock_outputs(stock_smollm2, tr.ids[: p + 1], causal=True)
    paris = smollm2.tokenizer(" Paris", add_special_tokens=False).input_ids[0]
    for target in {block.default_target(smollm2, run), paris, 1234, int(np.argmin(run.logits))}:
        a = block.attribute(smollm2, run, target)
        assert abs(a.total - a.model_value) <= 1e-4, (target, a.total, a.model_value)
        assert a.model_value == pytest.approx(float(run.logits[target]), abs=0)
        assert abs(a.model_value - stock[target]) <= 3e-4  # the stock model's own logit
        assert a.attn_bias is None and a.bias == 0.0  # Llama: no biases, RMSNorm has no beta
    if position is None:
        assert block.default_target(smollm2, run) == paris  # " Paris" is SmolLM2's top next token here


def test_smollm2_heads_sum_to_the_attention_write(smollm2):
    tr = compute_trace(smollm2, CAPITAL)
    run = block.capture(smollm2, tr.ids, tr.n_tokens - 1)
    np.testing.assert_allclose(run.heads.sum(1), run.writes[0::2], atol=1e-4, rtol=0)


def test_minilm_contributions_add_up_to_its_final_vector_score(minilm, stock_minilm):
    tr = compute_trace(minilm, SENTENCE)
    final = stock_outputs(stock_minilm, tr.ids, causal=False)  # [T, d] the stock model's last hidden state
    emb = stock_minilm.embeddings.word_embeddings.weight.detach().double().numpy()
    for p in (0, 3, tr.n_tokens - 1):
        run = block.capture(minilm, tr.ids, p)
        assert run.post_norm and not run.has_head
        np.testing.assert_allclose(run.final, final[p], atol=1e-4, rtol=0)
        for target in (block.default_target(minilm, run), 2283, 1012):
            a = block.attribute(minilm, run, target)
            assert abs(a.total - a.model_value) <= 1e-4
            assert abs(a.model_value - float(final[p].astype(np.float64) @ emb[target])) <= 1e-4
    assert block.default_target(minilm, run) == int(tr.ids[p])  # an encoder's default: the token itself


@pytest.mark.parametrize("name, stock_name", [("gpt2_lm", "tiny_gpt2_b"), ("bert_lm", "tiny_bert_b")])
def test_tiny_contributions_add_up(name, stock_name, request):
    lm, tiny = request.getfixturevalue(name), request.getfixturevalue(stock_name)
    tr = compute_trace(lm, SENTENCE)
    causal = lm.spec.family == "decoder"
    for p in (1, tr.n_tokens - 1):
        run = block.capture(lm, tr.ids, p)
        ref = stock_outputs(tiny.model, tr.ids[: p + 1] if causal else tr.ids, causal)
        for target in (block.default_target(lm, run), 7, 20000):
            a = block.attribute(lm, run, target)
            assert abs(a.total - a.model_value) <= 1e-4
            if causal:  # GPT-2: W^O biases and the final LayerNorm's beta are bias terms
                assert a.attn_bias is not None and np.abs(a.attn_bias).min() > 0 and a.bias != 0.0
                assert abs(a.model_value - ref[target]) <= 1e-5
            else:
                row = tiny.model.bert.embeddings.word_embeddings.weight[target].double().numpy()
                assert abs(a.model_value - float(ref[p].astype(np.float64) @ row)) <= 1e-5


# ------------------------------------------------------------------------------------------ ablation
def test_smollm2_ablation_equals_a_stock_model_with_swapped_modules(smollm2, stock_smollm2):
    tr = compute_trace(smollm2, CAPITAL)
    p = tr.n_tokens - 1
    run = block.capture(smollm2, tr.ids, p)
    comps = block.parse_components("a3.2,a20.5,m5", 30, 9)
    means = stock_means(stock_smollm2, run.ids, 30)
    for mode in block.MODES:
        abl = block.ablate(smollm2, run, comps, mode)
        with swapped(stock_smollm2, comps, mode, 64, means):
            ref = stock_outputs(stock_smollm2, run.ids, causal=True)
        assert np.abs(probs(abl.logits) - probs(ref)).max() <= 1e-5, mode
        assert np.abs(abl.logits - ref).max() <= 3e-4, mode
        assert np.abs(abl.logits - run.logits).max() > 0.1  # the ablation did change something
    assert no_hooks_left(smollm2.model) and no_hooks_left(stock_smollm2)


@pytest.mark.parametrize("name, stock_name", [("gpt2_lm", "tiny_gpt2_b"), ("bert_lm", "tiny_bert_b")])
def test_tiny_ablation_equals_swapped_modules(name, stock_name, request):
    lm, tiny = request.getfixturevalue(name), request.getfixturevalue(stock_name)
    tr = compute_trace(lm, SENTENCE)
    causal = lm.spec.family == "decoder"
    run = block.capture(lm, tr.ids, 3)
    dh = lm.facts.d_head
    means = stock_means(tiny.model, run.ids, 2)
    for value in ("a1.2", "m2", "a1.1,a2.2,m1", "a2"):
        comps = block.parse_components(value, 2, 2)
        for mode in block.MODES:
            abl = block.ablate(lm, run, comps, mode)
            with swapped(tiny.model, comps, mode, dh, means):
                ref = stock_outputs(tiny.model, run.ids, causal)
            if causal:
                np.testing.assert_allclose(abl.logits, ref, atol=1e-5, rtol=0)
            else:
                np.testing.assert_allclose(abl.last_hidden, ref, atol=1e-5, rtol=0)
                np.testing.assert_allclose(abl.final, ref[run.position], atol=1e-5, rtol=0)


def test_minilm_ablation_equals_swapped_modules(minilm, stock_minilm):
    tr = compute_trace(minilm, SENTENCE)
    run = block.capture(minilm, tr.ids, 4)
    means = stock_means(stock_minilm, run.ids, 6)
    comps = block.parse_components("a2.3,a6,m4", 6, 12)
    for mode in block.MODES:
        abl = block.ablate(minilm, run, comps, mode)
        with swapped(stock_minilm, comps, mode, 32, means):
            ref = stock_outputs(stock_minilm, run.ids, causal=False)
        np.testing.assert_allclose(abl.last_hidden, ref, atol=1e-5, rtol=0)
        assert block.cosine(run.final, abl.final) < 0.9999


def test_ranking_equals_one_ablated_run_per_part_smollm2(smollm2):
    tr = compute_trace(smollm2, CAPITAL)
    run = block.capture(smollm2, tr.ids, tr.n_tokens - 1)
    target = block.default_target(smollm2, run)
    ranking = block.rank_single(smollm2, run, target, "zero")
    assert ranking.heads.shape == (30, 9) and ranking.mlps.shape == (30,) and ranking.metric == "probability"
    assert ranking.baseline == pytest.approx(float(probs(run.logits)[target]), abs=1e-7)
    for c in [Component(0, "a", 0), Component(12, "a", 4), Component(29, "a", 8), Component(0, "m"),
              Component(17, "m"), Component(29, "m")]:
        alone = probs(block.ablate(smollm2, run, [c], "zero").logits)[target]
        value = ranking.heads[c.layer, c.head] if c.kind == "a" else ranking.mlps[c.layer]
        assert abs(value - alone) <= 1e-5, (c, value, alone)
    top = ranking.top(5)
    assert [v for _c, v in top] == sorted((v for _c, v in top), reverse=True)
    assert no_hooks_left(smollm2.model)


@pytest.mark.parametrize("name", ["gpt2_lm", "bert_lm", "minilm"])
def test_ranking_equals_one_ablated_run_per_part(name, request):
    lm = request.getfixturevalue(name)
    tr = compute_trace(lm, SENTENCE)
    run = block.capture(lm, tr.ids, 2)
    L, H = lm.facts.n_layers, lm.facts.n_heads
    target = block.default_target(lm, run)
    for mode in block.MODES:
        ranking = block.rank_single(lm, run, target, mode)
        for layer in sorted({0, L // 2, L - 1}):  # every layer of the tiny models; three of MiniLM's
            for c in [Component(layer, "a", h) for h in range(H)] + [Component(layer, "m")]:
                abl = block.ablate(lm, run, [c], mode)
                alone = probs(abl.logits)[target] if run.has_head else float(block.cosine(abl.final, run.final))
                value = ranking.heads[c.layer, c.head] if c.kind == "a" else ranking.mlps[c.layer]
                assert abs(value - alone) <= 1e-5, (mode, c, value, alone)
    assert no_hooks_left(lm.model)


# ------------------------------------------------------------------------------------------- neurons
def test_smollm2_neurons_against_a_direct_computation(smollm2, stock_smollm2):
    tr = compute_trace(smollm2, CAPITAL)
    p = tr.n_tokens - 1
    run = block.capture(smollm2, tr.ids, p)
    got = {}
    layers = stock_smollm2.model.layers
    handles = [layers[3].mlp.register_forward_pre_hook(lambda _m, a: got.__setitem__("x3", a[0][0, p].double())),
               layers[29].mlp.register_forward_pre_hook(lambda _m, a: got.__setitem__("x29", a[0][0, p].double())),
               stock_smollm2.model.norm.register_forward_pre_hook(lambda _m, a: got.__setitem__("fin", a[0][0, p]))]
    try:
        with torch.inference_mode():
            stock_smollm2(input_ids=torch.tensor(run.ids)[None])
    finally:
        for h in handles:
            h.remove()
    fin = got["fin"].double()
    s = 1.0 / torch.sqrt((fin ** 2).mean() + stock_smollm2.model.norm.variance_epsilon)
    gamma = stock_smollm2.model.norm.weight.double()
    unembed = stock_smollm2.lm_head.weight.double()
    for layer in (3, 29):
        mlp = layers[layer].mlp
        x = got[f"x{layer}"]
        act = torch.nn.functional.silu(x @ mlp.gate_proj.weight.double().T) * (x @ mlp.up_proj.weight.double().T)
        np.testing.assert_allclose(run.acts[layer], act.numpy(), atol=1e-4 * float(act.abs().max()), rtol=0)
        order = np.argsort(-np.abs(act.numpy()), kind="stable")[:4]
        neurons = block.top_neurons(smollm2, run, layer, n=4, k=5)
        assert [n.index for n in neurons] == order.tolist()
        effects = block.neuron_effects(smollm2, run, layer, order)  # [4, V] per unit of activation
        for row, i, n in zip(effects, order, neurons):
            direct = (unembed @ (s * gamma * mlp.down_proj.weight.double()[:, i])).numpy()  # [V]
            np.testing.assert_allclose(row, direct, atol=1e-4 * np.abs(direct).max(), rtol=0)
            written = act[i].item() * direct
            assert n.up_ids.tolist() == [t for t in np.argsort(-written, kind="stable")[:5] if written[t] > 0]
            assert n.down_ids.tolist() == [t for t in np.argsort(written, kind="stable")[:5] if written[t] < 0]
            assert (n.up_values > 0).all() and (n.down_values < 0).all()
            np.testing.assert_allclose(n.up_values, written[n.up_ids], rtol=1e-4)


def test_minilm_neurons_against_a_direct_computation(minilm, stock_minilm):
    tr = compute_trace(minilm, SENTENCE)
    p = 3
    run = block.capture(minilm, tr.ids, p)
    layer = 2
    got, handles = {}, []
    enc = stock_minilm.encoder.layer
    handles.append(enc[layer].intermediate.register_forward_pre_hook(
        lambda _m, a: got.__setitem__("x", a[0][0, p].double())))
    norms = []  # the LayerNorms after block `layer`'s MLP, in order: its own output norm, then every later one
    for k in range(layer, 6):
        if k > layer:
            norms.append(enc[k].attention.output.LayerNorm)
        norms.append(enc[k].output.LayerNorm)
    for j, ln in enumerate(norms):
        handles.append(ln.register_forward_pre_hook(lambda _m, a, j=j: got.__setitem__(("ln", j), a[0][0, p].double())))
    try:
        with torch.inference_mode():
            stock_minilm(input_ids=torch.tensor(run.ids)[None])
    finally:
        for h in handles:
            h.remove()
    inter = enc[layer].intermediate.dense
    act = torch.nn.functional.gelu(got["x"] @ inter.weight.double().T + inter.bias.double())  # BERT: exact GELU
    np.testing.assert_allclose(run.acts[layer], act.numpy(), atol=1e-4 * float(act.abs().max()), rtol=0)
    order = np.argsort(-np.abs(act.numpy()), kind="stable")[:3]
    effects = block.neuron_effects(minilm, run, layer, order)
    emb = stock_minilm.embeddings.word_embeddings.weight.double()
    for row, i in zip(effects, order):
        v = enc[layer].output.dense.weight.double()[:, i]
        for j, ln in enumerate(norms):
            x = got[("ln", j)]
            s = 1.0 / torch.sqrt(((x - x.mean()) ** 2).mean() + ln.eps)
            v = ln.weight.double() * s * (v - v.mean())
        direct = (emb @ v).numpy()
        np.testing.assert_allclose(row, direct, atol=1e-4 * np.abs(direct).max(), rtol=0)


# -------------------------------------------------------------------------------- parsing and tokens
def test_parse_and_format_components():
    comps = block.parse_components(" m5, a3.2 ,a3.2,", 30, 9)
    assert comps == (Component(2, "a", 1), Component(4, "m"))
    assert block.format_components(comps, 9) == "a3.2,m5"
    every = block.parse_components("a4", 30, 9)
    assert every == tuple(Component(3, "a", h) for h in range(9))
    assert block.format_components(every + (Component(3, "m"),), 9) == "a4,m4"
    assert block.parse_components("", 30, 9) == ()
    assert [c.label for c in block.parse_components("a30.9,m1", 30, 9)] == ["m1", "a30.9"]
    for bad, words in [("a31.1", "layers go from 1 to 30"), ("a0.1", "layers go from 1"),
                       ("a3.10", "heads go from 1 to 9"), ("a3.0", "heads go from 1"), ("x3", "is not a component"),
                       ("m", "is not a component"), ("a3.2;m5", "is not a component"), ("A3.2", "is not a component"),
                       ("a-1", "is not a component"), ("a" + "9" * 30, "is not a component")]:
        with pytest.raises(BlockError) as e:
            block.parse_components(bad, 30, 9)
        assert words in str(e.value), (bad, str(e.value))
    assert isinstance(BlockError("x"), ValueError)  # state.Param reports it as a rejected link value


def test_targets_are_single_tokens(smollm2, minilm):
    paris = smollm2.tokenizer(" Paris", add_special_tokens=False).input_ids
    assert len(paris) == 1
    assert block.token_of(smollm2, " Paris") == paris[0]
    assert block.token_of(smollm2, "ĠParis") == paris[0]  # the vocabulary string works too
    assert block.target_text(smollm2, paris[0]) == " Paris"
    with pytest.raises(BlockError, match="tokens for this model, not one"):
        block.token_of(smollm2, " Paris France")
    for tid in (0, 1, 200, 7000, 49151):  # whatever a target is written as, it reads back as the same id
        assert block.token_of(smollm2, block.target_text(smollm2, tid)) == tid
    assert block.token_of(minilm, " Paris") == minilm.tokenizer.convert_tokens_to_ids("paris")  # uncased
    assert block.token_of(minilm, "##ing") == minilm.tokenizer.convert_tokens_to_ids("##ing")


def test_bad_position_is_refused(minilm):
    tr = compute_trace(minilm, SENTENCE)
    with pytest.raises(BlockError):
        block.capture(minilm, tr.ids, tr.n_tokens)


def test_hooks_come_off_even_when_the_pass_fails(gpt2_lm):
    from models.hooks import hooked

    model = gpt2_lm.model
    an = block.anatomy(model)
    with pytest.raises(RuntimeError):
        with hooked([(an.down[0], "post", lambda *a: None), (an.layers[1], "pre_kwargs", lambda *a: None)]):
            raise RuntimeError("boom")
    assert no_hooks_left(model)
    with pytest.raises(ValueError):
        with hooked([(an.down[0], "post", lambda *a: None), (an.down[1], "sideways", lambda *a: None)]):
            pass
    assert no_hooks_left(model)


# ----------------------------------------------------------------------- what the page and presets say
def test_preset_claims_on_norms(smollm2, minilm):
    """components/presets.py "pre-post-norm": SmolLM2's stream ends more than a hundred times longer than it
    started, at every token; MiniLM's ends about as long as it started."""
    from components.presets import BERT_SENTENCE, get

    assert "hundred times longer" in get("pre-post-norm").what
    for lm, check in ((smollm2, lambda r: r > 100), (minilm, lambda r: 0.5 < r < 1.5)):
        tr = compute_trace(lm, BERT_SENTENCE)
        for p in range(tr.n_tokens):
            n = np.linalg.norm(block.capture(lm, tr.ids, p).stream.astype(np.float64), axis=1)
            assert check(n[-1] / n[0]), (lm.spec.id, p, n[-1] / n[0])


def test_heads_paris_preset_target_is_one_token(smollm2):
    from components.presets import get

    preset = get("heads-paris")
    assert len(smollm2.tokenizer(preset.params["target"], add_special_tokens=False).input_ids) == 1


def test_glossary_neuron_and_mlp_numbers(smollm2, minilm):
    from components.glossary import term

    assert block.anatomy(smollm2.model).d_ff == block.anatomy(minilm.model).d_ff == 1536
    assert "1,536 per block in SmolLM2 and in MiniLM" in term("neuron").text
    mlp, total = block.mlp_share(smollm2.model)
    assert f"{mlp / total:.0%}" == "75%" and "75%" in term("feed-forward network").text
    assert block.activation(smollm2.model) == ("silu", True) and block.activation(minilm.model) == ("gelu", False)
