"""One shape for every page and one place for every bound (issue #21): a number's Param builds its URL parser and
its widget's range from the same lo/hi; the page body runs inside ``with state.bound(...) as b:`` and ends early
with ``b.stop()``; the sampling ranges and the 512-token cap are defined once. The AppTests of the same rules are
tests/app/test_bound_page.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from components import sampling_redraw as sr
from components import state

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted((REPO / "app_pages").glob("*.py"))


# ------------------------------------------------------------------------------------------- Param bounds
def test_a_whole_number_param_parses_exactly_its_bounds():
    p = state.Param("k", 5, lo=0, hi=10, below="counted from 0")
    assert p.parse("0") == 0 and p.parse("10") == 10 and p.parse(" 7 ") == 7
    for bad, reason in (("11", "must be between 0 and 10"), ("-1", "counted from 0"), ("2.5", "not a whole number")):
        with pytest.raises(state.BadParam, match=reason):
            p.parse(bad)
    assert p.bounds() == {"min_value": 0, "max_value": 10}  # no step: Streamlit's own (1)


def test_a_float_default_makes_a_decimal_param_with_float_bounds():
    """Streamlit's rule for its number widgets: the type of the values decides, so the bounds become floats."""
    p = state.Param("t", 1.0, lo=0, hi=2, step=0.05)
    assert p.parse("1.25") == 1.25 and p.parse("2") == 2.0
    with pytest.raises(state.BadParam, match="must be between 0 and 2"):
        p.parse("2.05")
    with pytest.raises(state.BadParam, match="not a decimal number"):
        p.parse("1e0")
    bounds = p.bounds()
    assert bounds == {"min_value": 0.0, "max_value": 2.0, "step": 0.05}
    assert all(isinstance(v, float) for v in bounds.values())


def test_a_widget_may_narrow_its_params_range_to_the_data_shown():
    """A slider over the text's tokens or a corpus's merges: a narrower range this run, the link's range unchanged."""
    p = state.Param("step", 0, lo=0, hi=64)
    assert p.bounds(lo=1, hi=10) == {"min_value": 1, "max_value": 10} and p.bounds(hi=5)["min_value"] == 0
    assert p.parse("64") == 64  # the Param's own range still reads the link
    for lo, hi in ((1, 65), (-1, 10), (5, 4)):
        with pytest.raises(ValueError, match="not inside its bounds"):
            p.bounds(lo=lo, hi=hi)
    t = state.Param("t", 1.0, lo=0, hi=2, step=0.05)
    assert t.bounds(hi=1) == {"min_value": 0.0, "max_value": 1.0, "step": 0.05}
    assert isinstance(t.bounds(hi=1)["max_value"], float)


def test_a_range_has_one_source():
    with pytest.raises(TypeError, match="built from lo and hi"):
        state.Param("k", 0, state.int_in(0, 9), lo=0, hi=9)
    with pytest.raises(TypeError, match="both lo and hi"):
        state.Param("k", 0, lo=0)
    with pytest.raises(TypeError, match="parser or bounds"):
        state.Param("k", 0)
    with pytest.raises(TypeError, match="no bounds"):
        state.Param("w", "a", state.choice("a", "b")).bounds()


def test_the_sampling_limits_are_the_params_bounds():
    t = state.Param("temperature", 1.0, lo=0.0, hi=sr.TEMPERATURE_MAX, step=0.05)
    k = state.Param("top_k", 0, lo=0, hi=sr.TOP_K_MAX)
    p = state.Param("top_p", 1.0, lo=0.0, hi=1.0, step=0.01)
    limits = sr.Limits.of(t, k, p)
    assert limits.as_dict() == {"t_max": t.hi, "t_step": 0.05, "k_max": k.hi, "p_step": 0.01}
    # the browser's sliders start at 0 and top-p is a probability: a Param that says otherwise is refused
    with pytest.raises(ValueError):
        sr.Limits.of(t, k, state.Param("top_p", 1.0, lo=0.0, hi=2.0, step=0.01))
    with pytest.raises(ValueError):
        sr.Limits.of(state.Param("temperature", 1.0, lo=0.0, hi=2.0), k, p)  # no step for the slider


# ------------------------------------------------------------------------------------------- page shape
def _calls(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _is(call: ast.Call, obj: str, attr: str) -> bool:
    f = call.func
    return isinstance(f, ast.Attribute) and f.attr == attr and isinstance(f.value, ast.Name) and f.value.id == obj


def _defines_params(source: str) -> bool:
    return "state.Param(" in source


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_a_page_with_params_runs_its_body_in_one_bound_block(path):
    source = path.read_text()
    if not _defines_params(source):
        pytest.skip(f"{path.name} has no URL parameters")
    tree = ast.parse(source)
    bound = [n for n in tree.body if isinstance(n, ast.With) and any(
        isinstance(i.context_expr, ast.Call) and _is(i.context_expr, "state", "bound") for i in n.items)]
    assert len(bound) == 1, "one top-level `with state.bound(...) as b:`"
    # the body is the page: after the block only nothing, before it only definitions and the from_link checks
    assert tree.body[-1] is bound[0]
    # never a bare st.stop() (nothing can be written after it) and never a second seed
    assert not [c for c in _calls(tree) if _is(c, "st", "stop")], "end a run early with b.stop()"
    assert not [c for c in _calls(tree) if _is(c, "state", "seed")]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_a_number_widget_draws_its_params_bounds(path):
    """Every slider or number input of a page with URL parameters gets its range from a Param (``**P.bounds()``),
    and no page builds a number parser by hand (int_in / float_in: the Param's lo and hi build it)."""
    source = path.read_text()
    if not _defines_params(source):
        pytest.skip(f"{path.name} has no URL parameters")
    tree = ast.parse(source)
    widgets = [c for c in _calls(tree) if isinstance(c.func, ast.Attribute) and c.func.attr in ("slider", "number_input")]
    assert widgets or path.name in ("home.py", "tokens.py"), "the test sees the widgets"
    for c in widgets:
        spread = [k.value for k in c.keywords if k.arg is None]
        assert len(spread) == 1 and isinstance(spread[0], ast.Call) and spread[0].func.attr == "bounds", \
            f"{path.name}:{c.lineno}: the range comes from a Param"
        assert len(c.args) == 1, f"{path.name}:{c.lineno}: no min/max/step written next to the Param's"
        assert not {"min_value", "max_value", "step"} & {k.arg for k in c.keywords}
    assert not [c for c in _calls(tree) if _is(c, "state", "int_in") or _is(c, "state", "float_in")]


COMPONENTS = sorted(p for p in (REPO / "components").glob("*.py") if p.name != "state.py")


def _hand_made_ranges(source: str) -> list[str]:
    """Where a module builds a number's range by hand: an int_in / float_in parser, or a slider / number input
    holding a Param (``key=P.name``) whose range is not that Param's (``**P.bounds()``, narrowed at most to the data
    shown) or has a min, max or step written beside it."""
    out = []
    for c in _calls(ast.parse(source)):
        if _is(c, "state", "int_in") or _is(c, "state", "float_in"):
            out.append(f"{c.lineno}: a parser by hand (give the Param lo and hi)")
        if not (isinstance(c.func, ast.Attribute) and c.func.attr in ("slider", "number_input")):
            continue
        key = next((k.value for k in c.keywords if k.arg == "key"), None)
        if not (isinstance(key, ast.Attribute) and key.attr == "name"):
            continue  # a widget that is no URL parameter (a class exercise's answer)
        spread = [k.value for k in c.keywords if k.arg is None]
        if not (len(spread) == 1 and isinstance(spread[0], ast.Call) and getattr(spread[0].func, "attr", "") == "bounds"):
            out.append(f"{c.lineno}: the range does not come from the Param")
        elif len(c.args) != 1 or {"min_value", "max_value", "step"} & {k.arg for k in c.keywords}:
            out.append(f"{c.lineno}: a min, max or step beside the Param's")
    return out


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.name)
def test_a_components_params_are_bounded_and_draw_their_bounds(path):
    """A section in components/ (the KV cache, 100 samples, BPE) follows the pages' rule."""
    assert _hand_made_ranges(path.read_text()) == [], path.name


def test_the_component_rule_sees_a_hand_made_range():
    bad = ('SEED = state.Param("seed", 0, state.int_in(0, 9))\n'
           'st.number_input("Seed", 0, 9, key=SEED.name)\n'
           'st.slider("N", **N.bounds(), step=2, key=N.name)\n'
           'st.slider("Free", 0, 9, key="free")\n')  # no Param: not the rule's business
    assert sorted(m.split(":")[0] for m in _hand_made_ranges(bad)) == ["1", "2", "3"]
    assert _hand_made_ranges('st.slider("N", **N.bounds(hi=len(xs)), key=N.name)\n') == []


# ------------------------------------------------------------------------------------- defined once
def _assignments(name: str) -> list[str]:
    out = []
    for package in ("app_pages", "components", "models", "serving"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    out.append(str(path.relative_to(REPO)))
    return out


@pytest.mark.parametrize("name, home", [("TOP_K_MAX", "components/sampling_redraw.py"),
                                        ("TEMPERATURE_MAX", "components/sampling_redraw.py"),
                                        ("MAX_TOKENS", "models/tokens.py"),
                                        ("MAX_SEED", "models/generation.py")])
def test_each_shared_limit_is_defined_once(name, home):
    assert _assignments(name) == [home]


def test_the_prompt_cap_is_the_analysis_cap():
    from models.generation import MAX_PROMPT_TOKENS
    from models.tokens import MAX_TOKENS

    assert MAX_PROMPT_TOKENS == MAX_TOKENS
    source = (REPO / "models/generation.py").read_text()
    assert "MAX_PROMPT_TOKENS = MAX_TOKENS" in source  # the same name, not a second 512
