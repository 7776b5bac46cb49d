"""The attention heatmap component's payload (components/attention_redraw.py): the bytes are the trace's float32
attention, exactly; the mask is the causal triangle; the budget decides how many heads are sent; the frontend
loads Plotly.js from the installed plotly package and nothing from the internet."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from components import attention_plots as ap
from components import attention_redraw as ar
from models.trace import compute_trace

TEXT = "students celebrate the graduation with a big party"


@pytest.fixture(scope="module")
def smol_trace(smollm2):
    return compute_trace(smollm2, TEXT)


def causal(T: int) -> np.ndarray:
    return np.triu(np.ones((T, T), bool), 1)


def test_all_heads_sent_are_the_trace_exactly(smol_trace):
    a = smol_trace.attentions  # [30, 9, T, T] float32
    L, H, T, _ = a.shape
    p = ar.payload(a, 3, 5, causal(T))
    assert p.scope == "model" and p.layers == list(range(L)) and p.heads == list(range(H))
    assert len(p.data) == L * H * T * T * 4 <= ar.BUDGET_BYTES
    for layer, head in [(0, 0), (3, 5), (29, 8), (17, 2)]:
        got = p.weights(layer, head)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, a[layer, head])  # not rounded: the very same float32 numbers
    mask = np.frombuffer(p.mask, dtype=np.uint8).reshape(T, T).astype(bool)
    np.testing.assert_array_equal(mask, causal(T))
    assert (a[..., mask] == 0).all()  # what the mask hides really is 0 in the model


def test_budget_picks_model_layer_or_head(smol_trace):
    a = smol_trace.attentions
    L, H, T, _ = a.shape
    one = T * T * 4
    cross = (L + H - 1) * one
    cases = [(L * H * one, H * one, "model"), (L * H * one - 1, cross, "cross"), (1, cross - 1, "layer"),
             (1, H * one, "layer"), (H * one, H * one - 1, "head"), (1, 1, "head")]
    for budget, layer_budget, scope in cases:
        p = ar.payload(a, 7, 4, causal(T), budget=budget, layer_budget=layer_budget)
        assert p.scope == scope, budget
        if scope != "head":  # a single head is always sent, even above the budget
            assert len(p.data) <= (budget if scope == "model" else layer_budget)
        np.testing.assert_array_equal(p.weights(7, 4), a[7, 4])
    p = ar.payload(a, 7, 4, None, budget=H * one, layer_budget=H * one)
    assert p.layers == [7] and p.heads == list(range(H)) and p.mask is None
    np.testing.assert_array_equal(p.weights(7, 8), a[7, 8])
    with pytest.raises(KeyError):
        p.weights(6, 4)
    p = ar.payload(a, 7, 4, None, budget=one, layer_budget=one)
    assert (p.layers, p.heads) == ([7], [4]) and len(p.data) == one
    with pytest.raises(KeyError):
        p.weights(7, 3)
    with pytest.raises(IndexError):
        ar.payload(a, L, 0)


def test_cross_holds_every_head_of_the_layer_and_the_head_in_every_layer(smol_trace):
    """The middle tier (texts too long for all 270 heads): both sliders can move in the browser."""
    a = smol_trace.attentions
    L, H, T, _ = a.shape
    p = ar.payload(a, 7, 4, causal(T), budget=1)
    assert p.scope == "cross" and len(p.pairs) == L + H - 1 == len(set(p.pairs))
    assert len(p.data) == (L + H - 1) * T * T * 4
    for layer, head in [(7, h) for h in range(H)] + [(lyr, 4) for lyr in range(L)]:
        np.testing.assert_array_equal(p.weights(layer, head), a[layer, head])
    with pytest.raises(KeyError):
        p.weights(6, 3)  # off the cross: one round trip re-centres it
    assert ar.payload(a, 6, 3, causal(T), budget=1).data_id != p.data_id
    # a transform (word level) sees the chosen blocks only, in the same order
    w = ar.payload(a, 7, 4, causal(T), budget=1, transform=lambda b: b[..., ::-1, :], size=T)
    np.testing.assert_array_equal(w.weights(2, 4), a[2, 4][::-1])


def test_encoder_has_no_mask_and_data_id_follows_the_weights(minilm):
    t = compute_trace(minilm, TEXT)
    p = ar.payload(t.attentions, 0, 0, None)
    assert p.mask is None and p.scope == "model"
    np.testing.assert_array_equal(p.weights(5, 11), t.attentions[5, 11])
    assert ar.payload(t.attentions, 2, 3, None).data_id == p.data_id  # same weights sent: same identity
    other = compute_trace(minilm, TEXT + " tonight")
    assert ar.payload(other.attentions, 0, 0, None).data_id != p.data_id


def test_template_keeps_the_look_without_the_weights():
    w = np.full((3, 3), 1 / 3, np.float32)
    labels = ["0 <b>x</b>", "1 <img src=x onerror=alert(1)>", "2 &"]
    fig = ap.attention_heatmap(w, labels, labels, "Attention weights · layer {layer}, head {head}",
                               masked=causal(3))
    spec = ar.template(fig)
    assert "z" not in spec["data"][0] and "z" not in spec["data"][1]
    assert spec["data"][0]["hovertemplate"] == fig.data[0].hovertemplate and "%{z:.6f}" in fig.data[0].hovertemplate
    assert spec["data"][1]["name"] == "masked" and spec["data"][0]["colorscale"]
    assert all("<" not in s for s in spec["data"][0]["x"] + spec["data"][0]["y"])  # escaped for Plotly
    assert ar.title_template("A <script>{layer}</script> · {head}") == "A &lt;script&gt;{layer}&lt;/script&gt; · {head}"
    # the template does not depend on the head shown: the same arguments whichever head the browser draws
    other = ap.attention_heatmap(w * 0, labels, labels, "Attention weights · layer 9, head 1", masked=causal(3))
    title = "Attention weights · layer {layer}, head {head} <i>"
    assert ar.template(fig, title) == ar.template(other, title)
    assert ar.template(fig, title)["layout"]["title"]["text"] == "Attention weights · layer {layer}, head {head} &lt;i&gt;"
    # everything but the weights is plotly's own JSON of the figure
    full = json.loads(fig.to_json())
    for trace in full["data"]:
        trace.pop("z")
    assert spec == full


def test_frontend_loads_plotly_from_the_installed_package_only():
    import plotly
    from plotly.offline import get_plotlyjs_version

    index = (ar.FRONTEND / "index.html").read_text()
    js = (ar.FRONTEND / "redraw.js").read_text()
    srcs = re.findall(r'<script src="([^"]+)"', index)
    assert srcs == [f"../{ar.__name__}.{ar.PLOTLY_COMPONENT}/plotly.min.js", "redraw.js"]
    bundled = plotly.__path__[0] + "/package_data/plotly.min.js"
    with open(bundled) as f:
        assert f"plotly.js v{get_plotlyjs_version()}" in f.read(300)  # the version the figure JSON is for
    for text in (index, js):
        assert not re.search(r"https?://", text.replace("http://www.w3.org", ""))
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|eval\(|new Function|document\.write", js)
