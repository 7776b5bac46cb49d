"""Tour step 7 ("Inside a block") through the real app.py, against a STOCK SmolLM2 (from_pretrained, loaded
separately) and MiniLM: each bar is what that sub-layer wrote, read through the final norm's scale of the actual run
and the unembedding row of the top token, computed here with forward hooks on the stock modules."""
from __future__ import annotations

import re

import numpy as np
import torch

from components import tour
from models.loading import bundled_path
from models.registry import get_spec
from tests.app.helpers import array, charts, run_page

HOME = "app_pages/home.py"
STEP = str(1 + [s.short for s in tour.STEPS].index("Block"))
TEXT = "The capital of France is"



def stock_writes(model, ids):
    """(attention writes [L, d], MLP writes [L, d], last block output [d], logits [V]) at the last position."""
    layers = model.model.layers
    attn, mlp, last = {}, {}, {}
    handles = []
    try:
        for i, layer in enumerate(layers):
            handles.append(layer.self_attn.o_proj.register_forward_hook(
                lambda _m, _a, out, i=i: attn.__setitem__(i, out[0, -1].double())))
            handles.append(layer.mlp.register_forward_hook(
                lambda _m, _a, out, i=i: mlp.__setitem__(i, out[0, -1].double())))
        handles.append(model.model.norm.register_forward_pre_hook(
            lambda _m, args: last.__setitem__("x", args[0][0, -1].double())))
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, -1].double()
    finally:
        for h in handles:
            h.remove()
    L = len(layers)
    return (torch.stack([attn[i] for i in range(L)]), torch.stack([mlp[i] for i in range(L)]), last["x"], logits)


def test_block_step_bars_are_the_stock_models_direct_contributions(stock_smollm2, smollm2):
    at = run_page(HOME, model="smollm2-135m", step=STEP, text=TEXT)
    assert not at.exception and not at.warning
    (title, spec), = [(t, f) for t, f in charts(at).items() if f["data"][0].get("type") != "treemap"]
    ids = smollm2.tokenizer(TEXT, return_tensors="pt").input_ids
    attn, mlp, x, logits = stock_writes(stock_smollm2, ids)
    top = int(logits.argmax())
    norm = stock_smollm2.model.norm
    scale = norm.weight.double() * torch.rsqrt(x.pow(2).mean() + norm.variance_epsilon)  # RMSNorm at this run
    row = stock_smollm2.lm_head.weight[top].double() * scale
    np.testing.assert_allclose(array(spec["data"][0]["y"]), (attn @ row).numpy(), atol=2e-3)
    np.testing.assert_allclose(array(spec["data"][1]["y"]), (mlp @ row).numpy(), atol=2e-3)
    assert smollm2.tokenizer.decode([top]).strip() in title
    words = " ".join(m.value for m in at.markdown)
    assert f"{float(logits[top]):.2f}" in words  # the model's own logit, which the parts add up to
    assert "pre-norm" in words
    n_mlp = sum(p.numel() for p in stock_smollm2.model.layers[0].mlp.parameters())
    n_block = sum(p.numel() for p in stock_smollm2.model.layers[0].parameters())
    assert f"{n_mlp / n_block:.0%} of the block's parameters" in words
    best = int(np.argmax(np.maximum((attn @ row).numpy(), (mlp @ row).numpy())))
    assert re.search(rf"biggest push here: the (attention|MLP) of layer {best + 1}\b", words)
    assert ("block", "Open the full page: Inside a block") in [(p.proto.page, p.proto.label) for p in at.get("page_link")]


def test_block_step_on_an_encoder_shows_its_residual_stream(minilm):
    from transformers import AutoModel

    stock = AutoModel.from_pretrained(bundled_path(get_spec("minilm-l6")), dtype=torch.float32).eval()
    at = run_page(HOME, model="minilm-l6", step=STEP, text=TEXT)
    assert not at.exception and not at.warning
    (_title, spec), = [(t, f) for t, f in charts(at).items() if f["data"][0].get("type") != "treemap"]
    ids = minilm.tokenizer(TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        hs = stock(input_ids=ids, output_hidden_states=True).hidden_states  # post-norm: each block's output
    line = next(d for d in spec["data"] if d.get("type") == "scatter")
    y = array(line["y"])
    assert len(y) == 2 * stock.config.num_hidden_layers + 1
    # the points after each MLP are the blocks' outputs (post-norm: after the block's last LayerNorm)
    expected = np.array([float(h[0, -1].norm()) for h in hs])
    np.testing.assert_allclose(y[0::2], expected, rtol=1e-4)
    words = " ".join(m.value for m in at.markdown)
    assert "post-norm" in words and "pre-norm" not in words


def test_block_step_in_chinese_and_in_presentation_mode():
    at = run_page(HOME, model="smollm2-135m", step=STEP, text=TEXT, lang="zh", present="1")
    assert not at.exception and not at.warning
    assert len(at.get("plotly_chart")) == 1
