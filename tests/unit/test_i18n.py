"""The message catalogue: every message id in the code has a Chinese translation that keeps its placeholders and
Markdown, and the right language reaches the right session."""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

import i18n
from i18n import tools


@pytest.fixture(scope="module")
def catalog():
    return tools.read(i18n.po_path("zh"), "zh")


@pytest.fixture(scope="module")
def extracted():
    return tools.extract()


def _key(m) -> str:
    return m.id if isinstance(m.id, str) else m.id[0]


def _pairs(m) -> list[tuple[str, str]]:
    """(source, translation) pairs of an entry; a plural entry pairs its plural form with each translated form
    (Chinese has one form)."""
    if isinstance(m.id, str):
        return [(m.id, m.string)]
    return [(m.id[-1], s) for s in m.string]


def _fields(text: str) -> list[str]:
    return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None)


def test_every_message_in_the_code_is_translated(catalog, extracted):
    missing = [_key(m) for m in extracted if m.id and (_key(m) not in catalog
                                                     or not all(t for _, t in _pairs(catalog[_key(m)])))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not missing, f"{len(missing)} untranslated (run `make messages`), e.g. {missing[:5]}"
    assert not fuzzy, f"fuzzy entries are not used: {fuzzy[:5]}"
    assert len(extracted) > 100  # the extractor really found the app's words


def test_catalogue_holds_no_stale_entries(catalog, extracted):
    stale = [_key(m) for m in catalog if m.id and _key(m) not in extracted]
    assert not stale, f"ids no longer in the code (run `make messages`): {stale[:5]}"


def test_translations_keep_placeholders_code_and_markdown(catalog):
    bad = []
    for m in catalog:
        for source, text in _pairs(m) if m.id else ():
            if not text:
                continue
            if _fields(source) != _fields(text):
                bad.append(("placeholders", source))
            for mark in ("**", "](", "\n"):
                if source.count(mark) != text.count(mark):
                    bad.append((mark, source))
            # code spans (tokens, commands, markers) are kept verbatim; a translation may add its own (an English
            # example word shown as code next to its gloss)
            bad += [("`", source) for span in re.findall(r"`[^`]+`", source) if span not in text]
    assert not bad, bad[:5]


def test_translations_are_chinese(catalog):
    """A msgstr that is the English msgid again (copied, not translated) is caught unless it is a bare name."""
    pairs = [pair for m in catalog if m.id for pair in _pairs(m) if pair[1]]
    copied = [source for source, text in pairs if text == source and len(source.split()) > 1]
    assert not copied, copied[:5]
    english = [text for source, text in pairs
               if len(_words(source)) > 2 and not any("\u4e00" <= c <= "\u9fff" for c in text)]
    assert not english, f"sentences without any Chinese character: {english[:5]}"


def _words(text: str) -> list[str]:
    """English words of prose: placeholders and code spans left out."""
    return re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}|`[^`]*`", " ", text))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_"):
            yield node


def test_no_fstring_inside_gettext():
    """`_(f"...")` can never be found in the catalogue: the code uses named placeholders and .format()."""
    bad = []
    for path in tools.source_files():
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        for call in _calls(tree):
            if call.args and isinstance(call.args[0], ast.JoinedStr):
                bad.append(f"{path.relative_to(tools.ROOT)}:{call.lineno}")
    assert not bad, bad


def test_language_follows_the_getter():
    try:
        i18n.use_language_getter(lambda: "zh")
        assert i18n._("Attention") == "注意力"
        assert i18n._("a string that is not in the catalogue") == "a string that is not in the catalogue"
        i18n.use_language_getter(lambda: "xx")  # unknown code: English
        assert i18n.language() == "en" and i18n._("Attention") == "Attention"
    finally:
        i18n.use_language_getter(lambda: i18n.DEFAULT)


def test_error_is_translated_when_shown_not_when_raised():
    from models.registry import NotAModel, inspect_local

    with pytest.raises(NotAModel) as info:  # raised while the language is English...
        inspect_local("/nonexistent/folder")
    try:
        i18n.use_language_getter(lambda: "zh")  # ...shown to a Chinese session
        assert str(info.value) == "/nonexistent/folder 不是一个目录。"
    finally:
        i18n.use_language_getter(lambda: i18n.DEFAULT)
    assert str(info.value) == "/nonexistent/folder is not a directory."
