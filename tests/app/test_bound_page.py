"""AppTest of ``state.bound`` (components/state.py), the frame every page runs in: the URL is written on every way
a run ends (the end of the page, ``b.stop()``, a ``st.stop()`` inside a component), a rejected link value warns
once, implicit values stay out of the URL; and every bounded widget of /next-token and /generate has exactly the
range its URL parameter accepts (the widget's own min and max are accepted in a link, one step past them is not)."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from components import sampling_redraw as sr
from models.generation import MAX_NEW_TOKENS
from tests.app import helpers

FRANCE = "The capital of France is"

SCRIPT = '''
import streamlit as st
from components import state

N = state.Param("n", 3, lo=1, hi=9)
W = state.Param("w", "a", state.choice("a", "b"))
with state.bound([N, W], scope="tiny") as b:
    st.slider("n", **N.bounds(), key=N.name)
    how = st.session_state.get("how", "end")
    if how == "page":
        st.session_state[W.name] = "b"  # a value the body sets, then the page ends the run early
        b.stop()
    if how == "component":
        st.stop()  # what trace_or_stop does inside a component on an empty text
    if st.session_state.get("implicit") and st.session_state[W.name] == "b":
        b.implicit[W.name] = "b"  # known late in the run: "b" stands for the default here
    st.markdown("the end")
'''


def tiny(how: str = "end", **params: str) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.session_state["how"] = how
    return at.run()


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def refused(name: str, raw: str) -> str:
    """How seed() names a refused link value (the value as a literal code span)."""
    return f"{name}=` {raw} ` was not used"


@pytest.mark.parametrize("how", ["end", "page", "component"])
def test_a_rejected_value_warns_once_and_leaves_the_url_on_every_exit(how):
    at = tiny(how, n="42", w="b")
    assert not at.exception
    [warning] = warnings(at)
    assert refused("n", "42") in warning and "must be between 1 and 9" in warning
    assert "n" not in at.query_params and at.query_params["w"] == "b"
    assert at.slider[0].value == 3
    assert ("the end" in [m.value for m in at.markdown]) == (how == "end")
    at.run()  # shown again until the user moves that widget, still once
    assert len(warnings(at)) == 1


@pytest.mark.parametrize("how", ["end", "component"])
def test_a_moved_widget_is_in_the_url_even_when_a_component_stops_the_run(how):
    at = tiny(how)
    at.slider[0].set_value(7).run()
    assert at.query_params["n"] == "7"
    at.slider[0].set_value(3).run()  # the default: left out
    assert "n" not in at.query_params


def test_b_stop_writes_what_the_body_set_before_it():
    at = tiny("page")
    assert not at.exception and at.query_params["w"] == "b"
    assert "the end" not in [m.value for m in at.markdown]


def test_an_implicit_value_stays_out_of_the_url_also_on_a_run_that_ends_before_it_is_known():
    at = tiny("end", w="b")
    assert at.query_params["w"] == "b"
    at.session_state["implicit"] = True
    at.run()
    assert "w" not in at.query_params  # b.implicit: "b" stands for the default here
    at.session_state["how"] = "component"  # this run stops before it learns the implicit value: the last run's
    at.run()
    assert "w" not in at.query_params


# ------------------------------------------------------------------------------------------ real pages
def test_a_page_stopped_inside_a_component_still_writes_its_url():
    """/tokens with an empty text ends in tokens_or_stop (a st.stop() in components/cache.py): the rejected link
    value is reported once and gone from the address."""
    at = helpers.run_page("app_pages/tokens.py", text=" ", token="9999")
    [warning] = [w for w in warnings(at) if "token=" in w]
    assert refused("token", "9999") in warning
    assert "token" not in at.query_params
    assert any("Type or paste some text" in i.value for i in at.info)


def test_generate_on_an_encoder_writes_its_url_before_it_stops():
    at = helpers.run_page("app_pages/generate.py", model="minilm-l6", mode="sample", top_k="9999", seed="7")
    assert at.button(key="gen_switch")  # the page ended at its encoder branch (b.stop())
    assert not [r for r in at.radio if r.key == "mode"]  # nothing after it was drawn (the Method picker)
    [warning] = [w for w in warnings(at) if "top_k=" in w]
    assert refused("top_k", "9999") in warning and f"must be between 0 and {sr.TOP_K_MAX}" in warning
    assert "top_k" not in at.query_params
    assert at.query_params["mode"] == "sample" and at.query_params["seed"] == "7"


def _shown(v) -> str:
    """A number as a link writes it (Streamlit sends every widget bound as a float: 200.0 is "200")."""
    return f"{v:g}"


def _check_ranges(page: str, server_toggle: str, widgets: dict[str, str], at_max: dict[str, str],
                  **extra: str) -> dict[str, tuple]:
    """``widgets``: URL parameter -> the AppTest kind of its widget (keyed by the parameter's name) on the server
    path (``server_toggle`` on). A link with every parameter at its widget's max is accepted as it is; one step
    past the max is refused, and the reason names the widget's own range. Returns name -> (min, max, step)."""
    at = helpers.run_page(page, **extra, **at_max)
    assert not [w for w in warnings(at) if "was not used" in w], warnings(at)
    at.toggle(key=server_toggle).set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    ranges = {}
    for name, kind in widgets.items():
        w = getattr(at, kind)(key=name)
        ranges[name] = (w.min, w.max, w.step)
        assert w.value == pytest.approx(w.max) and at_max[name] == _shown(w.max), name
    past = {n: _shown(hi + step) for n, (lo, hi, step) in ranges.items()}
    at = helpers.run_page(page, **extra, **past)
    shown = warnings(at)
    for name, (lo, hi, _step) in ranges.items():
        [w] = [w for w in shown if refused(name, past[name]) in w]
        assert f"must be between {_shown(lo)} and {_shown(hi)}" in w, w
    return ranges


def test_next_token_sliders_have_the_range_of_their_url_parameters():
    ranges = _check_ranges("app_pages/next_token.py", "nt_server",
                           {"temperature": "slider", "top_k": "slider", "top_p": "slider"},
                           {"temperature": _shown(sr.TEMPERATURE_MAX), "top_k": str(sr.TOP_K_MAX), "top_p": "1"},
                           model="smollm2-135m", text=FRANCE)
    assert ranges["temperature"][:2] == (0, sr.TEMPERATURE_MAX) and ranges["top_k"][:2] == (0, sr.TOP_K_MAX)
    # the browser component's sliders (the default path) get the same numbers
    at = helpers.run_page("app_pages/next_token.py", model="smollm2-135m", text=FRANCE)
    [el] = [el for el in at.get("component_instance") if el.proto.component_name.endswith(".sampling_redraw")]
    limits = json.loads(el.proto.json_args)["limits"]
    assert (limits["t_max"], limits["t_step"], limits["k_max"], limits["p_step"]) == pytest.approx(
        (ranges["temperature"][1], ranges["temperature"][2], ranges["top_k"][1], ranges["top_p"][2]))


def test_generate_widgets_have_the_range_of_their_url_parameters():
    ranges = _check_ranges("app_pages/generate.py", "gen_server",
                           {"temperature": "slider", "top_k": "number_input", "top_p": "slider",
                            "max_new_tokens": "number_input", "beams": "slider"},
                           {"temperature": _shown(sr.TEMPERATURE_MAX), "top_k": str(sr.TOP_K_MAX), "top_p": "1",
                            "max_new_tokens": str(MAX_NEW_TOKENS), "beams": "5"},
                           model="smollm2-135m", text=FRANCE, mode="compare")
    assert ranges["top_k"][:2] == (0, sr.TOP_K_MAX) and ranges["max_new_tokens"][:2] == (1, MAX_NEW_TOKENS)
    assert ranges["temperature"][2] == pytest.approx(0.05) and ranges["beams"][:2] == (2, 5)
