"""The tree's layering, read from every module's import statements (AST, nothing is imported):

    app.py / serve.py -> app_pages -> components -> models, classroom -> i18n
    bench/ and tests/ stand beside the app and never import each other (the command line is their interface).

models/ (the teaching core) and classroom/ (the class store) never import streamlit, components or the pages, so
they can be read, reused and tested without a server; i18n imports nothing of the app.

Inside models/, components/, serving/, classroom/ and bench/ the modules import each other without a circle, counting imports inside functions
too: a piece two modules share sits in a module below both, so every import can stand at the top of its module
(an import moved into a function to dodge a circle only hides it)."""
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


# ------------------------------------------------------------------------------------------ no circles
def module_name(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def import_graph(package: str, root: Path = REPO) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules of the same package it imports (at the top or inside a function;
    ``from package import module`` and relative imports included)."""
    paths = sorted(p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts)
    names = {module_name(p, root) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        me = module_name(path, root)
        here = me if path.name == "__init__.py" else me.rpartition(".")[0]  # the package relative imports start in
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = here.split(".")[:len(here.split(".")) - (node.level - 1)]
                    base = ".".join(parent + ([node.module] if node.module else []))
                targets.add(base)
                targets |= {f"{base}.{a.name}" for a in node.names}  # `from models import facts`
        graph[me] = {t for t in targets if t in names and t != me}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# package -> at least this many modules (the check found the package's files)
CIRCLE_FREE = {"models": 20, "components": 20, "serving": 3, "classroom": 3, "bench": 10}


@pytest.mark.parametrize("package", sorted(CIRCLE_FREE))
def test_no_import_circles(package):
    graph = import_graph(package)
    assert len(graph) >= CIRCLE_FREE[package], sorted(graph)
    found = cycles(graph)
    assert not found, {" <-> ".join(c): {m: sorted(graph[m] & set(c)) for m in c} for c in found}


def test_the_circle_check_sees_imports_inside_functions(tmp_path):
    """Not vacuous: a circle closed by a function-level import (absolute, `from pkg import mod`, or relative)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("from pkg.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import c\n")
    (pkg / "c.py").write_text("def g():\n    from .a import y\n")
    (pkg / "d.py").write_text("import pkg.a\n")
    graph = import_graph("pkg", tmp_path)
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}, "pkg.d": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    (pkg / "c.py").write_text("def g():\n    import os\n")
    assert cycles(import_graph("pkg", tmp_path)) == []
