"""One layer numbering on every page (issue #18, item 4): the same number names the same block everywhere.

Layer 3 on /attention, /embeddings and /similarity, the logit lens's "after layer 3" row and the tour's named
previous-token head (and the Attention page its link opens) are all checked against the model's own arrays:
block ``model.layers[2]``'s output is ``hidden_states[3]`` and its attention is ``attentions[2]`` (transformers'
outputs through the Trace, and the model's own final norm and LM head for the lens), never against the app's
numbering helper."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from components.state import DEFAULT_TEXT
from models.trace import compute_trace
from tests.app.helpers import array, charts, run_page
from tests.app.test_attention_page import figures

MODEL = "smollm2-135m"
LAYER = 3  # the number every page shows
BLOCK = 2  # model.layers[2]: its output is hidden_states[3], its attention attentions[2]


@pytest.fixture(scope="module")
def trace(smollm2):
    return compute_trace(smollm2, DEFAULT_TEXT)


def test_block_3_is_the_third_module_of_the_model(smollm2, trace):
    """The arrays used below are what the model's third block computes (a hook on model.layers[2])."""
    seen = {}

    def keep(mod, args, out) -> None:  # returns None: the block's output is left as it is
        seen["h"] = (out[0] if isinstance(out, tuple) else out)[0].numpy()

    hook = smollm2.model.model.layers[BLOCK].register_forward_hook(keep)
    try:
        with torch.inference_mode():
            smollm2.model(input_ids=torch.tensor([trace.ids.tolist()]))
    finally:
        hook.remove()
    np.testing.assert_allclose(trace.hidden_states[LAYER], seen["h"], atol=1e-4)


def test_attention_layer_3_is_block_2(trace):
    at = run_page("app_pages/attention.py", model=MODEL, layer=str(LAYER), head="2")
    (title, fig), = [(t, f) for t, f in figures(at).items() if t.startswith("Attention weights")]
    assert title == f"Attention weights · layer {LAYER}, head 2"
    z = array(fig["data"][0]["z"])
    future = np.triu(np.ones_like(z, dtype=bool), 1)
    np.testing.assert_allclose(z[~future], trace.attentions[BLOCK, 1][~future], atol=1e-7)
    assert at.query_params["layer"] == str(LAYER)
    # the q·k view of the same link recomputes block 2's attention
    at = run_page("app_pages/attention.py", model=MODEL, layer=str(LAYER), head="2", view="qk", query="3")
    np.testing.assert_allclose(at.dataframe[0].value["softmax weight"].to_numpy(), trace.attentions[BLOCK, 1, 3],
                               atol=1e-4)
    assert any(f"heads of layer {LAYER}:" in s.value for s in at.success)


def test_embeddings_layer_3_is_the_output_of_block_2(trace):
    at = run_page("app_pages/embeddings.py", model=MODEL, layer=str(LAYER))
    (title, fig), = [(t, f) for t, f in charts(at).items() if "tokens ×" in t]
    assert title.startswith(f"hidden states after layer {LAYER} of 30")
    np.testing.assert_allclose(array(fig["data"][0]["z"]), trace.hidden_states[LAYER][:64], atol=1e-6)


def test_similarity_layer_3_is_the_output_of_block_2(smollm2):
    words = ["cat", "dog", "car"]
    at = run_page("app_pages/similarity.py", model=MODEL, vectors="contextual", layer=str(LAYER),
                  words=", ".join(words))
    (title, fig), = [(t, f) for t, f in charts(at).items() if t.startswith("Cosine similarity (contextual")]
    assert f"after layer {LAYER} of 30" in title
    vectors = []
    for w in words:  # each word alone, as inside a sentence (byte-level BPE: with its leading space)
        ids = smollm2.tokenizer(" " + w, return_tensors="pt").input_ids
        with torch.inference_mode():
            h = smollm2.model(input_ids=ids, output_hidden_states=True).hidden_states[LAYER][0].numpy()
        vectors.append(h.mean(0))
    v = np.stack(vectors)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(array(fig["data"][0]["z"]), v @ v.T, atol=1e-4)


def test_logit_lens_row_after_layer_3_reads_block_2s_output(smollm2, trace):
    at = run_page("app_pages/next_token.py", model=MODEL)
    fig = next(f for t, f in charts(at).items() if t.startswith("Top ") and "tokens after each of the 30 layers" in t)
    rows = fig["data"][0]["y"]
    assert rows[0] == "embeddings" and rows[LAYER] == f"after layer {LAYER}" and len(rows) == 31
    h = torch.tensor(trace.hidden_states[LAYER][-1])  # the last position after block model.layers[2]
    with torch.inference_mode():
        probs = smollm2.model.lm_head(smollm2.model.model.norm(h)).softmax(-1).numpy()
    k = array(fig["data"][0]["z"]).shape[1]
    np.testing.assert_allclose(array(fig["data"][0]["z"])[LAYER], np.sort(probs)[::-1][:k], atol=1e-5)


def test_the_tours_previous_token_head_and_its_link_name_the_same_head(trace):
    # the strongest previous-token head, found here from the trace (mean weight on the token just before)
    a = trace.attentions  # [L, H, T, T]
    T = a.shape[-1]
    prev = a[:, :, np.arange(1, T), np.arange(T - 1)].mean(-1)  # [L, H]
    block, head = np.unravel_index(np.argmax(prev), prev.shape)
    at = run_page("app_pages/home.py", model=MODEL, step="5")
    (title, fig), = [(t, f) for t, f in charts(at).items() if t.startswith("Attention weights, layer ")]
    layer_no, head_no = (int(x) for x in re.fullmatch(r"Attention weights, layer (\d+) head (\d+)", title).groups())
    assert (layer_no, head_no) == (block + 1, head + 1)  # named from 1
    z = array(fig["data"][0]["z"])
    n = z.shape[0]
    future = np.triu(np.ones((n, n), bool), 1)
    np.testing.assert_allclose(z[~future], a[block, head, :n, :n][~future], atol=1e-7)
    assert any(f"This is layer {layer_no}, head {head_no}" in m.value for m in at.markdown)
    # the next step names the same head in its sentence
    at6 = run_page("app_pages/home.py", model=MODEL, step="6")
    assert any(f"the brightest here is layer {layer_no}, head {head_no}." in m.value for m in at6.markdown)
    # "Open the full page" carries the same numbers, and the Attention page it opens draws the same weights
    (link,) = [p.proto for p in at.get("page_link") if p.proto.label.startswith("Open the full page")]
    query = dict(x.split("=", 1) for x in link.query_string.split("&"))
    assert (query["layer"], query["head"]) == (str(layer_no), str(head_no))
    page = run_page("app_pages/attention.py", model=MODEL, layer=query["layer"], head=query["head"])
    (ptitle, pfig), = [(t, f) for t, f in figures(page).items() if t.startswith("Attention weights")]
    assert ptitle == f"Attention weights · layer {layer_no}, head {head_no}"
    np.testing.assert_allclose(array(pfig["data"][0]["z"])[~future], a[block, head][~future], atol=1e-7)
