"""A bare Streamlit app around the attention heatmap component (tests/e2e/test_attention_redraw_e2e.py): the
real SmolLM2 trace of ``?text=``, ``?layer=``/``?head=`` to start with (the numbers people see, from 1, as on
/attention), ``?fetch=0``: no layer fetched by the browser (the weights in the arguments), the chosen head
written under it (numbers). The component itself speaks 0-based indices."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402

from components import attention_plots as ap  # noqa: E402
from components import attention_redraw as ar  # noqa: E402
from components.plots import chart_config  # noqa: E402
from models.loading import load  # noqa: E402
from models.trace import compute_trace  # noqa: E402


@st.cache_resource
def trace(text: str):
    return compute_trace(load("smollm2-135m"), text)


t = trace(st.query_params.get("text", "students celebrate the graduation with a big party"))
T = t.n_tokens
if "layer" not in st.session_state:  # 0-based indices from the numbers in the link
    st.session_state.layer = int(st.query_params.get("layer", 1)) - 1
    st.session_state.head = int(st.query_params.get("head", 1)) - 1
budget = int(st.query_params.get("budget", ar.BUDGET_BYTES))
layer_budget = int(st.query_params.get("layer_budget", budget))


def picked() -> None:
    st.session_state.layer, st.session_state.head = ar.chosen("redraw")


labels = [f"{i} {tok}" for i, tok in enumerate(t.tokens)]
future = np.triu(np.ones((T, T), bool), 1)
layer, head = st.session_state.layer, st.session_state.head
title = "Attention weights · layer {layer}, head {head}"
fig = ap.attention_heatmap(t.attentions[layer, head], labels, labels, title.format(layer=layer + 1, head=head + 1),
                           masked=future)
ar.heatmap(t.attentions, fig, layer=layer, head=head, title=title, masked=future, key="redraw",
           strings={"layer": "Layer", "head": "Head", "loading": "Loading layer {layer}, head {head}…",
                    "download": "Download the chart as an image"},
           on_change=picked, budget=budget, layer_budget=layer_budget, config=chart_config("attention-redraw-test"),
           fetch=st.query_params.get("fetch", "1") != "0", view_id=st.query_params.get("text", ""))
st.write(f"server: layer {st.session_state.layer + 1}, head {st.session_state.head + 1}")
