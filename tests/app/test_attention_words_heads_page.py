"""AppTest of /attention: word level on Chinese text (one row per character, the page's sum/mean rule), and the
"how the heads are combined" explanation (its shapes are the loaded model's facts and its W^O weight)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.trace import compute_trace
from tests.app import helpers
from tests.app.helpers import array, charts

PAGE = "app_pages/attention.py"
ZH = "今天天气很好，我们去公园散步吧。"


def run_page(**params: str):
    return helpers.run_page(PAGE, **params)


def component_weights(at) -> tuple[np.ndarray, list[str]]:
    """The matrix the one-head heatmap component draws first (the selected head, after its word transform),
    and its row labels."""
    (el,) = [e for e in at.get("component_instance") if e.proto.component_name.endswith(".attention_heatmap")]
    args = json.loads(el.proto.json_args)
    raw = {s.key: s.bytes for s in el.proto.special_args}
    n = args["n_tokens"]
    a = np.frombuffer(raw["data"], "<f4").reshape(len(args["pairs"]), n, n)
    return a[args["pairs"].index(args["selection"])], args["figure"]["data"][0]["y"]


def rule(att: np.ndarray, words: np.ndarray) -> np.ndarray:
    """The page's caption, computed here: row = MEAN over a word's query pieces, cell = SUM over the key pieces."""
    W = int(words.max()) + 1
    return np.array([[att[np.ix_(words == a, words == b)].sum(1).mean() for b in range(W)] for a in range(W)])


def words_of(trace) -> np.ndarray:
    """Word index per token, from the characters alone: each Chinese character (all its pieces) is one word,
    every special token one word."""
    ids, last = [], None
    for (start, end), special in zip(trace.offsets.tolist(), trace.special.tolist()):
        key = ("special", len(ids)) if special else start  # byte pieces of one character share its start
        ids.append(ids[-1] + (key != last) if ids else 0)
        last = key
    return np.array(ids)


@pytest.mark.parametrize("model_name,model_id", [("smollm2", "smollm2-135m"), ("minilm", "minilm-l6")])
def test_word_level_on_chinese_gives_one_row_per_character(model_name, model_id, request):
    t = compute_trace(request.getfixturevalue(model_name), ZH)
    words = words_of(t)
    n_special = int(t.special.sum())
    assert int(words.max()) + 1 == len(ZH) + n_special
    # one head: the redraw component
    at = run_page(model=model_id, text=ZH, level="words", layer="2", head="3")
    z, rows = component_weights(at)
    assert z.shape == (len(ZH) + n_special,) * 2 and z.shape[0] > 1
    np.testing.assert_allclose(z, rule(t.attentions[1, 2].astype(np.float64), words), atol=1e-6)
    np.testing.assert_allclose(z.sum(-1), 1.0, atol=1e-5)
    plain = [r.split(" ", 1)[1] for r in rows if "[" not in r]
    assert plain == list(ZH)
    assert any("each of their characters is a word here" in c.value for c in at.caption)
    # the mean of a layer's heads: a server-side figure
    at = run_page(model=model_id, text=ZH, level="words", agg="layer", layer="2")
    fig = next(f for title, f in charts(at).items() if title.startswith("Attention weights · mean"))
    z = array(fig["data"][0]["z"])
    if model_id == "smollm2-135m":
        z = np.nan_to_num(z)  # the masked future is drawn grey (NaN)
    np.testing.assert_allclose(z, rule(t.attentions[1].mean(0).astype(np.float64), words), atol=1e-6)


def test_no_chinese_note_for_english():
    at = run_page(model="minilm-l6", text="Tokenizers split unbelievably rare words", level="words", layer="1",
                  head="4")
    assert not any("each of their characters" in c.value for c in at.caption)


def o_proj_shape(lm) -> tuple[int, int]:
    """W^O as concat @ W^O uses it, read here from the model's own module (nn.Linear stores [out, in])."""
    if lm.facts.model_type == "llama":
        out_features, in_features = lm.model.model.layers[0].self_attn.o_proj.weight.shape
    else:
        out_features, in_features = lm.model.encoder.layer[0].attention.output.dense.weight.shape
    return in_features, out_features


@pytest.mark.parametrize("model_name,model_id", [("smollm2", "smollm2-135m"), ("minilm", "minilm-l6")])
def test_heads_combined_shows_the_models_shapes(model_name, model_id, request):
    lm = request.getfixturevalue(model_name)
    f = lm.facts
    text = "students celebrate the graduation with a big party"
    T = compute_trace(lm, text).n_tokens
    at = run_page(model=model_id, text=text)
    (box,) = [e for e in at.expander if "heads are combined" in e.label]
    assert f"How the {f.n_heads} heads are combined" in box.label
    md = " ".join(m.value for m in box.markdown)
    rows, cols = o_proj_shape(lm)
    assert (rows, cols) == (f.n_heads * f.d_head, f.d_model)
    assert f"T × d_head matrix ({T} × {f.d_head})" in md
    assert f"into a {T} × {f.n_heads * f.d_head} matrix ({f.n_heads} × {f.d_head} = {f.n_heads * f.d_head} columns)" in md
    assert f"{rows} × {cols}" in md and f"one vector of {f.d_model} numbers per token" in md
    assert f"all {f.n_layers} layers" in md
    if f.gqa:  # SmolLM2: 9 query heads, 3 key/value heads
        assert f"each of the {f.n_kv_heads} key/value heads serves a group of {f.n_heads // f.n_kv_heads}" in md
        assert "kv 1 ← 1, 2, 3; kv 2 ← 4, 5, 6; kv 3 ← 7, 8, 9" in md
        assert "`self_attn.o_proj`" in md and "x + output" in md and "+ b." not in md
    else:
        assert "key/value heads" not in md
        assert "`attention.output.dense`" in md and "LayerNorm(x + output)" in md and "+ b." in md
    fig = next(fig for title, fig in charts(at).items() if title.startswith(f"How the {f.n_heads} heads of a layer"))
    texts = [a["text"] for a in fig["layout"]["annotations"]]
    assert any(f"T × H·d_head = {T} × {f.n_heads * f.d_head}" in t for t in texts)
    assert any(f"T × d_head = {T} × {f.d_head}" in t for t in texts)
    assert any(f"T × d_model = {T} × {f.d_model}" in t for t in texts)
    assert any(f"{rows} × {cols}" in t and "W<sup>O</sup>" in t for t in texts)
    assert sum(t.startswith("kv ") for t in texts) == (f.n_kv_heads if f.gqa else 0)


def test_heads_combined_in_chinese():
    at = run_page(model="smollm2-135m", lang="zh")
    (box,) = [e for e in at.expander if "W^O" in e.label]
    assert "9 个头" in box.label
    md = " ".join(m.value for m in box.markdown)
    assert "`self_attn.o_proj`" in md and "576 × 576" in md and "kv 1 ← 1, 2, 3" in md


def test_heads_combined_is_made_once_per_model_and_length(monkeypatch, smollm2):
    """W^O's facts come from a walk over the model's modules and the diagram from many plotly shapes: both depend
    on the model (and the diagram on T) only, so a second student's text does not make them again; another length
    gets its own diagram with its own T."""
    from models import attention as att

    walks = []
    real = att.output_projection
    monkeypatch.setattr(att, "output_projection", lambda *a: walks.append(a) or real(*a))
    run_page(model="smollm2-135m", text="the W^O walk is made once for a model")
    before = len(walks)
    at = run_page(model="smollm2-135m", text="and not again for another text of the same model!")
    assert len(walks) == before  # the second run walked nothing
    T = len(compute_trace(smollm2, "and not again for another text of the same model!").ids)
    fig = next(fig for title, fig in charts(at).items() if title.startswith("How the 9 heads of a layer"))
    assert any(f"T × d_head = {T} × 64" in a["text"] for a in fig["layout"]["annotations"])
