"""One layer numbering (models/numbering.py): layer 0 = the embeddings (hidden_states[0]), layer l = block
``model.layers[l - 1]`` whose output is hidden_states[l] and whose attention is attentions[l - 1]; heads 1..H.
Checked against the model itself (forward hooks on its blocks, transformers' own outputs), and the Attention
page's URL parsing (layer 0 and head 0 rejected with the reason)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from components import state
from models import numbering as nb
from models.trace import compute_trace

TEXT = "Tim chased clouds all his life, and he never caught one"


def test_number_and_index_are_inverse_and_count_from_one():
    assert [nb.number(i) for i in range(4)] == [1, 2, 3, 4]
    assert [nb.index(n) for n in (1, 2, 3, 4)] == [0, 1, 2, 3]
    for i in range(40):
        assert nb.index(nb.number(i)) == i
    assert isinstance(nb.number(np.int64(2)), int) and nb.number(np.int64(2)) == 3  # numpy indices from argmax


def test_layer_l_is_block_l_minus_1_of_the_model(smollm2):
    """hidden_states[l] (what every page calls "after layer l") is the output of model.layers[index(l)], captured
    with a forward hook on that module; the attention the Attention page calls layer l is transformers'
    attentions[l - 1], and layer 0 is the embedding lookup (the input of model.layers[0])."""
    trace = compute_trace(smollm2, TEXT)
    blocks = smollm2.model.model.layers
    L = len(blocks)
    seen: dict[int, np.ndarray] = {}
    handles = [blocks[i].register_forward_hook(
        lambda mod, args, out, i=i: seen.__setitem__(i, (out[0] if isinstance(out, tuple) else out)[0].float().numpy()))
        for i in range(L)]
    first_input: list[np.ndarray] = []
    handles.append(blocks[0].register_forward_pre_hook(
        lambda mod, args, kwargs: first_input.append(
            (args[0] if args else kwargs["hidden_states"])[0].float().numpy()), with_kwargs=True))
    try:
        ids = torch.tensor([trace.ids.tolist()])
        with torch.inference_mode():
            out = smollm2.model(input_ids=ids, output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    np.testing.assert_allclose(trace.hidden_states[0], first_input[0], atol=1e-5)  # layer 0 = what block 1 reads
    np.testing.assert_allclose(trace.hidden_states[0], smollm2.model.get_input_embeddings()(ids)[0].detach().numpy(),
                               atol=1e-6)
    for layer in (1, 3, L - 1):  # the last hidden state is after the final norm in transformers: checked apart
        np.testing.assert_allclose(trace.hidden_states[layer], seen[nb.index(layer)], atol=1e-4)
    for layer in (1, 3, L):
        np.testing.assert_allclose(trace.attentions[nb.index(layer)], out.attentions[layer - 1][0].numpy(), atol=1e-5)
    assert trace.hidden_states.shape[0] == L + 1 and trace.attentions.shape[0] == L  # layers 0..L, blocks 1..L


def test_head_h_is_head_index_h_minus_1(minilm):
    """Head h of layer l is the (h - 1)-th slice of that layer's attention, as transformers returns it."""
    trace = compute_trace(minilm, TEXT)
    ids = torch.tensor([trace.ids.tolist()])
    with torch.inference_mode():
        out = minilm.model(input_ids=ids, output_attentions=True)
    for layer, head in ((1, 1), (3, 12), (6, 7)):
        np.testing.assert_allclose(trace.attentions[nb.index(layer), nb.index(head)],
                                   out.attentions[layer - 1][0, head - 1].numpy(), atol=1e-5)


# ----------------------------------------------------------------------------------- URL parsing
@pytest.mark.parametrize("raw,expected", [("1", 1), ("30", 30), (" 7 ", 7), ("3.0", 3)])
def test_attention_layer_parser_accepts_1_to_L(raw, expected):
    assert state.int_in(1, 30, below="layer 0 is the embeddings")(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "00"])
def test_layer_0_is_rejected_with_the_reason(raw):
    with pytest.raises(ValueError) as e:
        state.int_in(1, 30, below="layers are counted from 1 and layer 0 is the embeddings")(raw)
    assert str(e.value) == "must be between 1 and 30; layers are counted from 1 and layer 0 is the embeddings"


@pytest.mark.parametrize("raw,reason", [("31", "must be between 1 and 30"), ("abc", "not a whole number"),
                                        ("1e3", "not a whole number")])
def test_other_bad_layers_keep_the_plain_reason(raw, reason):
    with pytest.raises(ValueError) as e:
        state.int_in(1, 30, below="layer 0 is the embeddings")(raw)
    assert str(e.value) == reason  # the numbering note is only for a number below the range

