"""The harness table stays true to the pages: every registered page is in it, with the parameters its
script defines (read from the source: importing a page script would run Streamlit)."""
from __future__ import annotations

import re
from pathlib import Path

from tests.fuzz.pages import ATTENTION_VIEWS, PAGES, Choice

REPO = Path(__file__).resolve().parents[2]


def test_every_registered_page_is_in_the_table():
    from components.pages import TABLE  # app.py's navigation is built from this table

    assert sorted(p.file for p in TABLE) == sorted(p.file for p in PAGES)


def page_sources(file: str) -> str:
    """The page script and the components it imports (a section such as components/bpe_view.py defines the URL
    parameters of the page that draws it)."""
    source = (REPO / file).read_text()
    names = set(re.findall(r"^from components\.([a-z_]+) import", source, re.M))
    for group in re.findall(r"^from components import ([a-z_, ]+)$", source, re.M):
        names |= {n.strip() for n in group.split(",")}
    return source + "".join((REPO / "components" / f"{n}.py").read_text() for n in sorted(names)
                            if (REPO / "components" / f"{n}.py").exists())


def test_each_page_lists_the_params_its_script_defines():
    for page in PAGES:
        defined = set(re.findall(r'state\.Param\(\s*"([a-z_]+)"', page_sources(page.file)))
        assert defined == set(page.params), (page.file, defined ^ set(page.params))


def test_copied_choices_match_the_sources():
    from models.attention import STATS
    from models.generation import MODES

    source = (REPO / "app_pages/attention.py").read_text()
    views = re.search(r"VIEWS = \{(.*?)\n\}", source, re.S).group(1)
    assert tuple(re.findall(r'"([a-z-]+)":', views)) == ATTENTION_VIEWS
    by_name = {p.id: p for p in PAGES}
    assert by_name["attention"].params["stat"] == Choice(*STATS)
    assert by_name["generate"].params["mode"] == Choice(*MODES)


def test_numbers_are_read_from_the_params_that_parse_them():
    """The table's numbers come from the pages' Params (script_numbers reads a page script's source; numbers()
    takes a component's Params): spot checks against the shared constants they are written with."""
    from components import sampling_redraw as sr
    from models import bpe, kv_cache, many_samples
    from models.generation import MAX_NEW_TOKENS, MAX_SEED
    from models.tokens import MAX_TOKENS
    from tests.fuzz.pages import HEADS, KV_HEADS, LAYERS, Float, Int, page

    assert page("tokens").params["token"] == Int(0, MAX_TOKENS - 1)
    assert page("tokens").params["bpe_merges"] == Int(0, bpe.MAX_MERGES)
    assert page("block").params["position"] == Int(-1, MAX_TOKENS - 1)
    assert page("attention").params["layer"] == Int(1, LAYERS) and page("attention").params["head"] == Int(1, HEADS)
    for p in (page("next-token"), page("generate")):
        assert p.params["temperature"] == Float(0.0, sr.TEMPERATURE_MAX)
        assert p.params["top_k"] == Int(0, sr.TOP_K_MAX) and p.params["top_p"] == Float(0.0, 1.0)
    assert page("next-token").params["seed"] == Int(0, MAX_SEED - many_samples.N_SAMPLES)
    assert page("generate").params["seed"] == Int(0, MAX_SEED)
    assert page("generate").params["max_new_tokens"] == Int(1, MAX_NEW_TOKENS)
    assert page("generate").params["kv_head"] == Int(1, KV_HEADS)
    assert page("generate").params["kv_step"] == Int(0, kv_cache.MAX_STEP_TOKENS)
