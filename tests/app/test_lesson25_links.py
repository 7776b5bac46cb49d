"""AppTest of issue 25's "State and links", "Generate" and "Hostile links" items through the real app.py: a new
seed per press on Generate (shown, repeatable, in the link), clicking a generated token, the original beside a
branch, BertViz's head view following ``head=``, and a 100,000-character value of any parameter on every page."""
from __future__ import annotations

import html
import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import charts, run_page

GENERATE = "app_pages/generate.py"
PROMPT = "The capital of France is"
HUGE = 100_000


def output_blocks(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if 'data-testid="tx-generated"' in h.proto.body]


def generated_text(block: str) -> str:
    return "".join(html.unescape(m) for m in re.findall(r'<span class="tx-tok[^"]*"[^>]*>(.*?)</span>', block, re.S))


def press(at: AppTest, key: str = "gen_go") -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sampling_page(**extra: str) -> AppTest:
    return run_page(GENERATE, model="smollm2-135m", text=PROMPT, mode="sample", temperature="1.5", top_k="0",
                    max_new_tokens="8", **extra)


# ------------------------------------------------------------------------------------------ 15. seeds
def test_each_press_draws_a_new_seed_that_is_shown_and_linked():
    at = sampling_page()
    assert at.toggle(key="gen_fresh_seed").value is True  # the default when the link names no seed
    seeds, texts = [], []
    for _ in range(3):
        press(at)
        seed = at.number_input(key="seed").value
        seeds.append(seed)
        texts.append(generated_text(output_blocks(at)[-1]))
        assert at.query_params.get("seed", "0") == str(seed)  # the link carries the seed actually used
        assert any(f"Drawn with seed {seed}" in c.value for c in at.caption)
    assert len(set(seeds)) == 3  # three presses, three seeds (2**31 possible: a repeat here is a bug)
    assert len(set(texts)) > 1  # at T = 1.5 over the full vocabulary, different seeds give different texts


def test_repeat_this_seed_gives_the_same_text_and_keeps_the_seed():
    at = press(sampling_page())
    seed, first = at.number_input(key="seed").value, generated_text(output_blocks(at)[-1])
    press(at, "gen_repeat")
    assert at.number_input(key="seed").value == seed
    assert generated_text(output_blocks(at)[-1]) == first


def test_a_link_with_a_seed_repeats_it_and_typing_a_seed_turns_new_seeds_off():
    at = sampling_page(seed="7")
    assert at.toggle(key="gen_fresh_seed").value is False  # a shared link reproduces its text
    first = generated_text(output_blocks(press(at))[-1])
    assert at.number_input(key="seed").value == 7 and at.query_params["seed"] == "7"
    assert generated_text(output_blocks(press(at))[-1]) == first
    at.toggle(key="gen_fresh_seed").set_value(True).run()
    press(at)
    assert at.number_input(key="seed").value != 7
    at.number_input(key="seed").set_value(11).run()  # a seed typed by hand is one to repeat
    assert at.toggle(key="gen_fresh_seed").value is False
    press(at)
    assert at.number_input(key="seed").value == 11 and at.query_params["seed"] == "11"


def test_greedy_press_leaves_the_seed_alone():
    at = run_page(GENERATE, model="smollm2-135m", text=PROMPT, mode="greedy", max_new_tokens="4")
    press(at)
    assert at.number_input(key="seed").value == 0 and "seed" not in at.query_params


# --------------------------------------------------------------------------------------- 14. branching
def test_clicking_a_token_shows_its_alternatives(smollm2):
    at = run_page(GENERATE, model="smollm2-135m", text=PROMPT, mode="greedy", max_new_tokens="6")
    press(at)
    pills = at.pills(key="gen_pick")
    assert pills.value == 0 and len(pills.options) == 6
    assert "The model's top 10 for token #0" in charts(at)
    pills.set_value(3).run()
    assert not at.exception
    assert "The model's top 10 for token #3" in charts(at)
    assert 'data-i="3"' in output_blocks(at)[-1] and "tx-sel" in output_blocks(at)[-1].split('data-i="3"')[0][-80:]
    # clicking the selected token again (which unselects a pill) keeps it picked
    at.pills(key="gen_pick").set_value(None).run()
    assert at.pills(key="gen_pick").value == 3 and "The model's top 10 for token #3" in charts(at)


def test_branch_keeps_the_original_beside_the_branch(smollm2):
    at = run_page(GENERATE, model="smollm2-135m", text=PROMPT, mode="greedy", max_new_tokens="6")
    press(at)
    original = generated_text(output_blocks(at)[-1])
    at.pills(key="gen_pick").set_value(2).run()
    alt = at.selectbox(key="gen_alt").value
    at.button(key="gen_branch").click().run()
    assert not at.exception
    blocks = output_blocks(at)
    assert len(blocks) == 2  # the original and the branch, side by side
    assert generated_text(blocks[0]) == original
    branch = generated_text(blocks[1])
    forced = r"class=\"tx-tok[^\"]*tx-forced"
    assert re.search(forced, blocks[1]) and not re.search(forced, blocks[0])
    assert 'data-i="2"' in blocks[0] and "tx-sel" in blocks[0]  # the branch point outlined in the original
    assert branch.startswith(original_prefix(at, blocks[0], 2)) and branch != original
    assert smollm2.tokenizer.decode([alt]) in branch
    assert any("Branch:" in m.value and "at token #2" in m.value for m in at.markdown), [m.value for m in at.markdown if "Branch" in m.value or "Original" in m.value]
    # a new Generate press: only the new text
    press(at)
    assert len(output_blocks(at)) == 1


def original_prefix(at: AppTest, block: str, n: int) -> str:
    """The text of the first ``n`` generated tokens of an output block."""
    spans = re.findall(r'<span class="tx-tok[^"]*" data-i="(\d+)"[^>]*>(.*?)</span>', block, re.S)
    return "".join(html.unescape(t) for i, t in spans if int(i) < n)


# ------------------------------------------------------------------------------------------ 13. BertViz
def bertviz_params(at: AppTest) -> dict:
    src = at.get("iframe")[0].proto.srcdoc
    data = re.search(r"<script>window\.__TX = (\{.*?\});</script>", src, re.S).group(1)
    return json.loads(data)["params"]


@pytest.mark.parametrize("model_id, head", [("smollm2-135m", 3), ("minilm-l6", 12)])
def test_bertviz_head_view_ticks_the_head_of_the_link(model_id, head):
    at = run_page("app_pages/attention.py", model=model_id, view="bertviz-head", layer="2", head=str(head))
    params = bertviz_params(at)
    assert params["heads"] == [head - 1]  # bertviz's checkboxes are 0-based indices into the attention array
    assert params["layer"] == 2  # its menu shows layer numbers
    assert any(f"Only head {head} is ticked" in c.value for c in at.caption)


def test_bertviz_head_view_without_a_head_ticks_every_head():
    at = run_page("app_pages/attention.py", model="minilm-l6", view="bertviz-head")
    assert bertviz_params(at)["heads"] is None  # bertviz's own default: all heads


# --------------------------------------------------------------------------------- 19. 100 KB values
PAGES = {"home": "app_pages/home.py", "tokens": "app_pages/tokens.py", "similarity": "app_pages/similarity.py",
         "attention": "app_pages/attention.py", "embeddings": "app_pages/embeddings.py",
         "next-token": "app_pages/next_token.py", "block": "app_pages/block.py", "generate": GENERATE,
         "glossary": "app_pages/glossary.py"}


@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.parametrize("name", ["beams", "sentences", "layer", "term"])
def test_a_100k_value_is_dropped_with_one_warning_and_the_page_draws(page, name):
    at = run_page(PAGES[page], timeout=300, **{name: "9" * HUGE})
    warned = [w.value for w in at.warning if f"{name}" in w.value and "100,000 characters" in w.value]
    assert len(warned) == 1, [w.value for w in at.warning]
    assert name not in at.query_params  # gone from the address: nothing else reads it
    assert at.title or at.header or at.markdown  # the page drew


def test_a_long_value_under_the_global_cap_goes_to_its_parser():
    """5,000 digits (under the 50,000 cap): the layer parser rejects it with its range, no traceback (Python's
    int() refuses strings of over 4,300 digits)."""
    at = run_page("app_pages/attention.py", layer="9" * 5000)
    assert any("layer=" in w.value and "must be between 1 and 30" in w.value for w in at.warning)


def test_a_100k_text_is_cut_not_dropped():
    at = run_page("app_pages/tokens.py", text="party " * (HUGE // 6 + 50))
    assert any("longer than 100,000 characters and was cut" in w.value for w in at.warning)
    assert len(at.session_state["text"]) == HUGE


def test_sample_100_times_draws_new_seeds_each_press_unless_the_link_names_them():
    """Next token's "Sample 100 times": a second press draws other samples (new first seed, shown and linked); a
    link with its seed repeats them."""
    nxt = "app_pages/next_token.py"
    at = run_page(nxt, model="smollm2-135m", text="Once upon a time, there was a", temperature="1.5",
                  samples_tokens="2")
    assert at.toggle(key="samples_fresh_seed").value is True
    seeds = []
    for _ in range(2):
        at.button(key="samples_go").click().run()
        assert not at.exception
        seed = at.number_input(key="seed").value
        seeds.append(seed)
        assert at.query_params.get("seed", "0") == str(seed)
        assert any(f"used seed {seed} + i" in c.value for c in at.caption)
    assert seeds[0] != seeds[1]
    at = run_page(nxt, model="smollm2-135m", text="Once upon a time, there was a", temperature="1.5",
                  samples_tokens="2", seed="7")
    assert at.toggle(key="samples_fresh_seed").value is False
    at.button(key="samples_go").click().run()
    assert at.number_input(key="seed").value == 7 and at.query_params["seed"] == "7"


# ------------------------------------------------------------------------------- 12. the address bar
def test_attention_component_is_told_which_url_params_hold_its_view():
    """The browser writes layer/head into the address itself (components/attention_redraw_frontend): the page
    tells it the parameter names and their default numbers (left out of the link, as write_back does)."""
    at = run_page("app_pages/attention.py", model="smollm2-135m", layer="4", head="2")
    comps = [el for el in at.get("component_instance") if el.proto.component_name.endswith(".attention_heatmap")]
    assert len(comps) == 1
    args = json.loads(comps[0].proto.json_args)
    assert args["address"] == {"layer": ["layer", 1], "head": ["head", 1]}
    assert args["selection"] == [3, 1]  # 0-based indices of layer 4, head 2
    assert at.query_params["layer"] == "4" and at.query_params["head"] == "2"
