"""AppTest of the temperature / top-k / top-p component (components/sampling_redraw.py) on /next-token and /generate,
through the real app.py: it receives the model's own logits (compared with a forward pass here), the setting of the
link, labels escaped once and the words in the session's language; a setting it reports goes into the URL without
moving its sliders back; the server-side fallback draws Streamlit's sliders with the same setting."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from streamlit.proto.WidgetStates_pb2 import WidgetState

from components import sampling_redraw as sr
from models.sampling import torch_softmax_layout
from tests.app import helpers

NEXT = "app_pages/next_token.py"
GENERATE = "app_pages/generate.py"
FRANCE = "The capital of France is"


def component(at):
    [el] = [el for el in at.get("component_instance") if el.proto.component_name.endswith(".sampling_redraw")]
    args = json.loads(el.proto.json_args)
    (data,) = [s.bytes for s in el.proto.special_args if s.key == "data"]
    return el, args, sr.decode(data)


def report(at, value: dict):
    """What the browser does after a slider move: send the component's new value, which reruns the script."""
    el, _, _ = component(at)
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=el.proto.id, json_value=json.dumps(value)))
    at._run(states)
    assert not at.exception, [e.value for e in at.exception]
    return at


def forward_logits(lm, ids: list[int]) -> np.ndarray:
    with torch.inference_mode():
        return lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float().numpy()


def test_next_token_sends_the_models_logits_and_the_links_setting(smollm2):
    at = helpers.run_page(NEXT, model="smollm2-135m", text=FRANCE, temperature="0.7", top_p="0.9")
    _, args, logits = component(at)
    want = forward_logits(smollm2, smollm2.tokenizer(FRANCE)["input_ids"])
    np.testing.assert_allclose(logits, want, atol=1e-4)  # every one of the 49,152, float32
    assert logits.size == 49_152 and args["layout"] == torch_softmax_layout()
    top = np.argsort(-want, kind="stable")[:20]
    assert args["ids"] == top.tolist()
    assert args["labels"][0] == smollm2.tokenizer.decode([int(top[0])]).replace(" ", "␣")
    assert args["selection"] == [0.7, 0, 0.9] and args["mode"] == "full"
    assert args["title"] == "Next-token probabilities: the 20 most likely of all 49,152 tokens"
    assert set(args["figures"]) == {"nucleus"}  # the bars are drawn by the browser from ids and labels
    assert args["strings"]["eligible"] == "Tokens still eligible (of {V:,})"
    # the sliders are the component's: no Streamlit slider, no server-side figure of the bars
    assert not [s for s in at.slider if s.key in ("temperature", "top_k", "top_p")]
    assert "Next-token probabilities: the 20 most likely of all 49,152 tokens" not in helpers.charts(at)


def test_a_reported_setting_goes_to_the_url_and_the_arguments_stay_the_same():
    at = helpers.run_page(NEXT, model="smollm2-135m", text=FRANCE, temperature="0.7")
    _, before, _ = component(at)
    report(at, {"temperature": 1.25, "top_k": 12, "top_p": 0.8})
    assert (at.query_params["temperature"], at.query_params["top_k"], at.query_params["top_p"]) == ("1.25", "12", "0.8")
    _, after, _ = component(at)
    assert after == before  # the sliders are not sent back to where the link put them
    # a value the sliders cannot produce is ignored (the URL keeps the last good setting)
    report(at, {"temperature": 9, "top_k": 1.5, "top_p": "x"})
    assert at.query_params["temperature"] == "1.25" and at.query_params["top_k"] == "12"
    # the server-side path shows the same setting with Streamlit's sliders...
    at.toggle(key="nt_server").set_value(True).run()
    assert (at.slider(key="temperature").value, at.slider(key="top_k").value, at.slider(key="top_p").value) == \
        (1.25, 12, 0.8)
    at.slider(key="top_k").set_value(3).run()
    assert at.query_params["top_k"] == "3"
    # ...and back in the browser, a change made outside the component is sent to it
    at.toggle(key="nt_server").set_value(False).run()
    _, back, _ = component(at)
    assert back["selection"] == [1.25, 3, 0.8]


def test_chinese_words_and_escaped_labels(smollm2):
    at = helpers.run_page(NEXT, model="smollm2-135m", text='print("Hello', lang="zh")
    _, args, logits = component(at)
    zh = __import__("i18n").translations("zh")
    assert args["strings"]["temperature"] == zh.gettext("Temperature") != "Temperature"
    assert args["strings"]["eligible"] == zh.gettext("Tokens still eligible (of {V:,})")
    # labels travel as text (the browser sets them with textContent): the model's own pieces, never escaped
    want = [smollm2.tokenizer.decode([i]).replace(" ", "␣").replace("\n", "⏎") for i in args["ids"]]
    assert [w for w in want if "\ufffd" not in w] == [lab for lab, w in zip(args["labels"], want) if "\ufffd" not in w]
    assert any(c in lab for lab in args["labels"] for c in '"<&')  # the text does what it is for
    assert "&quot;" not in json.dumps(args["figures"]) and "&quot;" not in json.dumps(args["labels"])


def test_generate_shows_the_next_steps_distribution_in_sampling_modes(smollm2):
    at = helpers.run_page(GENERATE, model="smollm2-135m", text=FRANCE, mode="sample", temperature="0.7", top_k="20")
    _, args, logits = component(at)
    np.testing.assert_allclose(logits, forward_logits(smollm2, smollm2.tokenizer(FRANCE)["input_ids"]), atol=1e-4)
    assert args["mode"] == "compact" and args["selection"] == [0.7, 20, 1.0] and args["limits"]["t_step"] == 0.05
    report(at, {"temperature": 1.1, "top_k": 0, "top_p": 0.95})
    assert at.query_params["temperature"] == "1.1" and at.query_params["top_p"] == "0.95"
    assert "top_k" in at.query_params and at.query_params["top_k"] == "0"  # generate's default top-k is 50
    # greedy and beam search draw nothing at random: Streamlit's (disabled) sliders, no component
    at.radio(key="mode").set_value("greedy").run()
    assert not [el for el in at.get("component_instance") if el.proto.component_name.endswith(".sampling_redraw")]
    assert at.slider(key="temperature").disabled and at.slider(key="temperature").value == 1.1


@pytest.mark.parametrize("page", [NEXT, GENERATE])
def test_empty_text_still_gets_a_distribution(page):
    at = helpers.run_page(page, model="smollm2-135m", text="", mode="sample")
    if page == NEXT:
        assert any("Type or paste" in i.value for i in at.info)
    else:  # the model starts from its beginning-of-sequence token
        _, args, logits = component(at)
        assert logits.size == 49_152 and len(args["labels"]) == 20
