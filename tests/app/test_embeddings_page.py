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
    for part in ("token embeddings (static)", "Closest of all", "king − man + woman", "projected from",
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
        assert any("token embeddings (static)" in t for t in charts(at))


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
    assert "[词元](/glossary?term=token" in at.markdown[0].value
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
