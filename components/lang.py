"""The session's language: ``lang=en|zh`` in the URL and a switch at the top of the sidebar.

i18n (pure) asks this module for the language of the session whose script is running; threads without a
session (the generation engine, model loading in the background) get English.
"""
from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import i18n
from components import state

LANG = state.Param("lang", i18n.DEFAULT, state.choice(*i18n.LANGUAGES))


def _session_language() -> str:
    if get_script_run_ctx() is None:
        return i18n.DEFAULT
    return st.session_state.get(LANG.name, i18n.DEFAULT)


i18n.use_language_getter(_session_language)


def seed() -> None:
    """Read ``lang`` from the link (once per session) before any other text is drawn."""
    state.seed([LANG])


def picker() -> None:
    """The language switch (labels in both languages, so anyone can find it)."""
    st.segmented_control("Language · 语言", list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get, key=LANG.name,
                         required=True, on_change=state.forget_warning, args=(LANG.name,))
