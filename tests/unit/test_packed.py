"""serving/packed.py: the loaded models' linear layers run on oneDNN's packed weights. Each product equals
F.linear within float32 rounding, and the whole loaded model equals the same model as transformers loads it
(a second, untouched copy read from the same files): logits, hidden states and attention weights."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.loading import _model_class, weights_location
from models.registry import get_spec
from serving import packed as P

pytestmark = pytest.mark.skipif(not P.AVAILABLE, reason="this torch has no oneDNN")


@pytest.mark.parametrize("rows", [1, 3, 8, 31, 200])
@pytest.mark.parametrize("bias", [False, True])
def test_packed_product_equals_f_linear(smollm2, rows, bias):
    w = smollm2.model.model.layers[3].mlp.down_proj.weight  # [576, 1536]
    g = torch.Generator().manual_seed(rows)
    b = torch.randn(576, generator=g) if bias else None
    x = torch.randn(rows, w.shape[1], generator=g)
    p = P.Packed(w, b)
    assert p.weight.is_mkldnn and (p.out_features, p.in_features) == (576, 1536)
    with torch.inference_mode():
        got, ref = p(x), F.linear(x, w, b)
    assert got.shape == ref.shape == (rows, 576)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=5e-5)  # float32 sums of 1536 terms, reordered


def test_packed_takes_any_leading_shape_and_non_contiguous_input(smollm2):
    w = smollm2.model.model.layers[0].self_attn.q_proj.weight  # [576, 576]
    x = torch.randn(2, 576, 7).transpose(1, 2)  # [2, 7, 576], not contiguous
    with torch.inference_mode():
        torch.testing.assert_close(P.Packed(w)(x), F.linear(x, w), rtol=1e-4, atol=5e-5)


def test_without_onednn_nothing_changes(monkeypatch):
    monkeypatch.setattr(P, "AVAILABLE", False)
    lin = torch.nn.Linear(16, 4)
    model = torch.nn.Sequential(lin)
    assert P.pack_linears(model) == 0 and not hasattr(lin, "packed")
    p = P.Packed(lin.weight, lin.bias)  # the fallback reads the dense weight itself
    x = torch.randn(3, 16)
    with torch.no_grad():
        assert p.weight.data_ptr() == lin.weight.data_ptr() and torch.equal(p(x), lin(x))


def _counts(model) -> tuple[int, int]:
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    return len(linears), sum(hasattr(m, "packed") for m in linears)


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_every_linear_of_a_loaded_model_is_packed_and_keeps_its_dense_weight(request, name):
    lm = request.getfixturevalue(name)
    n, packed = _counts(lm.model)
    assert n > 0 and packed == n  # SmolLM2: 7 per layer x 30 + the output layer; MiniLM: 6 per layer x 6 + pooler
    assert P.pack_linears(lm.model) == 0  # idempotent
    q = next(m for m in lm.model.modules() if type(m) is torch.nn.Linear)
    assert q.weight.dtype == torch.float32 and not q.weight.is_mkldnn  # parameters() as transformers built them
    assert {p.dtype for p in lm.model.parameters()} == {torch.float32}


def _stock(lm):
    """The same weights as transformers loads them: no packed products."""
    spec = get_spec(lm.spec.id)
    model = _model_class(spec).from_pretrained(weights_location(spec), dtype=torch.float32,
                                               attn_implementation="eager")
    assert _counts(model)[1] == 0
    return model.eval()


def test_smollm2_equals_the_model_as_transformers_loads_it(smollm2):
    stock = _stock(smollm2)
    ids = torch.tensor([smollm2.tokenizer("The capital of France is Paris, and the capital of Italy is")["input_ids"]])
    with torch.inference_mode():
        ours = smollm2.model(input_ids=ids, output_hidden_states=True, output_attentions=True)
        ref = stock(input_ids=ids, output_hidden_states=True, output_attentions=True)
    _close_to_scale([ours.logits], [ref.logits])
    torch.testing.assert_close(ours.logits.softmax(-1), ref.logits.softmax(-1), rtol=0, atol=1e-5)
    _close_to_scale(ours.hidden_states, ref.hidden_states)
    for a, b in zip(ours.attentions, ref.attentions):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert torch.equal(ours.logits[0, -1].argmax(), ref.logits[0, -1].argmax())


def _close_to_scale(ours, ref, tol=1e-5):
    """Each layer's residual stream within ``tol`` of its own largest value: SmolLM2's first-token activations
    reach ~22,500, where one float32 rounding step is ~0.002 (measured differences: <= 3e-6 of the scale)."""
    for layer, (a, b) in enumerate(zip(ours, ref)):
        scale = float(b.abs().max())
        assert float((a - b).abs().max()) <= tol * max(scale, 1.0), (layer, scale)


def test_minilm_equals_the_model_as_transformers_loads_it(minilm):
    stock = _stock(minilm)
    enc = minilm.tokenizer(["Tea is hot.", "A bank of the river."], padding=True, return_tensors="pt")
    with torch.inference_mode():
        ours = minilm.model(**enc, output_hidden_states=True, output_attentions=True)
        ref = stock(**enc, output_hidden_states=True, output_attentions=True)
    _close_to_scale(ours.hidden_states, ref.hidden_states)
    for a, b in zip(ours.attentions, ref.attentions):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_hooks_on_a_packed_layer_still_see_its_input_and_output(smollm2):
    """Pages read activations with forward hooks on these modules (models/trace.py, positions.py)."""
    q_proj = smollm2.model.model.layers[2].self_attn.q_proj
    seen = {}
    h = q_proj.register_forward_hook(lambda m, i, o: seen.update(x=i[0], y=o))
    try:
        with torch.inference_mode():
            smollm2.model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    finally:
        h.remove()
    torch.testing.assert_close(seen["y"], F.linear(seen["x"], q_proj.weight), rtol=1e-4, atol=5e-5)


def _rss_file_mb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("RssFile:"))


def test_dense_copies_leave_memory_and_come_back_unchanged_when_read(smollm2):
    """Loading drops the resident pages of the packed layers' dense weights (they are views of the safetensors
    mmap); reading a weight again faults it back from the file with the same numbers."""
    layers = [m for m in smollm2.model.modules() if hasattr(m, "packed") and m is not smollm2.model.lm_head]
    snapshot = [m.weight[::97, ::13].clone() for m in layers[:5]]
    P.release_dense(smollm2.model)  # as loading left it (an earlier test may have read the weights)
    before = _rss_file_mb()
    total = sum(float(m.weight.sum()) for m in layers)  # touches every page of every dense weight
    touched = _rss_file_mb()
    assert touched - before > 300  # ~425 MB of SmolLM2 layer weights came back from the file
    assert P.release_dense(smollm2.model) > 400 * 2**20
    assert touched - _rss_file_mb() > 300  # ... and left again
    assert sum(float(m.weight.sum()) for m in layers) == total  # read back: the very same numbers
    assert all(torch.equal(m.weight[::97, ::13], s) for m, s in zip(layers, snapshot))
    P.release_dense(smollm2.model)


def test_release_never_touches_weights_that_live_in_anonymous_memory():
    model = torch.nn.Sequential(torch.nn.Linear(4096, 512))  # built in memory: no file behind it
    w = model[0].weight.detach().clone()
    assert P.pack_linears(model) == 1
    assert P.release_dense(model) == 0
    assert torch.equal(model[0].weight, w)


# ------------------------------------------------------------------ nn.Linear's meaning is kept (issue #21)
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()


def test_changing_a_weight_in_place_changes_what_the_layer_computes():
    """A stock nn.Linear computes with its current weight; so must a packed one (an ablation or a patching
    feature that edits a weight would otherwise be silently ignored)."""
    model, stock = tiny_model(), tiny_model()
    assert P.pack_linears(model) == 2
    x = torch.randn(5, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), stock(x), rtol=1e-5, atol=1e-6)
        for m in (model, stock):
            m[2].weight[1].zero_()  # in place, through the parameter
            m[0].bias.add_(0.5)
        torch.testing.assert_close(model(x), stock(x), rtol=1e-5, atol=1e-6)
        assert float(model(x)[:, 1].abs().max()) == pytest.approx(float(stock[2].bias[1].abs()), abs=1e-6)


def test_replacing_a_parameter_or_loading_a_state_dict_is_seen():
    model, other = tiny_model(), torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    P.pack_linears(model)
    x = torch.randn(3, 16)
    with torch.no_grad():
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(x), other(x), rtol=1e-5, atol=1e-6)
        model[2].weight = torch.nn.Parameter(torch.zeros(4, 32))
        torch.testing.assert_close(model(x), model[2].bias.expand(3, 4), rtol=0, atol=0)


def test_the_engine_switch_hf_keeps_the_stock_model():
    import serving
    from models.loading import load

    lm = serving.accelerate(load("minilm-l6"), engine="hf")
    assert not P.is_packed(lm.model)
    lm = serving.accelerate(lm, engine="fast")
    assert P.is_packed(lm.model)


def test_a_deep_copy_of_a_packed_model_computes_with_its_own_weights():
    import copy

    model = tiny_model()
    P.pack_linears(model)
    twin = copy.deepcopy(model)
    x = torch.randn(3, 16)
    with torch.no_grad():
        twin[2].weight.zero_()
        torch.testing.assert_close(twin(x), twin[2].bias.expand(3, 4), rtol=0, atol=0)
        assert not torch.equal(model(x), twin(x))  # the original still has its weights
