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
