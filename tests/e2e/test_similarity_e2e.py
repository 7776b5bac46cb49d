"""/similarity in real Chromium: every figure draws, nothing leaves localhost, user text stays literal."""
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

# word matrix, sentence matrix (+ [CLS] matrix for the encoder), one word in two contexts
N_FIGURES = {"smollm2-135m": 3, "minilm-l6": 4}


@pytest.mark.parametrize("model_id, canonical", [("smollm2-135m", "similarity"), ("minilm-l6", None)])
def test_similarity_page_draws_every_figure(app, model_id, canonical):
    pg = app.open("/similarity", model=model_id)
    expect(pg.locator(".js-plotly-plot")).to_have_count(N_FIGURES[model_id], timeout=90_000)
    app.wait_idle()
    assert app.exceptions().count() == 0
    words = pg.locator(".js-plotly-plot").first
    expect(words).to_contain_text("queen")  # the heatmap's axis labels are drawn
    assert words.locator(".hm, image").count() >= 1  # and its cells
    expect(pg.locator(".js-plotly-plot").last).to_contain_text("layer (0 = embeddings)")
    expect(pg.locator('[data-testid="stDataFrame"]')).to_have_count(1)  # cosine / dot / distance table
    app.screenshot(f"similarity-{model_id}", canonical)


def test_xss_in_words_is_drawn_literally(app, browser_log):
    payload = "<img src=x onerror=alert(1)>"
    pg = app.open("/similarity", words=f"{payload},cat", target="<svg onload=alert(1)>")
    # the target is in no sentence: no drift chart, a warning that quotes it literally
    expect(pg.locator(".js-plotly-plot")).to_have_count(2, timeout=90_000)
    app.wait_idle()
    expect(pg.locator(".js-plotly-plot").first).to_contain_text(payload)  # shown as text in the axis label
    expect(app.alerts().filter(has_text="<svg onload=alert(1)>")).to_have_count(2)
    assert pg.locator("img[src=x], img[onerror], svg[onload]").count() == 0
    assert browser_log.dialogs == []
    assert app.exceptions().count() == 0


def test_switching_to_contextual_writes_the_link(app):
    pg = app.open("/similarity", model="minilm-l6", layer="2")
    expect(pg.locator(".js-plotly-plot")).to_have_count(4, timeout=90_000)
    app.wait_idle()
    pg.get_by_text("contextual: after a layer").click()
    expect(pg).to_have_url(re.compile(r"[?&]vectors=contextual(&|$)"))
    expect(pg.locator(".js-plotly-plot").first).to_contain_text("after layer 2 of 6", timeout=60_000)
    assert app.query()["layer"] == ["2"]
    assert app.exceptions().count() == 0


def test_bad_layer_in_link_warns(app):
    pg = app.open("/similarity", layer="999")
    expect(app.alerts().filter(has_text="layer=")).to_have_count(1, timeout=90_000)
    expect(pg.locator(".js-plotly-plot")).to_have_count(3, timeout=90_000)
    assert app.exceptions().count() == 0


def test_embeddings_words_do_not_leak_into_similarity(app):
    """Both pages have a `words` parameter with different formats; navigating keeps them apart."""
    pg = app.open("/embeddings", words="fruit: apple, pear, plum")
    expect(pg.locator(".js-plotly-plot").first).to_be_visible(timeout=90_000)
    app.wait_idle()  # a click on the navigation while the page still runs may be dropped
    pg.locator('[data-testid="stSidebarNav"] a', has_text="Similarity").click()
    expect(pg).to_have_url(re.compile(r"/similarity(\?|$)"))
    expect(pg.locator(".js-plotly-plot")).to_have_count(3, timeout=90_000)
    app.wait_idle()
    box = pg.locator('[data-testid="stTextInput"] input').first
    expect(box).to_have_value("cat, dog, car, banana, king, queen")
    assert "words" not in app.query()
    assert app.exceptions().count() == 0


def test_chinese_page_draws_in_chinese_and_keeps_the_view_on_switch(app):
    pg = app.open("/similarity", lang="zh", model="minilm-l6", vectors="contextual", layer="2")
    expect(pg.locator(".js-plotly-plot")).to_have_count(4, timeout=90_000)
    app.wait_idle()
    expect(pg.locator("h1").first).to_contain_text("相似度：比较向量")
    expect(pg.locator(".js-plotly-plot").first).to_contain_text("余弦相似度（上下文向量，第 2 层之后，共 6 层）")
    from i18n import translations

    # the layer-by-layer chart's axis, in the catalogue's words (layer 0 is the embeddings)
    expect(pg.locator(".js-plotly-plot").last).to_contain_text(translations("zh").gettext("layer (0 = embeddings)"))
    main = pg.locator('[data-testid="stMain"]')
    expect(main.get_by_role("link", name="余弦相似度", include_hidden=True).first).to_have_attribute(  # may be in "details"
        "href", re.compile(r"term=cosine"))
    assert app.exceptions().count() == 0
    app.screenshot("similarity-zh")
    pg.locator('[data-testid="stSidebar"]').get_by_text("English", exact=True).click()  # the language switch
    expect(pg.locator("h1").first).to_contain_text("Similarity: comparing vectors", timeout=60_000)
    expect(pg.locator(".js-plotly-plot").first).to_contain_text("after layer 2 of 6", timeout=60_000)
    assert app.query().get("lang", ["en"]) == ["en"]
    assert app.query()["layer"] == ["2"] and app.query()["vectors"] == ["contextual"]
    assert app.exceptions().count() == 0
