"""The tree's layering, read from every module's import statements (AST, nothing is imported):

    app.py / serve.py -> app_pages -> components -> models, classroom -> i18n
    bench/ and tests/ stand beside the app and never import each other (the command line is their interface).

models/ (the teaching core) and classroom/ (the class store) never import streamlit, components or the pages, so
they can be read, reused and tested without a server; i18n imports nothing of the app."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# package -> top-level names its modules must not import
FORBIDDEN = {
    "models": {"streamlit", "components", "app_pages", "app", "bench", "tests", "classroom"},
    "classroom": {"streamlit", "components", "app_pages", "app", "bench", "tests"},
    "components": {"app_pages", "app", "bench", "tests"},
    "i18n": {"streamlit", "components", "app_pages", "app", "models", "bench", "tests", "classroom"},
    "bench": {"tests"},
    "tests": {"bench"},
}


def imported(path: Path) -> set[str]:
    """Top-level module names imported anywhere in the file (also inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            out.add(node.args[0].value.split(".")[0])
    return out


def modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package):
    if not (REPO / package).is_dir():
        pytest.skip(f"{package}/ does not exist")
    bad = {str(p.relative_to(REPO)): sorted(imported(p) & FORBIDDEN[package]) for p in modules(package)}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad


def test_the_rule_sees_imports_inside_functions(tmp_path):
    """The check is not vacuous: a lazy import inside a function counts, as does __import__("...")."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import streamlit as st\n    from components.x import y\n    __import__('bench.run')\n")
    assert imported(f) == {"streamlit", "components", "bench"}
