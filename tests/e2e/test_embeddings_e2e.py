"""/embeddings in real Chromium: every figure draws, nothing leaves localhost, user text stays literal."""
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

# vectors, neighbours, analogy, PCA, positions (RoPE: frequencies + relative demo; learned: the table),
# sine/cosine for comparison, word order
N_FIGURES = {"smollm2-135m": 8, "minilm-l6": 7}


@pytest.mark.parametrize("model_id, canonical", [("smollm2-135m", "embeddings"), ("minilm-l6", None)])
def test_embeddings_page_draws_every_figure(app, model_id, canonical):
    pg = app.open("/embeddings", model=model_id)
    expect(pg.locator(".js-plotly-plot")).to_have_count(N_FIGURES[model_id], timeout=90_000)
    app.wait_idle()
    assert app.exceptions().count() == 0
    # plotly really drew: the heatmap has an image layer and the neighbour bars are there
    assert pg.locator(".js-plotly-plot .hm, .js-plotly-plot image").count() >= 1
    expect(pg.locator(".js-plotly-plot").nth(1)).to_contain_text("queen")  # nearest neighbours of "king"
    app.screenshot(f"embeddings-{model_id}", canonical)


def test_layer_slider_moves_to_contextual_vectors(app):
    pg = app.open("/embeddings", model="minilm-l6", layer="2")
    expect(pg.locator(".js-plotly-plot").first).to_contain_text("after layer 2 of 6", timeout=90_000)
    assert app.query()["layer"] == ["2"]


def test_each_section_reruns_alone_and_keeps_the_link(app):
    """The layer slider, the word box and the analogy presets rerun their own section (a fragment): the figure
    changes, the URL follows, the other sections keep what they showed."""
    pg = app.open("/embeddings", model="minilm-l6")
    plots = pg.locator(".js-plotly-plot")
    expect(plots).to_have_count(N_FIGURES["minilm-l6"], timeout=90_000)
    app.wait_idle()
    thumb = app.slider("Layer")
    thumb.focus()
    thumb.press("ArrowRight")
    expect(plots.first).to_contain_text("after layer 1 of 6", timeout=30_000)
    app.wait_for_query(layer="1")
    box = pg.locator('[data-testid="stTextInput"]').filter(has_text="Word").locator("input")
    box.fill("paris")
    box.press("Enter")
    expect(plots.nth(1)).to_contain_text("'paris'", timeout=30_000)
    app.wait_for_query(layer="1", word="paris")
    pg.get_by_role("button", name="Germany − Japan + sushi").click()
    expect(plots.nth(2)).to_contain_text("Germany − Japan + sushi", timeout=30_000)
    app.wait_for_query(layer="1", word="paris", a="Germany", b="Japan", c="sushi")
    app.wait_idle()
    expect(plots.first).to_contain_text("after layer 1 of 6")
    expect(plots).to_have_count(N_FIGURES["minilm-l6"])
    assert app.exceptions().count() == 0


def test_words_in_analogy_are_literal(app, browser_log):
    pg = app.open("/embeddings", model="minilm-l6", a="<img src=x onerror=alert(1)>", b="man", c="**woman**")
    expect(pg.locator(".js-plotly-plot")).to_have_count(N_FIGURES["minilm-l6"], timeout=90_000)
    app.wait_idle()
    assert pg.locator("img[src=x]").count() == 0
    expect(pg.locator('[data-testid="stMain"]')).to_contain_text("**woman**")
    assert not browser_log.dialogs


def test_embeddings_page_in_chinese(app):
    pg = app.open("/embeddings", model="minilm-l6", lang="zh", layer="2")
    expect(pg.locator(".js-plotly-plot")).to_have_count(N_FIGURES["minilm-l6"], timeout=90_000)
    app.wait_idle()
    expect(pg.locator("h1")).to_contain_text("嵌入：ID 变成向量")
    expect(pg.locator(".js-plotly-plot").first).to_contain_text("第 2 层（共 6 层）之后的隐藏状态")
    expect(pg.locator(".js-plotly-plot").nth(1)).to_contain_text("queen")  # the words stay the model's words
    assert app.exceptions().count() == 0 and app.query()["lang"] == ["zh"]
    app.screenshot("embeddings-zh")


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_word_order_section_draws_two_curves(app, model_id):
    """The positions section: the text against its reversal with the model's positions and without them."""
    pg = app.open("/embeddings", model=model_id)
    expect(pg.locator(".js-plotly-plot")).to_have_count(N_FIGURES[model_id], timeout=90_000)
    app.wait_idle()
    plot = pg.locator(".js-plotly-plot").filter(has_text="The same words in reverse order")
    expect(plot).to_have_count(1)
    plot.scroll_into_view_if_needed()
    expect(plot.locator(".scatterlayer .trace")).to_have_count(2)  # two curves drawn by plotly
    expect(plot).to_contain_text("with positions (the model as it is)")
    expect(plot).to_contain_text("without positions")
    assert app.exceptions().count() == 0
