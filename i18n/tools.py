"""Catalogue upkeep: ``python -m i18n.tools update [part.po ...]`` (what ``make messages`` runs).

update: extract every message id from the app's code (Babel's Python extractor, keywords ``_``, ``N_``,
``ngettext``), merge them into the Chinese ``.po`` (ids no longer in the code are dropped, new ones added
empty), take translations from the given part files (``.po`` files with msgid/msgstr pairs, e.g. from a
translator), write the catalogue back and list what is still untranslated. An exclusive lock makes concurrent
runs safe.
"""
from __future__ import annotations

import fcntl
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from i18n import DOMAIN, LANGUAGES, po_path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("app.py", "serve.py", "app_pages", "components", "models", "classroom", "i18n")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def source_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if f.exists()]


def extract() -> Catalog:
    """Every message id in the code, with where it is used."""
    template = Catalog(domain=DOMAIN)
    for path in source_files():
        rel = str(path.relative_to(ROOT))
        for lineno, message, comments, _context in extract_from_file("python", str(path), keywords=KEYWORDS):
            template.add(message, locations=[(rel, lineno)], auto_comments=comments)
    return template


def read(path: Path, lang: str) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def untranslated(catalog: Catalog) -> list[str]:
    out = []
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, (tuple, list)) else (m.string,)
        if m.fuzzy or not all(strings):
            out.append(m.id if isinstance(m.id, str) else m.id[0])
    return out


def update(lang: str, parts: list[Path]) -> list[str]:
    po = po_path(lang)
    po.parent.mkdir(parents=True, exist_ok=True)
    with open(po.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        catalog = read(po, lang) if po.exists() else Catalog(locale=lang, domain=DOMAIN)
        catalog.update(extract(), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        for part in parts:
            for m in read(part, lang):
                if m.id and m.string and m.id in catalog:
                    catalog[m.id].string = m.string
                    catalog[m.id].flags.discard("fuzzy")
        catalog.project, catalog.version = "transformer-explainer", "1"
        catalog.language_team = LANGUAGES[lang]
        tmp = po.with_suffix(".tmp")
        with tmp.open("wb") as f:
            write_po(f, catalog, width=120, sort_by_file=True, omit_header=False)
        tmp.replace(po)
        return untranslated(catalog)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "update":
        print(__doc__)
        return 2
    missing = update("zh", [Path(p) for p in argv[1:]])
    print(f"{po_path('zh')}: {len(missing)} untranslated")
    for m in missing:
        print("  " + m.replace("\n", "\\n")[:110])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
