"""The app's words in English and Simplified Chinese, from one gettext catalogue (Babel).

English source strings are the message ids. The Chinese catalogue is ``i18n/locales/zh/LC_MESSAGES/messages.po``;
it is compiled in memory on first use, so there is no build step and no stale ``.mo`` file. ``make messages``
re-extracts the ids from the code (``pybabel``'s Python extractor) and merges them into the ``.po``.

Conventions (the extractor finds ``_``, ``N_`` and ``ngettext``):
- ``_("Layer {layer} of {n}").format(layer=..., n=...)``: named placeholders, so a translation may reorder them;
  never an f-string inside ``_()`` (it could not be looked up).
- Text defined at import time (tables of presets, tour steps, glossary entries) is marked with ``N_`` and
  translated with ``_`` where it is shown: import happens once per process, the language is per session.

This module does not import streamlit: ``models/`` may use it. The app installs the function that tells the
current session's language (:func:`use_language_getter`); outside a session the language is English.
"""
from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path
from typing import Callable

LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT = "en"
DOMAIN = "messages"
LOCALES = Path(__file__).parent / "locales"

_language_getter: Callable[[], str] = lambda: DEFAULT  # noqa: E731


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def use_language_getter(getter: Callable[[], str]) -> None:
    """Install the function that returns the current session's language code."""
    global _language_getter
    _language_getter = getter


def language() -> str:
    lang = _language_getter()
    return lang if lang in LANGUAGES else DEFAULT


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English: the ids themselves). Fuzzy entries are not used."""
    if lang == DEFAULT or not po_path(lang).exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def _(message: str) -> str:
    """``message`` in the current session's language."""
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(language()).ngettext(singular, plural, n)


def sentences(*parts: str) -> str:
    """Sentences of one paragraph: separated by a space in English, run together in Chinese (its full-width
    punctuation carries the spacing). Empty parts are left out."""
    return ("" if language() == "zh" else " ").join(p for p in parts if p)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (translate with ``_`` when shown)."""
    return message


class Error(Exception):
    """An exception whose one-sentence message is a catalogue entry, translated when it is shown (``str(e)``), in
    the language of the session that shows it: ``raise NotAModel(N_("{folder} is not a directory."), folder=p)``.
    The English text stays in ``e.template`` / ``e.args``."""

    def __init__(self, template: str, **values: object) -> None:
        super().__init__(template.format(**values) if values else template)
        self.template, self.values = template, values

    def __str__(self) -> str:
        text = _(self.template)
        return text.format(**self.values) if self.values else text
