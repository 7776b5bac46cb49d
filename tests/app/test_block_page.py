"""AppTest of /block (inside a block) through the real app.py: the link sets the view and every control writes it
back, bad link values warn and fall back, both bundled models, Chinese. The numbers on the page are compared with
the model's own outputs (a Trace computed here; models/block.py is checked against stock models in
tests/unit/test_block.py)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from models.trace import compute_trace
from tests.app import helpers
from tests.app.helpers import array, charts

PAGE = "app_pages/block.py"
CAPITAL = "The capital of France is"
SENTENCE = "students celebrate the graduation with a big party"


def run_page(**params: str):
    return helpers.run_page(PAGE, **params)


def chart(at, prefix: str) -> dict:
    found = [f for t, f in charts(at).items() if t.startswith(prefix)]
    assert found, (prefix, list(charts(at)))
    return found[0]


def not_used(at) -> list[str]:
    return [w.value for w in at.warning if "was not used" in w.value]


def check_line(at) -> tuple[float, float, float]:
    """(sum of the parts, the model's own value, the difference) from the page's **Check:** line."""
    line = next(m.value for m in at.markdown if m.value.startswith(("**Check:**", "**核对：**")))
    total, model = (float(x) for x in re.findall(r"\*\*(-?[0-9.]+)\*\*", line))
    diff = float(re.search(r"([0-9.]+e[-+][0-9]+)", line).group(1))
    return total, model, diff


@pytest.fixture(scope="module")
def capital(smollm2):
    return compute_trace(smollm2, CAPITAL)


def test_a_link_sets_the_view_and_the_page_writes_it_back(smollm2, capital):
    at = run_page(model="smollm2-135m", text=CAPITAL, target=" Paris", layer="5", ablate="m5,a3.2,a3.2",
                  ablation="mean")
    assert not not_used(at)
    ss = at.session_state
    assert ss["blk_target"] == " Paris" and ss["blk_layer"] == 5 and ss["blk_ablation"] == "mean"
    assert ss["blk_ablate"] == ["a3.2", "m5"] and ss["blk_position"] == -1
    q = at.query_params
    assert q["ablate"] == "a3.2,m5" and q["target"] == " Paris" and q["layer"] == "5" and q["ablation"] == "mean"
    assert "position" not in q  # the default (the last token) is not written
    paris = smollm2.tokenizer(" Paris", add_special_tokens=False).input_ids[0]
    total, model, diff = check_line(at)
    assert abs(model - float(capital.last_logits[paris])) < 1e-4  # the model's own logit (the trace's)
    assert abs(total - model) <= 1e-4 and diff <= 1e-4
    # the grid: 30 layers × (9 heads + MLP); with the embeddings and the bias terms it adds up to the logit
    grid = chart(at, "Direct contribution of each head and MLP to the logit of ␣Paris")
    z = array(grid["data"][0]["z"])
    assert z.shape == (30, 10)
    line = next(m.value for m in at.markdown if m.value.startswith("**Check"))
    emb = float(re.search(r"embeddings ([-+]?[0-9.]+)", line).group(1))
    assert abs(z.sum() + emb - float(capital.last_logits[paris])) < 1e-3  # the cells carry the exact values
    assert len(grid["layout"]["shapes"]) == 2  # the two parts switched off are outlined
    # the ablation bars: the ordinary run is the model's own next-token distribution
    bars = chart(at, "Next-token probabilities with 2 part(s) switched off (mean ablation)")
    before = array(bars["data"][0]["x"])
    probs = torch.softmax(torch.from_numpy(capital.last_logits.copy()), -1).numpy()
    np.testing.assert_allclose(before[0], probs.max(), atol=1e-6)
    assert any(t.startswith("How the 9 heads of layer 5 are combined") for t in charts(at))


def test_every_control_writes_the_url():
    at = run_page(model="minilm-l6", text=SENTENCE)
    assert not any(k in at.query_params for k in ("position", "target", "layer", "ablate", "ablation"))
    at.multiselect(key="blk_ablate").set_value(["a2.3", "m4"]).run()
    assert at.query_params["ablate"] == "a2.3,m4"
    at.multiselect(key="blk_ablate").set_value([f"a2.{h}" for h in range(1, 13)]).run()
    assert at.query_params["ablate"] == "a2"  # every head of layer 2
    at.radio(key="blk_ablation").set_value("mean").run()
    assert at.query_params["ablation"] == "mean"
    at.selectbox(key="blk_position").set_value(3).run()
    assert at.query_params["position"] == "3"
    at.slider(key="blk_layer").set_value(2).run()
    assert at.query_params["layer"] == "2"
    at.selectbox(key="blk_target").set_value("party").run()
    assert at.query_params["target"] == "party"
    at.multiselect(key="blk_ablate").set_value([]).run()
    assert "ablate" not in at.query_params
    assert not at.exception


@pytest.mark.parametrize("name, value, reason", [
    ("ablate", "a99.1", "layers go from 1 to 30"), ("ablate", "a1.0", "heads go from 1 to 9"),
    ("ablate", "m0", "layers go from 1 to 30"), ("ablate", "<script>alert(1)</script>", "is not a component"),
    ("ablate", "a1.1;m2", "is not a component"), ("layer", "0", "layer 0 is the embeddings"),
    ("layer", "31", "between 1 and 30"), ("position", "abc", "not a whole number"), ("position", "-2", "between"),
    ("ablation", "max", "must be one of"), ("target", " Paris France", "tokens for this model, not one"),
])
def test_bad_link_values_warn_and_fall_back(name, value, reason):
    at = run_page(model="smollm2-135m", text=CAPITAL, **{name: value})
    warnings = not_used(at)
    assert len(warnings) == 1 and f"{name}=" in warnings[0] and reason in warnings[0], warnings
    assert "<script>" not in warnings[0].replace("` <script>", "")  # shown as a code span, never as HTML
    defaults = {"ablate": [], "layer": 30, "position": -1, "ablation": "zero", "target": ""}
    assert at.session_state[f"blk_{name}"] == defaults[name]
    assert name not in at.query_params
    assert charts(at)


def test_a_position_past_the_text_shows_the_last_token():
    at = run_page(model="minilm-l6", text=SENTENCE, position="200")
    assert not not_used(at)
    assert any("there is no position 200" in i.value for i in at.info)
    assert at.session_state["blk_position"] == -1


def test_minilm_splits_an_embedding_score_and_ranks_by_cosine(minilm):
    trace = compute_trace(minilm, SENTENCE)
    at = run_page(model="minilm-l6", text=SENTENCE, position="3", ablate="a6.4")
    assert not not_used(at)
    text = " ".join(m.value for m in at.markdown)
    assert "has no language-model head" in text and "post-norm" in text
    total, model, diff = check_line(at)
    token = int(trace.ids[3])  # the default target: the token at the position
    emb = minilm.model.get_input_embeddings().weight.detach().double().numpy()
    assert abs(model - float(trace.hidden_states[-1, 3].astype(np.float64) @ emb[token])) < 1e-4
    assert diff <= 1e-4
    cos = chart(at, "How much each position's final vector still points the same way")
    assert len(array(cos["data"][0]["y"])) == trace.n_tokens
    # the ranking: one click, every head and MLP; a "Switch off" button adds one to the link
    at.button(key="block_rank").click().run()
    ranking = chart(at, "Each part switched off alone (zero ablation): 1 − cosine")
    assert array(ranking["data"][0]["z"]).shape == (6, 13)
    off = next(b for b in at.button if b.label.startswith("Switch off layer") and not b.disabled)
    off.click().run()
    assert len(at.session_state["blk_ablate"]) == 2 and "," in at.query_params["ablate"]
    assert not at.exception


def test_pre_norm_sentence_for_smollm2():
    at = run_page(model="smollm2-135m", text=SENTENCE)
    text = " ".join(m.value for m in at.markdown)
    assert "**pre-norm**" in text and "**post-norm**" not in text
    assert any("Pre-norm: the stream is never normalised" in c.value for c in at.caption)


def test_empty_text_is_a_message():
    at = run_page(model="minilm-l6", text="  ")
    assert any("Type or paste some text" in i.value for i in at.info)


def test_chinese_page():
    at = run_page(model="smollm2-135m", lang="zh", text=CAPITAL, ablate="a3.2")
    assert not not_used(at)
    assert at.title[0].value == "模块内部：残差流、MLP，以及是谁做出了预测"
    details = next(e for e in at.main.expander if e.label == "这个模型的细节")  # issue #25: the intro moved there
    assert any("[残差流](/glossary?term=residual-stream" in m.value for m in details.markdown)
    assert any(t.startswith("关掉 1 个部分后的下一个词元概率") for t in charts(at))
    total, model, diff = check_line(at)
    assert diff <= 1e-4
    at = run_page(model="minilm-l6", lang="zh", text=SENTENCE)
    assert any("没有语言模型头" in m.value for m in at.markdown)
