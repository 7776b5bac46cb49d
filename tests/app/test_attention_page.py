"""AppTest of /attention through the real app.py: every view, both models, bad params; the numbers the page
sends are the model's attention (compared with a Trace computed here, and with transformers via that Trace).

Layers and heads on the page, in its URL and its labels are numbered from 1 (layer 0 is the embeddings): layer
l, head h is ``trace.attentions[l - 1, h - 1]``. The tests index the trace with those literal offsets (not
with the app's own helper)."""
from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.trace import compute_trace
from tests.app import helpers
from tests.app.helpers import array, charts

PAGE = "app_pages/attention.py"
TEXT = "students celebrate the graduation with a big party"
VIEWS = ("heatmap", "heads", "summary", "qk", "bertviz-head", "bertviz-model")


def run_page(**params: str) -> AppTest:
    return helpers.run_page(PAGE, **params)


def redraw_figures(at: AppTest) -> dict[str, dict]:
    """Title -> the figure the heatmap component (components/attention_redraw.py) draws first, rebuilt from
    what the page sends it: the figure template, and the weights of the selected head from its float32 bytes."""
    out = {}
    for el in at.get("component_instance"):
        if not el.proto.component_name.endswith(".attention_heatmap"):
            continue
        args = json.loads(el.proto.json_args)
        raw = {s.key: s.bytes for s in el.proto.special_args}
        (layer, head), T = args["selection"], args["n_tokens"]
        a = np.frombuffer(raw["data"], "<f4").reshape(len(args["pairs"]), T, T)
        w = a[args["pairs"].index([layer, head])]
        fig = args["figure"]
        fig["data"][0]["z"] = w
        if "mask" in raw:
            mask = np.frombuffer(raw["mask"], np.uint8).reshape(T, T).astype(bool)
            fig["data"][0]["z"] = np.where(mask, np.float32(np.nan), w)
            fig["data"][1]["z"] = np.where(mask, 1.0, np.nan)
        # the component's selection is 0-based; the browser writes index + 1 into the title (redraw.js shown())
        title = html.unescape(args["title"]).replace("{layer}", str(layer + 1)).replace("{head}", str(head + 1))
        fig["layout"]["title"]["text"] = html.escape(title)
        out[title] = fig | {"args": args}
    return out


def figures(at: AppTest) -> dict[str, dict]:
    return charts(at) | redraw_figures(at)


def chart(at: AppTest, prefix: str) -> dict:
    return next(f for t, f in figures(at).items() if t.startswith(prefix))


@pytest.fixture(scope="module")
def traces(smollm2, minilm):
    return {"smollm2-135m": compute_trace(smollm2, TEXT), "minilm-l6": compute_trace(minilm, TEXT)}


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
@pytest.mark.parametrize("view", VIEWS)
def test_every_view_renders(model_id, view):
    at = run_page(model=model_id, view=view)
    assert not at.warning, [w.value for w in at.warning]
    assert at.query_params.get("view", "heatmap") == view
    if view.startswith("bertviz"):
        frames = at.get("iframe")
        assert frames and "require" in frames[0].proto.srcdoc
    else:
        assert figures(at)


@pytest.mark.parametrize("model_id,layer,head", [("smollm2-135m", 4, 6), ("minilm-l6", 6, 12), ("minilm-l6", 1, 1)])
def test_heatmap_is_the_traced_head(model_id, layer, head, traces):
    at = run_page(model=model_id, layer=str(layer), head=str(head))
    fig = chart(at, f"Attention weights · layer {layer}, head {head}")
    z = array(fig["data"][0]["z"])
    expected = traces[model_id].attentions[layer - 1, head - 1]
    if model_id == "smollm2-135m":  # decoder: the future is masked, drawn in its own grey layer
        future = np.triu(np.ones_like(expected, dtype=bool), 1)
        assert np.isnan(z[future]).all() and (expected[future] == 0).all()
        np.testing.assert_allclose(z[~future], expected[~future], atol=1e-7)
        assert (array(fig["data"][1]["z"])[future] == 1).all()
    else:
        assert len(fig["data"]) == 1
        np.testing.assert_allclose(z, expected, atol=1e-7)
    np.testing.assert_allclose(np.nansum(z, -1), 1.0, atol=1e-5)
    assert at.query_params.get("layer", "1") == str(layer) and at.query_params.get("head", "1") == str(head)
    assert any(f"Layer {layer}, head {head} sends on average" in m.value for m in at.markdown)


def test_aggregations_and_word_level(traces, minilm):
    t = traces["minilm-l6"]
    at = run_page(model="minilm-l6", agg="layer", layer="2")
    np.testing.assert_allclose(array(chart(at, "Attention weights · mean of the 12 heads of layer 2")["data"][0]["z"]),
                               t.attentions[1].mean(0), atol=1e-6)
    at = run_page(model="minilm-l6", agg="all")
    np.testing.assert_allclose(array(chart(at, "Attention weights")["data"][0]["z"]), t.attentions.mean((0, 1)),
                               atol=1e-6)
    text = "Tokenizers split unbelievably rare words"
    at = run_page(model="minilm-l6", text=text, level="words", layer="1", head="4")
    fig = chart(at, "Attention weights")
    z = array(fig["data"][0]["z"])
    assert z.shape[0] < len(minilm.tokenizer(text)["input_ids"]) and np.allclose(z.sum(-1), 1, atol=1e-5)
    assert any("unbelievably" in y for y in fig["data"][0]["y"])


def test_heads_view_sends_every_head_pooled(traces):
    at = run_page(model="smollm2-135m", view="heads", layer="4")
    t = traces["smollm2-135m"]
    fig = chart(at, "The 9 heads of layer 4")
    image = array(fig["data"][0]["z"])
    T = t.n_tokens
    gap = max(2, T // 3)  # the gap holds each thumbnail's caption
    # rows are the 3 key/value heads; head index h sits at row h // 3, column h % 3
    h = 7  # head 8
    r, c = divmod(h, 3)
    block = image[r * (T + gap):r * (T + gap) + T, c * (T + gap):c * (T + gap) + T]
    future = np.triu(np.ones((T, T), bool), 1)
    assert np.isnan(block[future]).all()  # the masked future is left blank
    np.testing.assert_allclose(block[~future], t.attentions[3, h][~future], atol=1e-7)  # layer 4 = attentions[3]
    custom = fig["data"][1]["customdata"]
    assert [3, 7, 4, 8] in custom and len(custom) == 9  # indices for the click, numbers for the hover
    assert fig["layout"]["yaxis"]["ticktext"] == ["K/V head 1", "K/V head 2", "K/V head 3"]
    # each thumbnail says which head it is, numbered from 1; the K/V head from the config (transformers' repeat_kv:
    # query head h reads key/value head h // (H / n_kv))
    H, n_kv = 9, 3
    captions = next(d for d in fig["data"] if d.get("name") == "captions")["text"]
    assert captions == [f"head {h + 1} (shares K/V {h // (H // n_kv) + 1})" for h in range(H)]
    overview = chart(at, "All 270 heads")
    assert len(overview["data"][1]["customdata"]) == 270
    # SmolLM2 has more layers than heads: layers across, numbered 1..30; heads down, 1..9
    assert overview["layout"]["xaxis"]["ticktext"] == [str(n) for n in range(1, 31)]
    assert overview["layout"]["yaxis"]["ticktext"] == [str(n) for n in range(1, 10)]


def test_summary_view_table_and_finder(traces):
    from models.attention import head_stats

    t = traces["smollm2-135m"]
    stats = head_stats(t.attentions, t.special, causal=True)
    at = run_page(model="smollm2-135m", view="summary", stat="prev")
    fig = chart(at, "Previous token of every head")
    colours = array(fig["data"][0]["marker"]["color"])
    np.testing.assert_allclose(colours, stats["prev"].ravel(), atol=1e-6)
    table = at.dataframe[0].value
    assert len(table) == 30 * 9 and "kv head" in table.columns
    best = np.unravel_index(np.argmax(stats["prev"]), stats["prev"].shape)  # (block index, head index)
    layer, head = best[0] + 1, best[1] + 1  # the numbers shown
    assert table["layer"].between(1, 30).all() and table["head"].between(1, 9).all()
    assert table["kv head"].between(1, 3).all()
    top = table.iloc[0]  # sorted by the statistic: its row carries the best head's numbers
    assert (top["layer"], top["head"], top["kv head"]) == (layer, head, best[1] // 3 + 1)
    assert any(b.label == f"Open L{layer} H{head}" for b in at.button)
    # one click opens the best previous-token head as a heatmap
    next(b for b in at.button if b.label == f"Open L{layer} H{head}").click().run()
    assert not at.exception
    assert at.query_params.get("view", "heatmap") == "heatmap"
    assert at.query_params["layer"] == str(layer) and at.query_params["head"] == str(head)
    np.testing.assert_allclose(array(chart(at, f"Attention weights · layer {layer}, head {head}")["data"][0]["z"])[1:, 0],
                               t.attentions[best][1:, 0], atol=1e-7)


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_qk_view_recomputes_the_model_attention(model_id, traces):
    t = traces[model_id]
    at = run_page(model=model_id, view="qk", layer="2", head="1", query="4")
    ok = " ".join(s.value for s in at.success)
    err = float(re.search(r"over all \d+ heads of layer 2: ([0-9.]+e[+-][0-9]+)", ok).group(1))
    assert err <= 1e-4
    table = at.dataframe[0].value
    np.testing.assert_allclose(table["softmax weight"].to_numpy(), t.attentions[1, 0, 4], atol=1e-4)  # layer 2, head 1
    if model_id == "smollm2-135m":
        assert (table["masked"].to_numpy() == (np.arange(t.n_tokens) > 4)).all()
        assert any("Grouped-query attention" in m.value for m in at.markdown)
        assert "q after RoPE" in json.dumps(chart(at, "Query vector"))
    else:
        assert not table["masked"].any()


def test_bad_params_warn_and_fall_back():
    for params, name in [({"view": "<script>"}, "view"), ({"layer": "99"}, "layer"), ({"head": "-1"}, "head"),
                         ({"layer": "7"}, "layer"), ({"head": "13"}, "head"),
                         ({"query": "abc"}, "query"), ({"agg": "max"}, "agg"), ({"stat": "nan"}, "stat")]:
        at = run_page(model="minilm-l6", **params)
        assert any(f"{name}=" in w.value for w in at.warning), params
        assert figures(at)


def test_layer_0_and_head_0_links_are_rejected_with_the_reason(traces):
    """Layer 0 is the embeddings (no attention) and heads count from 1: an old 0-based link gets the usual
    bad-value warning, says why, and shows the default, layer 1 head 1 = the first block's first head."""
    at = run_page(model="minilm-l6", layer="0", head="0")
    warnings = " ".join(w.value for w in at.warning)
    assert "layer=` 0 ` was not used" in warnings and "layer 0 is the embeddings" in warnings
    assert "head=` 0 ` was not used" in warnings and "heads are counted from 1" in warnings
    fig = chart(at, "Attention weights · layer 1, head 1")
    np.testing.assert_allclose(array(fig["data"][0]["z"]), traces["minilm-l6"].attentions[0, 0], atol=1e-7)
    assert fig["args"]["selection"] == [0, 0]
    assert "layer" not in at.query_params and "head" not in at.query_params  # the defaults are not written


def test_a_link_with_layer_or_head_shows_the_numbering_notice():
    notice = "Layers and heads are counted from 1; layer 0 is the embeddings. Links made before 2026-12-06"
    at = run_page(model="minilm-l6", view="qk", layer="3")
    assert any(i.value.startswith(notice) for i in at.info)
    assert at.get_by_key("layer").value == 3
    at.get_by_key("layer").set_value(4).run()  # the user moves the slider: the notice has been read
    assert not any(i.value.startswith(notice) for i in at.info) and at.query_params["layer"] == "4"
    at = run_page(model="minilm-l6", view="qk")  # no layer or head in the link: no notice
    assert not any(i.value.startswith(notice) for i in at.info)
    assert at.query_params["numbering"] == "1"  # the address written now marks today's numbering
    at = run_page(model="minilm-l6", view="qk", layer="3", numbering="1")  # a link made since: no notice
    assert not any(i.value.startswith(notice) for i in at.info) and at.get_by_key("layer").value == 3
    at = run_page(model="minilm-l6", lang="zh", head="2")
    assert any(i.value.startswith("层和注意力头都从 1 开始编号；第 0 层是嵌入向量。2026-12-06 之前") for i in at.info)


def test_empty_text_is_a_message_not_an_error():
    at = run_page(text="   ")
    assert any("Type or paste some text" in i.value for i in at.info)


def test_hostile_text_stays_literal():
    payload = "<img src=x onerror=alert(1)> **bold** <script>alert(1)</script>"
    at = run_page(model="minilm-l6", text=payload)
    fig = chart(at, "Attention weights")
    assert not any("<img" in x or "<script" in x for x in fig["data"][0]["x"])
    at = run_page(model="minilm-l6", text=payload, view="bertviz-head")
    src = at.get("iframe")[0].proto.srcdoc
    assert "<img src=x" not in src and "<script>alert(1)" not in src


# ------------------------------------------------------------------------------------------- Chinese
def test_chinese_page_and_views():
    at = run_page(model="smollm2-135m", lang="zh", layer="3", head="5")
    assert at.title[0].value == "注意力：每个词元读取哪些词元"
    # the intro (in the "details for this model" expander, issue #25): glossary links keep their address
    intro = next(m.value for m in at.markdown if "/glossary?term=causal-mask" in m.value)
    assert "[因果掩码](/glossary?term=causal-mask" in intro and "分组查询注意力" in intro
    fig = chart(at, "注意力权重 · 第 3 层，第 5 个头")
    assert fig["data"][0]["z"] is not None
    assert at.get_by_key("agg").options == ["单个注意力头", "本层所有头的平均", "所有层和所有头的平均"]
    assert any("平均把" in m.value for m in at.markdown)
    at = run_page(model="minilm-l6", lang="zh", view="summary", stat="prev")
    names = set(at.dataframe[0].value.columns)
    assert {"层", "注意力头", "前一个词元", "熵", "特殊词元"} <= names and "Entropy" not in names
    assert any(b.label.startswith("打开 L") for b in at.button)
    at = run_page(model="minilm-l6", lang="zh", view="qk", layer="2", head="1", query="4")
    assert "softmax 权重" in at.dataframe[0].value.columns
    assert any("最大差值" in s.value for s in at.success)


def test_switching_language_keeps_the_page_state():
    at = run_page(model="smollm2-135m", view="qk", layer="4", head="7", query="3")
    # what the sidebar's language switch does (only en -> zh here: AppTest formats the last run's selectbox
    # options with format_func outside the session, i.e. in English, so it cannot send a zh run's labels back)
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value == "注意力：每个词元读取哪些词元"
    assert at.get_by_key("layer").value == 4 and at.get_by_key("head").value == 7
    assert at.get_by_key("query").value == 3
    assert at.query_params["view"] == "qk" and at.query_params["layer"] == "4" and at.query_params["head"] == "7"
    assert chart(at, "查询向量 · 第 4 层，第 7 个头")


def test_chinese_bertviz_notes():
    text = " ".join(["students celebrate the graduation"] * 20)  # more tokens than the views draw
    at = run_page(model="minilm-l6", lang="zh", text=text, view="bertviz-model")
    notes = " ".join(i.value for i in at.info)
    assert "BertViz 模型视图只显示" in notes and "每行的和小于 1" in notes
    caption = " ".join(c.value for c in at.caption)
    assert "float16" in caption and "四舍五入" in caption and "rounded" not in caption


# ------------------------------------------------------------------------- heatmap redrawn in the browser
def test_head_heatmap_is_the_redraw_component_with_every_head(traces):
    t = traces["smollm2-135m"]
    at = run_page(model="smollm2-135m", layer="6", head="4")
    assert not any(html.unescape(json.loads(el.proto.spec)["layout"]["title"]["text"]).startswith("Attention weights")
                   for el in at.get("plotly_chart"))  # one head: drawn by the component, not by st.plotly_chart
    fig = chart(at, "Attention weights · layer 6, head 4")  # redraw_figures: the browser shows index + 1
    args = fig["args"]
    # the component speaks 0-based indices (layer 6, head 4 = block 5, head index 3); the browser shows numbers
    assert args["scope"] == "model" and args["selection"] == [5, 3] and (args["n_layers"], args["n_heads"]) == (30, 9)
    (data,) = [s.bytes for el in at.get("component_instance") for s in el.proto.special_args if s.key == "data"]
    sent = np.frombuffer(data, "<f4").reshape(t.attentions.shape)
    np.testing.assert_array_equal(sent, t.attentions)  # every head, the exact float32 weights
    assert args["head_labels"][:5] == ["1 (kv 1)", "2 (kv 1)", "3 (kv 1)", "4 (kv 2)", "5 (kv 2)"]
    assert args["strings"]["layer"] == "Layer"
    assert "{layer}" in args["title"] and "{head}" in args["title"]
    assert any("sends on average" in m.value for m in at.markdown)  # the head's description follows the page
    # the mean of a layer's heads keeps the server-side figure and the page's slider
    at = run_page(model="smollm2-135m", agg="layer", layer="6")
    assert not at.get("component_instance") and at.get_by_key("layer").value == 6
    assert (at.get_by_key("layer").min, at.get_by_key("layer").max) == (1, 30)


def test_redraw_component_word_level_and_chinese(traces, minilm):
    from models import attention as att

    text = "Tokenizers split unbelievably rare words"
    t = compute_trace(minilm, text)
    at = run_page(model="minilm-l6", text=text, level="words", layer="1", head="4")
    fig = chart(at, "Attention weights · layer 1, head 4")
    words = att.word_ids(t.offsets, t.special, text)
    np.testing.assert_allclose(array(fig["data"][0]["z"]), att.word_attention(t.attentions[0, 3], words), atol=1e-7)
    assert fig["args"]["n_tokens"] == words.max() + 1 and any("unbelievably" in y for y in fig["data"][0]["y"])
    at = run_page(model="minilm-l6", lang="zh", layer="2", head="3")
    fig = chart(at, "注意力权重 · 第 2 层，第 3 个头")
    assert fig["args"]["strings"]["layer"] == "层" and "加载" in fig["args"]["strings"]["loading"]
