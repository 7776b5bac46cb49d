"""AppTest of the Generate page through the real app.py: decoder and encoder, bad URL params, greedy text equals the
model's own greedy continuation, hostile text stays literal, compare mode, branching."""
from __future__ import annotations

import html
import re

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app.helpers import charts, run_page

PAGE = "app_pages/generate.py"
PROMPT = "The capital of France is"


def output_blocks(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if 'data-testid="tx-generated"' in h.proto.body]


def generated_ids_text(block: str) -> str:
    """The generated part of an output block: the text of its token spans, unescaped."""
    return "".join(html.unescape(m) for m in re.findall(r'<span class="tx-tok[^"]*"[^>]*>(.*?)</span>', block, re.S))


def greedy_reference(lm, text: str, n: int) -> str:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=n)
    return lm.tokenizer.decode(out[0, ids.shape[1]:])


def generate(at: AppTest) -> AppTest:
    at.button(key="gen_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_decoder_page_renders_with_controls_and_url_defaults():
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT)
    assert at.title[0].value.startswith("Generate")
    assert at.radio(key="mode").value == "greedy"
    assert at.number_input(key="max_new_tokens").value == 40
    assert not output_blocks(at)  # nothing generated before the click
    assert "49,152" in "".join(m.value for m in at.markdown)  # the caption speaks of THIS model's vocabulary


def test_short_greedy_generation_equals_the_models_greedy_continuation(smollm2):
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, mode="greedy", max_new_tokens="8")
    generate(at)
    blocks = output_blocks(at)
    assert blocks, "no generated output"
    assert generated_ids_text(blocks[-1]) == greedy_reference(smollm2, PROMPT, 8)
    assert html.escape(PROMPT) in blocks[-1]
    assert any("8 tokens in" in c.value for c in at.caption)
    # the alternatives of the first token: the chart of the model's top 10
    fig = charts(at)["The model's top 10 for token #0"]
    assert len(fig["data"][0]["y"]) == 10
    links = [m.value for m in at.markdown if "Attention page" in m.value]
    assert links and "attention?model=smollm2-135m&text=" in links[0]


def test_same_seed_same_text_and_branching(smollm2):
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, mode="sample", seed="7", max_new_tokens="6",
                  temperature="1.2", top_k="0")
    first = generated_ids_text(output_blocks(generate(at))[-1])
    second = generated_ids_text(output_blocks(generate(at))[-1])
    assert first == second and first
    # branch at token #0 with the first alternative offered: the output now starts with that token (forced)
    alt = at.selectbox(key="gen_alt").value
    at.button(key="gen_branch").click().run()
    assert not at.exception
    block = output_blocks(at)[-1]
    assert "tx-forced" in block
    assert generated_ids_text(block).startswith(smollm2.tokenizer.decode([alt]))
    assert any("Branched at token #0" in c.value for c in at.caption)


def test_hostile_prompt_is_shown_literally():
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    at = run_page(PAGE, model="smollm2-135m", text=hostile, max_new_tokens="3")
    block = output_blocks(generate(at))[-1]
    assert "<script>" not in block and "<img" not in block
    assert html.escape(hostile) in block


def test_compare_mode_shows_three_methods_with_log_probabilities():
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, mode="compare", max_new_tokens="4", beams="2")
    generate(at)
    assert len(output_blocks(at)) == 3
    totals = [m.value for m in at.markdown if m.value.startswith("Total log-probability")]
    assert len(totals) == 3
    fig = charts(at)["Total log-probability as the continuation grows"]
    assert len(fig["data"]) == 3


def test_encoder_says_it_does_not_generate_and_offers_the_decoder():
    at = run_page(PAGE, model="minilm-l6", text=PROMPT)
    assert any("does not generate text left to right" in i.value for i in at.info)
    assert not output_blocks(at)
    at.button(key="gen_switch").click().run()
    assert not at.exception
    assert at.session_state["model"] == "smollm2-135m"
    assert at.button(key="gen_go")  # the decoder's controls are there now


@pytest.mark.parametrize("params", [
    dict(temperature="5", top_k="-1", top_p="abc", mode="nonsense", max_new_tokens="100000", beams="9",
         seed="x"),
    dict(temperature="nan", top_p="1e9", max_new_tokens="0"),
])
def test_bad_query_params_fall_back_with_warnings(params):
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, **params)
    warned = " ".join(w.value for w in at.warning)
    for name in params:
        assert f"{name}=" in warned
    assert at.radio(key="mode").value == "greedy"
    assert at.number_input(key="max_new_tokens").value == 40


def test_empty_text_starts_from_bos():
    at = run_page(PAGE, model="smollm2-135m", text="", max_new_tokens="3")
    assert any("beginning-of-sequence" in i.value for i in at.info)
    block = output_blocks(generate(at))[-1]
    assert "tx-bos" in block
