"""AppTest of /embeddings through the real app.py: both models, bad params, numbers equal models/ maths."""
from __future__ import annotations


import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models import similarity as sim
from tests.app import helpers
from tests.app.helpers import array, charts

PAGE = "app_pages/embeddings.py"


def run_page(**params: str) -> AppTest:
    return helpers.run_page(PAGE, **params)


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_page_renders_every_section(model_id):
    at = run_page(model=model_id)
    titles = " | ".join(charts(at))
    for part in ("layer 0, the embeddings the first block reads", "Closest of all", "king − man + woman", "projected from",
                 "sine/cosine", "The same words in reverse order"):
        assert part in titles, part
    assert ("rotation" in titles) == (model_id == "smollm2-135m")
    assert ("Learned position table" in titles) == (model_id == "minilm-l6")


def test_neighbours_shown_equal_the_index(minilm):
    at = run_page(model="minilm-l6", word="queen")
    fig = next(f for t, f in charts(at).items() if t.startswith("Closest"))
    index = sim.EmbeddingIndex(minilm)
    wp = sim.word_pieces(minilm, "queen")
    expected = index.nearest(sim.static_word_vector(index, wp), 10, exclude=set(wp.ids))
    np.testing.assert_allclose(array(fig["data"][0]["x"]), [s for _, s in expected], atol=1e-6)
    assert at.query_params["word"] == "queen"


def test_layer_param_shows_hidden_states_and_bad_values_warn():
    at = run_page(model="minilm-l6", layer="3")
    assert any("after layer 3 of 6" in t for t in charts(at))
    for bad in ("99", "abc", "-2"):
        at = run_page(model="minilm-l6", layer=bad)
        assert any("layer=" in w.value for w in at.warning)
        assert any("layer 0, the embeddings the first block reads" in t for t in charts(at))


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_layer_0_is_what_the_first_block_reads(model_id, request):
    """Layer 0 is hidden_states[0] on every page: for MiniLM that is LayerNorm(token + position + type rows), not
    the bare token rows; for SmolLM2 (RoPE) it is the token rows themselves."""
    import torch

    from components.state import DEFAULT_TEXT

    lm = request.getfixturevalue("smollm2" if model_id == "smollm2-135m" else "minilm")
    at = run_page(model=model_id)
    (title, fig), = [(t, f) for t, f in charts(at).items() if t.startswith("layer 0, the embeddings")]
    z = array(fig["data"][0]["z"])
    ids = lm.tokenizer(DEFAULT_TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = lm.model(input_ids=ids, output_hidden_states=True)
        rows = lm.model.get_input_embeddings()(ids)[0].numpy()
    first = out.hidden_states[0][0].numpy()  # what transformers feeds the first block
    np.testing.assert_allclose(z, first, atol=1e-5)
    if model_id == "smollm2-135m":  # RoPE: nothing is added to the rows before the first block
        np.testing.assert_allclose(first, rows, atol=1e-6)
    else:  # positions, token types and LayerNorm: layer 0 is not the bare rows
        assert np.abs(first - rows).max() > 0.1


def test_analogy_preset_and_custom_words():
    at = run_page(model="minilm-l6", a="Germany", b="Japan", c="sushi")
    text = " ".join(m.value for m in at.markdown)
    assert "bratwurst" in text and "pieces" in text  # honest: the answer is split in this vocabulary
    at = run_page(model="minilm-l6", a="**x**", b="<b>y</b>", c="$z$")
    text = " ".join(m.value for m in at.markdown)
    assert "` **x** `" in text and "` <b>y</b> `" in text  # code spans: shown literally


def test_analogy_preset_button_fills_the_three_words():
    at = run_page(model="minilm-l6", a="cat", b="dog", c="fish")
    at.button(key="preset-Germany − Japan + sushi").click().run()
    assert not at.exception
    assert [at.text_input(key=k).value for k in "abc"] == ["Germany", "Japan", "sushi"]
    assert [at.query_params[k] for k in "abc"] == ["Germany", "Japan", "sushi"]
    assert any("Germany − Japan + sushi ≈ ?" == t for t in charts(at))
    at.button(key="preset-king − man + woman").click().run()
    assert [at.text_input(key=k).value for k in "abc"] == ["king", "man", "woman"]
    assert not any(k in at.query_params for k in "abc")  # the defaults again: left out of the link


def test_bad_word_lists():
    at = run_page(words="")
    assert any("at least three words" in i.value for i in at.info)
    at = run_page(words="cat, cat, dog")
    assert any("appears twice" in c.value for c in at.caption)
    at = run_page(words=", ".join(f"word{i}" for i in range(200)))
    assert any("Only the first" in c.value for c in at.caption)


def test_empty_text_and_empty_word():
    at = run_page(text="", word="")
    assert any("Type or paste some text" in i.value for i in at.info)
    assert any("Type a word" in i.value for i in at.info)


def test_values_survive_a_visit_to_another_page():
    at = run_page(model="minilm-l6", layer="2", word="queen")
    at.switch_page("app_pages/tokens.py").run()
    assert not at.exception
    at.switch_page("app_pages/similarity.py").run()
    assert not at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="layer").value == 2 and at.text_input(key="word").value == "queen"
    assert at.text_area(key="words").value == sim.DEFAULT_GROUPS  # not the similarity page's word list


# ------------------------------------------------------------------------------------------- Chinese
def test_chinese_page_numbers_unchanged(minilm):
    at = run_page(model="minilm-l6", lang="zh", word="queen", layer="2")
    assert at.title[0].value == "嵌入：ID 变成向量"
    details = next(e for e in at.main.expander if e.label == "这个模型的细节")  # issue #25: the intro moved there
    assert any("[词元](/glossary?term=token" in m.value for m in details.markdown)
    figs = charts(at)
    fig = figs["词表全部 30,522 行中与“queen”最接近的（余弦相似度）"]
    index = sim.EmbeddingIndex(minilm)
    wp = sim.word_pieces(minilm, "queen")
    expected = index.nearest(sim.static_word_vector(index, wp), 10, exclude=set(wp.ids))
    np.testing.assert_allclose(array(fig["data"][0]["x"]), [s for _, s in expected], atol=1e-6)
    assert fig["layout"]["xaxis"]["title"]["text"] == "余弦相似度"
    assert any(t.startswith("第 2 层（共 6 层）之后的隐藏状态") for t in figs)
    assert "学习得到的位置表：前 64 个位置 × 384 维" in figs


def test_switching_language_keeps_the_page_state():
    at = run_page(model="minilm-l6", layer="3", word="paris", a="Germany", b="Japan", c="sushi")
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "嵌入：ID 变成向量"
    assert at.slider(key="layer").value == 3 and at.text_input(key="word").value == "paris"
    assert [at.text_input(key=k).value for k in "abc"] == ["Germany", "Japan", "sushi"]
    assert at.query_params["layer"] == "3" and at.query_params["word"] == "paris"
    assert any("bratwurst" in m.value and "教科书上的答案" in m.value for m in at.markdown)


def test_presentation_mode_enlarges_every_figure():
    import json

    from components.present import FIGURE_FONT

    at = run_page(model="minilm-l6", present="1")
    sizes = [json.loads(c.proto.spec)["layout"]["font"]["size"] for c in at.get("plotly_chart")]
    assert len(sizes) == 7 and set(sizes) == {FIGURE_FONT}
    at = run_page(model="minilm-l6")
    assert FIGURE_FONT not in {json.loads(c.proto.spec)["layout"]["font"]["size"] for c in at.get("plotly_chart")}


# ------------------------------------------------------------------- word order: with and without positions
@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_order_section_draws_both_curves_and_its_caption_says_what_they_show(model_id, request):
    from components.order_text import CLOSE
    from components.presets import TIM
    from tests.app.order_reference import order_reference

    lm = request.getfixturevalue({"smollm2-135m": "smollm2", "minilm-l6": "minilm"}[model_id])
    at = run_page(model=model_id, text=TIM)  # the section compares the sidebar's text with its reversal
    fig = charts(at)["The same words in reverse order, layer by layer"]
    with_pos, without = fig["data"]
    assert with_pos["name"] == "with positions (the model as it is)" and without["name"].startswith("without positions")
    ref_on, ref_off, shared = order_reference(lm, TIM)
    np.testing.assert_allclose(array(with_pos["y"]), ref_on, atol=1e-5)
    np.testing.assert_allclose(array(without["y"]), ref_off, atol=1e-5)
    caption = next(c.value for c in at.caption if c.value.startswith("` Tim chased"))
    text = " ".join([caption] + [m.value for m in at.markdown])
    for gone in ("only through the rotations", "more and more with depth", "Attention by itself ignores order"):
        assert gone not in text
    lo = int(np.argmin(ref_on))
    assert f"lowest, {ref_on[lo]:.3f}, after" in caption and (f"after layer {lo}" in caption or lo == len(ref_on) - 1)
    if model_id == "smollm2-135m":
        assert "causal mask" in text and "RoPE" in text  # the decoder's two sources of order
        assert ref_on[0] == pytest.approx(1.0, abs=1e-6) and "At layer 0 the cosine is 1.0000:" in caption
        assert "not the same bag of tokens" in caption and "` Tim ` ` ␣life ` only in the first" in caption
        assert "the causal mask gives each token a different prefix (here the two texts also differ in 2 tokens)" \
            in caption
        # the mask-only and mask+RoPE curves barely differ at first: the caption says up to which layer
        close = next(l for l in range(1, len(ref_on)) if abs(ref_on[l] - ref_off[l]) >= CLOSE) - 1
        assert close >= 5 and f"Up to layer {close} the two curves differ by less than {CLOSE}" in caption
        assert "every position id set to 0" in without["name"]
    else:
        assert "without position information, the same tokens in another order would get exactly the same" in text
        assert ref_on[0] < 0.99 and f"At layer 0 the cosine is already {ref_on[0]:.4f}, not 1" in caption
        np.testing.assert_allclose(ref_off, 1.0, atol=1e-5)
        assert "stays at 1 at every layer" in caption and "exactly the same bag of tokens" in caption
        assert f"then rises again to {ref_on[-1]:.3f}" in caption  # not monotonic: said so, with the number
    assert f"Compared: {len(shared)} of the 6 words" in caption


def test_rope_demo_keys_are_before_the_query():
    at = run_page(model="smollm2-135m")
    fig = charts(at)["q·k after rotation depends only on how far back the key is"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "distance d: the key at n = m − d, before the query at m"
    assert all(min(array(t["x"])) >= 0 for t in fig["data"])
    starts = [int(t["name"].removeprefix("query at position ")) for t in fig["data"]]
    assert min(starts) >= max(array(fig["data"][0]["x"]))  # every key position m − d exists
    caption = " ".join(c.value for c in at.caption)
    assert "relative, not absolute" not in caption and "Only this rotation term is relative" in caption


def test_layer0_caption_is_measured_on_a_repeated_token(minilm, smollm2):
    """Section 1's caption: the same token at two positions, its cosine at layer 0 (hidden_states[0]): exactly 1
    for SmolLM2 (RoPE adds nothing to the row), below 1 for MiniLM (position vector + LayerNorm)."""
    import torch

    text = "I saw a cat and a dog"
    for lm in (minilm, smollm2):
        at = run_page(model=lm.spec.id, text=text, layer="0")
        enc = lm.tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            h0 = lm.model(**enc, output_hidden_states=True).hidden_states[0][0].double().numpy()
        ids = enc.input_ids[0].tolist()
        a = lm.tokenizer.convert_tokens_to_ids("Ġa" if lm.spec.id == "smollm2-135m" else "a")
        i = ids.index(a)
        j = ids.index(a, i + 1)
        cos = float(h0[i] @ h0[j] / np.linalg.norm(h0[i]) / np.linalg.norm(h0[j]))
        if lm.facts.positions == "rope":
            assert cos == pytest.approx(1.0, abs=1e-12)
            assert any("Layer 0 rows are identical for the same token" in c.value for c in at.caption)
        else:
            assert cos < 0.999
            assert any("a position vector is in it" in c.value for c in at.caption)
        assert any(f"appears at positions {i} and {j}: cosine {cos:.4f} at layer 0" in c.value for c in at.caption)
