"""AppTest of the Generate page through the real app.py: decoder and encoder, bad URL params, greedy text equals the
model's own greedy continuation, hostile text stays literal, compare mode, branching."""
from __future__ import annotations

import html
import json
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
    # the original continuation stays on screen beside the branch (issue 25 #14)
    assert any("Branch:" in m.value and "at token #0" in m.value for m in at.markdown)
    assert generated_ids_text(output_blocks(at)[0]) == first


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
    # MiniLM has no LM head (a sentence-embedding model), so it cannot generate at all (#18)
    assert any("cannot generate text" in i.value and "no language-model head" in i.value for i in at.info)
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


# ------------------------------------------------------------------------------------- Simplified Chinese
@pytest.fixture
def chinese_everywhere(monkeypatch):
    """lang=zh for the page AND for AppTest itself: AppTest formats the last run's radio/selectbox options with
    their format_func outside the session (so in English) when it sends the next run; a browser sends back the
    labels it was shown. Pinning the language makes both sides agree, so the test can click after a zh run."""
    import i18n

    monkeypatch.setattr(i18n, "_language_getter", lambda: "zh")


def test_chinese_greedy_run_shows_the_models_tokens_with_chinese_words(smollm2, chinese_everywhere):
    at = run_page(PAGE, lang="zh", model="smollm2-135m", text=PROMPT, mode="greedy", max_new_tokens="8")
    assert at.title[0].value == "生成：一次一个词元"
    assert at.radio(key="mode").options == ["贪心解码", "采样", "束搜索", "三种方法对比"]
    assert at.button(key="gen_go").label == "生成"
    intro = " ".join(m.value for m in at.markdown)
    assert "49,152" in intro and "(/glossary?term=kv-cache" in intro and "束搜索" in intro
    generate(at)
    assert generated_ids_text(output_blocks(at)[-1]) == greedy_reference(smollm2, PROMPT, 8)  # numbers unchanged
    done = " ".join(c.value for c in at.caption)
    assert "8 个词元，用时" in done and "达到了最大词元数" in done
    fig = charts(at)["第 #0 个词元处模型的前 10 名"]
    assert len(fig["data"][0]["y"]) == 10 and fig["layout"]["xaxis"]["title"]["text"] == "概率"
    assert any(m.value.startswith("[在注意力页面打开这段文本](attention?model=smollm2-135m&text=") for m in at.markdown)
    # every token's tooltip speaks Chinese (the words live in the session, not in the engine thread)
    assert "模型 p = " in output_blocks(at)[-1]


def test_switching_to_chinese_keeps_the_settings_and_the_run():
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, mode="sample", temperature="0.7", top_k="20", seed="5",
                  max_new_tokens="4")
    generate(at)
    before = generated_ids_text(output_blocks(at)[-1])
    at.session_state["lang"] = "zh"  # what the sidebar's language switch does
    at.run()
    assert not at.exception
    assert at.title[0].value == "生成：一次一个词元"
    # sampling's temperature and top-k are the browser component's sliders (components/sampling_redraw.py)
    [sliders] = [el for el in at.get("component_instance") if el.proto.component_name.endswith(".sampling_redraw")]
    assert at.radio(key="mode").value == "sample" and json.loads(sliders.proto.json_args)["selection"][:2] == [0.7, 20]
    assert at.session_state["temperature"] == 0.7 and at.number_input(key="seed").value == 5
    assert {k: at.query_params[k] for k in ("mode", "temperature", "top_k", "seed", "lang")} == \
        {"mode": "sample", "temperature": "0.7", "top_k": "20", "seed": "5", "lang": "zh"}
    assert generated_ids_text(output_blocks(at)[-1]) == before  # the finished run is still shown
    assert any("4 个词元，用时" in c.value for c in at.caption)


def test_a_temperature_too_small_to_sample_from_is_refused_in_one_sentence():
    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, mode="sample", max_new_tokens="3",
                  temperature="0.0000000000000000000000000000000000000000001")
    at.button(key="gen_go").click().run(timeout=120)  # used to wait forever: the request was never finished
    assert not at.exception
    assert [e.value for e in at.error] == ["Generation could not start: A temperature of 1e-43 is too small to "
                                           "sample from: use 0 for greedy decoding."]


def test_a_failing_first_step_ends_the_run_with_a_message(monkeypatch):
    """An exception while the engine picks a request's first token must finish that request (it is not in the
    batch yet), so the page reports it instead of waiting for ever."""
    from serving import engine as generation

    def broken_warp(*args, **kwargs):
        raise RuntimeError("warp failed")

    at = run_page(PAGE, model="smollm2-135m", text=PROMPT, mode="sample", max_new_tokens="3")
    monkeypatch.setattr(generation, "warp", broken_warp)
    at.button(key="gen_go").click().run(timeout=120)
    assert not at.exception
    assert [e.value for e in at.error] == ["Generation failed: RuntimeError: warp failed"]
