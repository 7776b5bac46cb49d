"""AppTest of /similarity through the real app.py: both models, bad params, and every number shown equal to
what models/similarity.py computes from an independent model run."""
from __future__ import annotations

import html
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models import similarity as sim
from models.loading import bundled_path
from models.trace import compute_trace
from tests.app import helpers
from tests.app.helpers import APP, array, charts

PAGE = "app_pages/similarity.py"
WORDS = ["cat", "dog", "car", "banana", "king", "queen"]
PARTY = ["students celebrate the graduation with a big party", "the deputy leader is highly respected in the party"]


def run_page(**params: str) -> AppTest:
    return helpers.run_page(PAGE, **params)


def chart(at: AppTest, starts: str) -> dict:
    found = [f for t, f in charts(at).items() if t.startswith(starts)]
    assert len(found) == 1, (starts, list(charts(at)))
    return found[0]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def index_of(lm):
    return sim.EmbeddingIndex(lm)


# ------------------------------------------------------------------------------------ default view
@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_default_view_numbers_equal_the_models_maths(model_id, request):
    lm = request.getfixturevalue({"smollm2-135m": "smollm2", "minilm-l6": "minilm"}[model_id])
    at = run_page(model=model_id)
    assert not at.warning

    # 1. static word matrix
    fig = chart(at, "Cosine similarity (static")
    hm = fig["data"][0]
    assert [html.unescape(x) for x in hm["x"]] == WORDS and hm["zmin"] == -1 and hm["zmax"] == 1
    index = index_of(lm)
    X = np.stack([sim.static_word_vector(index, sim.word_pieces(lm, w)) for w in WORDS])
    np.testing.assert_allclose(array(hm["z"]), sim.cosine_matrix(X), atol=1e-9)
    assert hm["text"][0][1] == format(sim.cosine_matrix(X)[0, 1], ".2f")  # the value printed in the cell

    # 2. sentences: the model's recipe (MiniLM) / mean of the last layer (SmolLM2); [CLS] only for the encoder
    sentences, _ = sim.parse_sentences(at.text_area(key="sim_sentences").value)
    assert len(sentences) == 3
    traces = [compute_trace(lm, s) for s in sentences]
    if model_id == "minilm-l6":
        recipe = sim.sentence_recipe(bundled_path(lm.spec))
        S = np.stack([sim.recipe_vector(t, recipe) for t in traces])
        np.testing.assert_allclose(array(chart(at, "Sentence cosine (mean pooling, L2")["data"][0]["z"]),
                                   sim.cosine_matrix(S), atol=1e-6)
        C = np.stack([t.hidden_states[-1][0] for t in traces])
        np.testing.assert_allclose(array(chart(at, "Sentence cosine ([CLS]")["data"][0]["z"]),
                                   sim.cosine_matrix(C), atol=1e-6)
        cap = texts(at.caption)
        assert "1_Pooling/config.json" in cap and "L2-normalises" in cap and "changes no cosine" in cap
        SM = sim.cosine_matrix(S)
        assert SM[0, 1] > 0.5 > SM[0, 2]  # the paraphrases are close, the unrelated sentence is not
    else:
        S = np.stack([t.hidden_states[-1].mean(0) for t in traces])
        np.testing.assert_allclose(array(chart(at, "Sentence cosine (mean of the last layer")["data"][0]["z"]),
                                   sim.cosine_matrix(S), atol=1e-6)
        assert not [t for t in charts(at) if "[CLS]" in t]
        assert "causal mask" in texts(at.caption)

    # 3. "party" in two contexts
    fig = chart(at, "The word's vectors in different sentences")
    line, diamond = fig["data"]
    t1, t2 = (compute_trace(lm, s) for s in PARTY)
    expected = sim.layer_cosines(sim.hidden_for_span(t1, *sim.find_word(PARTY[0], "party")),
                                 sim.hidden_for_span(t2, *sim.find_word(PARTY[1], "party")))
    np.testing.assert_allclose(array(line["y"]), expected, atol=1e-6)
    assert len(array(line["y"])) == lm.facts.n_layers + 1
    assert array(diamond["y"]).tolist() == [1.0] and array(diamond["x"]).tolist() == [0]
    assert fig["layout"]["xaxis"]["title"]["text"] == "layer (0 = embeddings)"
    md = texts(at.markdown)
    if model_id == "smollm2-135m":
        assert expected[0] == 1.0 and "adds no position vector" in md and "exactly those rows: cosine 1.0000" in md
    else:
        assert expected[0] < 1.0 and "LayerNorm(token row + position row + token-type row)" in md
        assert f"At layer 0 the cosine is {expected[0]:.4f}, not the diamond's 1.0000" in md
    # what the curve does, from its numbers (not "drift apart layer by layer": the curves are not monotonic)
    lo = int(np.argmin(expected))
    assert f"{expected[lo]:.3f}" in md and "drift apart" not in md
    if lo < len(expected) - 1:
        assert f"after layer {lo}, then rises again to {expected[-1]:.3f}" in md

    # 4. the pair table: cat and dog
    table = at.dataframe[0].value
    d = sim.distances(X[0], X[1])
    row = dict(zip(table["measure"], table["these vectors"]))
    assert row["cosine"] == pytest.approx(d["cosine"], abs=1e-9)
    assert row["dot product"] == pytest.approx(d["dot"], rel=1e-6)
    assert row["Euclidean distance"] == pytest.approx(d["euclidean"], rel=1e-6)
    unit = dict(zip(table["measure"], table["scaled to length 1"]))
    assert unit["dot product"] == pytest.approx(d["cosine"], abs=1e-9)
    assert unit["Euclidean distance"] == pytest.approx(np.sqrt(2 - 2 * d["cosine"]), abs=1e-9)

    # defaults stay out of the link
    assert not {"words", "vectors", "layer", "a", "b", "sentences", "target", "contexts"} & set(at.query_params)


def test_contextual_layer_from_the_link(minilm):
    at = run_page(model="minilm-l6", vectors="contextual", layer="3", words="cat, dog, bratwurst")
    fig = chart(at, "Cosine similarity (contextual, after layer 3 of 6)")
    traces = [compute_trace(minilm, w) for w in ("cat", "dog", "bratwurst")]
    V = np.stack([t.hidden_states[3][~t.special].mean(0) for t in traces])  # [CLS]/[SEP] left out
    np.testing.assert_allclose(array(fig["data"][0]["z"]), sim.cosine_matrix(V), atol=1e-6)
    assert at.slider(key="sim_layer").value == 3 and not at.slider(key="sim_layer").disabled
    cap = texts(at.caption)
    assert "run **alone**" in cap and "`[CLS]` … `[SEP]`" in cap
    assert "` bratwurst ` → ` brat ##wu ##rst `" in texts(at.markdown)
    assert at.query_params["layer"] == "3" and at.query_params["vectors"] == "contextual"


def test_contextual_decoder_explains_the_first_position(smollm2):
    at = run_page(vectors="contextual", layer="15")
    fig = chart(at, "Cosine similarity (contextual, after layer 15 of 30)")
    traces = [compute_trace(smollm2, " " + w) for w in WORDS]
    V = np.stack([t.hidden_states[15].mean(0) for t in traces])
    np.testing.assert_allclose(array(fig["data"][0]["z"]), sim.cosine_matrix(V), atol=1e-6)
    md = texts(at.markdown)
    assert "attention sink" in md
    share = np.mean([sim.top_share(v)[0] for v in V])
    assert f"**{share:.0%}**" in md


def test_widgets_write_back_and_change_the_view():
    at = run_page(model="minilm-l6")
    at.radio(key="sim_vectors").set_value("contextual").run()
    at.slider(key="sim_layer").set_value(2).run()
    at.text_input(key="sim_words").input("king, queen, man, woman").run()
    assert not at.exception
    assert at.query_params["vectors"] == "contextual" and at.query_params["layer"] == "2"
    assert at.query_params["words"] == "king, queen, man, woman"
    assert "Cosine similarity (contextual, after layer 2 of 6)" in charts(at)
    at.selectbox(key="sim_b").set_value("woman").run()
    assert at.query_params["b"] == "woman" and "a" not in at.query_params  # "a" is still the first word
    row = dict(zip(at.dataframe[0].value["measure"], at.dataframe[0].value["these vectors"]))
    assert 0 < row["length of the first"] and "` king ` and ` woman `" in texts(at.caption)


def test_pair_from_the_link():
    at = run_page(a="queen", b="car")
    assert at.selectbox(key="sim_a").value == "queen" and at.selectbox(key="sim_b").value == "car"
    at = run_page(a="not in the list", b="car")  # falls back to the first word
    assert at.selectbox(key="sim_a").value == "cat"


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", ["999", "abc", "-1", "2.5", ""])
def test_bad_layer_warns_and_uses_the_default(bad):
    at = run_page(layer=bad, vectors="contextual")
    assert any("layer=" in w.value and "was not used" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.slider(key="sim_layer").value == 30
    assert "Cosine similarity (contextual, after layer 30 of 30)" in charts(at)


def test_layer_beyond_the_encoder_is_rejected():
    at = run_page(model="minilm-l6", layer="7", vectors="contextual")
    assert any("between 0 and 6" in w.value for w in at.warning)
    assert at.slider(key="sim_layer").value == 6


def test_bad_vectors_value_warns():
    at = run_page(vectors="<b>x</b>")
    assert any("vectors=` <b>x</b> `" in w.value for w in at.warning)  # quoted literally (code span)
    assert at.radio(key="sim_vectors").value == "static"


def test_empty_word_list_gives_a_prompt():
    at = run_page(words="")
    assert any("Type some words" in i.value for i in at.info)
    assert not [t for t in charts(at) if t.startswith("Cosine similarity")]
    assert at.query_params["words"] == ""  # the link keeps the empty list


def test_one_word_needs_a_second():
    at = run_page(words="cat")
    assert any("at least two words" in i.value for i in at.info)
    assert not [t for t in charts(at) if t.startswith("Cosine similarity")]


def test_duplicates_are_noted():
    at = run_page(words="cat, dog, Cat, cat")
    assert sum("appears twice" in c.value for c in at.caption) == 2
    assert len(chart(at, "Cosine similarity")["data"][0]["x"]) == 2
    at = run_page(words="cat, " + "x" * 100)
    assert any(f"` {'x' * sim.MAX_WORD_CHARS}… ` is longer than" in c.value for c in at.caption)


def test_two_hundred_words_are_capped():
    at = run_page(words=", ".join(f"word{i}" for i in range(200)))
    assert any(f"first {sim.MAX_WORDS} of 200" in c.value for c in at.caption)
    assert len(chart(at, "Cosine similarity")["data"][0]["x"]) == sim.MAX_WORDS
    at = run_page(words=", ".join(f"word{i}" for i in range(40)), vectors="contextual", layer="1")
    assert any("one run of the model per word" in c.value for c in at.caption)


def test_unknown_and_special_words_are_explained(minilm):
    at = run_page(model="minilm-l6", words="cat, 😀, 🙂, [SEP]")
    assert any("Not in the vocabulary" in w.value and "[UNK]" in w.value for w in at.warning)
    assert any("special token" in c.value and "left out" in c.value for c in at.caption)
    z = array(chart(at, "Cosine similarity")["data"][0]["z"])
    assert z.shape == (3, 3) and z[1, 2] == pytest.approx(1.0)  # two unknown words share the [UNK] row


def test_user_text_is_escaped_in_labels_and_captions():
    payload = "<img src=x onerror=alert(1)>"
    at = run_page(words=f"{payload}, **cat**", sentences=f"{payload}|[x](javascript:alert(1))",
                  target="<b>", contexts="a <b> party|the <b> again")
    hm = chart(at, "Cosine similarity")["data"][0]
    assert "&lt;img" in hm["x"][0] and "<img" not in "".join(hm["x"] + hm["y"])
    for f in charts(at).values():
        assert "<img" not in str(f["data"]) and "<b>" not in str(f["data"])
    md = texts(at.markdown) + texts(at.caption) + texts(at.warning) + texts(at.info)
    outside_code = re.sub(r"(`+) .*? \1", "", md, flags=re.S)  # user text only ever inside code spans
    assert "<img" not in outside_code and "<b>" not in outside_code and "](javascript" not in outside_code
    assert f"` {payload} `" in md


def test_target_missing_from_a_sentence():
    at = run_page(target="zebra")
    msgs = [w.value for w in at.warning]
    assert any("not in sentence 1" in m and "graduation" in m for m in msgs)
    assert any("not in sentence 2" in m for m in msgs)
    assert any("at least two of the sentences" in i.value for i in at.info)
    at = run_page(contexts="a big party|no such word here|the party is over")
    assert any("not in sentence 2" in w.value for w in at.warning)
    fig = chart(at, "The word's vectors in different sentences")
    lines = [html.unescape(t["name"]) for t in fig["data"] if t["mode"] == "lines+markers"]
    assert lines == ["sentence 1 vs sentence 3"]


def test_sentence_lists():
    at = run_page(sentences="only one sentence")
    assert any("at least two sentences" in i.value for i in at.info)
    at = run_page(model="minilm-l6", sentences="a cat sat|a dog sat|a cat sat")
    assert any("appears twice" in c.value for c in at.caption)
    assert len(chart(at, "Sentence cosine (mean")["data"][0]["x"]) == 2
    at = run_page(sentences="|".join(f"sentence number {i}" for i in range(15)))
    assert any(f"first {sim.MAX_SENTENCES} of 15" in c.value for c in at.caption)


def test_values_survive_a_visit_to_another_page_and_do_not_leak():
    at = run_page(model="minilm-l6")
    at.text_input(key="sim_words").input("sun, moon").run()
    at.switch_page("app_pages/tokens.py")
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.text_input(key="sim_words").value == "sun, moon"
    # /embeddings has its own `words` (groups); it must not show up here
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page("app_pages/embeddings.py")
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.text_input(key="sim_words").value == "cat, dog, car, banana, king, queen"


ODD = {
    "words": ["cat, \u200b, dog", ",,, ,", "a\x00b, c\x07d", "\u202eRTL\u202c, 👩‍👩‍👧, 中文", "[CLS], [SEP], [MASK]",
              "<|im_start|>, <|endoftext|>, cat"],
    "sentences": ["\u200b|a cat|a dog", "|||", "[SEP]|[CLS]", "x" * 4000 + "|y"],
    "target": ["", "   ", "(", "a.b", "\u200b"],
    "contexts": ["\u200b|a party|party on", "party", "party|party|party"],
}


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
@pytest.mark.parametrize("param, value", [(p, v) for p, vs in ODD.items() for v in vs])
def test_odd_input_never_raises(model_id, param, value):
    extra = {"vectors": "contextual", "layer": "1"} if param == "words" else {}
    run_page(model=model_id, **{param: value}, **extra)  # run_page asserts: no exception


# ------------------------------------------------------------------------------------------ Chinese
def test_chinese_page_shows_the_same_numbers_in_chinese():
    en, zh = run_page(model="minilm-l6"), run_page(model="minilm-l6", lang="zh")
    assert zh.title[0].value == "相似度：比较向量" and zh.query_params["lang"] == "zh"
    assert zh.header[0].value == "1. 词：余弦相似度矩阵"
    assert any("[余弦相似度](/glossary?term=cosine" in m.value for m in zh.markdown)  # glossary link, zh label
    # the figures: translated titles and axes, the very same numbers
    for en_title, zh_title in [
        ("Cosine similarity (static input embeddings)", "余弦相似度（静态输入嵌入）"),
        ("Sentence cosine (mean pooling, L2-normalised)", "句子余弦相似度（mean 池化，L2 归一化）"),
        ("Sentence cosine ([CLS] vector of the last layer)", "句子余弦相似度（最后一层的 [CLS] 向量）"),
    ]:
        np.testing.assert_array_equal(array(chart(zh, zh_title)["data"][0]["z"]),
                                      array(chart(en, en_title)["data"][0]["z"]))
    assert "余弦相似度 %{z:.5f}" in chart(zh, "余弦相似度（静态")["data"][0]["hovertemplate"]
    drift = chart(zh, "同一个词在不同句子中的向量")
    assert drift["layout"]["xaxis"]["title"]["text"] == "层（0 = 嵌入）"
    assert [html.unescape(t["name"]) for t in drift["data"]][0] == "第 1 句 vs 第 2 句"
    # the pair table: Chinese headers and measures, the same values
    t_en, t_zh = en.dataframe[0].value, zh.dataframe[0].value
    assert list(t_zh.columns) == ["度量", "公式", "原始向量", "缩放到长度 1 后"]
    assert list(t_zh["度量"]) == ["余弦相似度", "点积", "欧氏距离", "第一个向量的长度", "第二个向量的长度"]
    np.testing.assert_array_equal(t_zh["原始向量"], t_en["these vectors"])
    np.testing.assert_array_equal(t_zh["缩放到长度 1 后"], t_en["scaled to length 1"])
    # widgets: translated labels and option texts, language-independent values
    radio = zh.radio(key="sim_vectors")
    assert radio.label == "向量" and radio.options == ["静态：输入嵌入矩阵的行", "上下文相关：某一层之后"]
    assert radio.value == "static" and zh.text_input(key="sim_words").label == "词（用逗号分隔）"
    shown = texts(zh.markdown) + texts(zh.caption) + texts(zh.info) + texts(zh.warning)
    assert "sentence-transformers 模型" in shown and "Cosine" not in shown and "sentence vector" not in shown


def test_chinese_notices_quote_the_user_text_literally():
    at = run_page(lang="zh", words="cat, dog, Cat, **x**, " + "y" * 60, target="zebra")
    caps = [c.value for c in at.caption]
    assert "` Cat ` 出现了两次，只显示一次。" in caps
    m = sim.MAX_WORD_CHARS
    assert f"` {'y' * m}… ` 超过 {m} 个字符，只使用前 {m} 个。" in caps
    assert any(w.value.startswith("第 1 句中没有作为完整单词出现的 ` zebra `") for w in at.warning)
    assert any("至少要出现在两个句子中" in i.value for i in at.info)
    assert "**x**" not in re.sub(r"(`+) .*? \1", "", texts(at.markdown) + "\n".join(caps))


def test_notice_is_english_text_and_translated_only_when_shown():
    _, notes = sim.parse_words("cat, Cat")
    n = notes[0]
    assert n == "'Cat' appears twice; it is shown once."
    assert n.template == "{word} appears twice; it is shown once."
    assert n.markdown(html.escape) == "Cat appears twice; it is shown once."
    import i18n
    before = i18n._language_getter
    i18n.use_language_getter(lambda: "zh")
    try:
        assert n.markdown(lambda s: f"<{s}>") == "<Cat> 出现了两次，只显示一次。"
        assert n == "'Cat' appears twice; it is shown once."  # the object itself holds no translated text
    finally:
        i18n.use_language_getter(before)


def test_switching_language_keeps_the_similarity_state():
    at = run_page(model="minilm-l6", vectors="contextual", layer="2")
    at.text_input(key="sim_words").input("king, queen, man, woman").run()
    at.selectbox(key="sim_b").set_value("woman").run()
    at.text_input(key="sim_target").input("queen").run()
    # what the sidebar's language switch does (en -> zh: AppTest formats option labels outside the session)
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "相似度：比较向量"
    assert at.radio(key="sim_vectors").value == "contextual" and at.slider(key="sim_layer").value == 2
    assert at.text_input(key="sim_words").value == "king, queen, man, woman"
    assert at.selectbox(key="sim_a").value == "king" and at.selectbox(key="sim_b").value == "woman"
    assert at.text_input(key="sim_target").value == "queen"
    assert "余弦相似度（上下文向量，第 2 层之后，共 6 层）" in charts(at)
    assert at.query_params["lang"] == "zh" and at.query_params["layer"] == "2"
    assert at.query_params["b"] == "woman"
    assert at.query_params["words"] == "king, queen, man, woman" and at.query_params["target"] == "queen"
