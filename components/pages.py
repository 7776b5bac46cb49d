"""The app's pages: ONE table. app.py builds its navigation from it, links to a page pass that page's st.Page
object (st.page_link), and presets and the tour turn a URL path into the page through it.

The scripts live in app_pages/ and are listed here rather than discovered: with st.navigation Streamlit routes only
the pages it is given, in this order. A URL path need not be the file's name (/class is class_room.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from i18n import N_, _

_RUN_PAGES = "_pages_of_this_run"


@dataclass(frozen=True)
class PageSpec:
    file: str  # the script, as st.Page and AppTest.switch_page know it
    url_path: str  # the path in the address bar ("" is the home page)
    title: str  # N_-marked: translated when the page objects are made
    icon: str
    summary: str = ""  # N_-marked: the Overview's line about it ("" = not listed there)


TABLE: tuple[PageSpec, ...] = (
    PageSpec("app_pages/home.py", "", N_("Overview"), ":material/home:"),
    PageSpec("app_pages/tokens.py", "tokens", N_("Tokens"), ":material/token:",
             N_("Tokens: how text becomes pieces and ids")),
    PageSpec("app_pages/embeddings.py", "embeddings", N_("Embeddings"), ":material/scatter_plot:",
             N_("Embeddings: ids become vectors, and geometry carries meaning")),
    PageSpec("app_pages/similarity.py", "similarity", N_("Similarity"), ":material/compare_arrows:",
             N_("Similarity: compare words, sentences and one word in two contexts")),
    PageSpec("app_pages/attention.py", "attention", N_("Attention"), ":material/hub:",
             N_("Attention: which tokens each token reads, head by head, q·k step by step")),
    PageSpec("app_pages/next_token.py", "next-token", N_("Next token"), ":material/bar_chart:",
             N_("Next token: logits, softmax, temperature, top-k and top-p")),
    PageSpec("app_pages/block.py", "block", N_("Inside a block"), ":material/layers:",
             N_("Inside a block: the residual stream, the MLP, and which heads and MLPs made the prediction")),
    PageSpec("app_pages/generate.py", "generate", N_("Generate"), ":material/auto_awesome:",
             N_("Generate: greedy, sampling and beam search, token by token")),
    PageSpec("app_pages/glossary.py", "glossary", N_("Glossary"), ":material/menu_book:",
             N_("Glossary: the words used in this app")),
    PageSpec("app_pages/class_room.py", "class", N_("Class"), ":material/groups:",
             N_("Class: lead a class on their own screens, and let it predict before the model reveals")),
)
FILES: dict[str, str] = {p.url_path: p.file for p in TABLE}  # url path -> page file
BY_FILE: dict[str, PageSpec] = {p.file: p for p in TABLE}


def make() -> list:
    """This run's st.Page objects, titles in the session's language; kept so that links can use them."""
    pages = [st.Page(p.file, title=_(p.title), icon=p.icon, url_path=p.url_path or "home", default=not p.url_path)
             for p in TABLE]
    st.session_state[_RUN_PAGES] = dict(zip((p.file for p in TABLE), pages))
    return pages


def page(file_or_path: str):
    """The st.Page object of this run for a page file or URL path (the file itself outside app.py's runs)."""
    file = FILES.get(file_or_path, file_or_path)
    return st.session_state.get(_RUN_PAGES, {}).get(file, file)
