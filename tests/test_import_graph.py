"""The module import graph of ``llmops/`` has no cycles, and sub-commands never import the root.

The graph is read from the source with ``ast`` (no module is imported): an edge for every
``import`` / ``from ... import`` anywhere in a module — at the top, inside a function, or under
``if TYPE_CHECKING:`` — to the ``llmops`` module it names (``from pkg import name`` counts as an
edge to ``pkg.name`` when that is a module, else to ``pkg``). A package's ``__init__`` is its own
node. A cycle of any length fails, and the message names the modules and the lines.

How to break a cycle: move what both sides need into a third module (``llmops.evals.registry``
for the evaluators and the judge), pass values instead of the object that owns them
(``OnlineEvaluator.from_settings``), or look a plug-in up by name (``importlib``) from a list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "llmops"


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is_package) for every module under ``package``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Module -> {imported module: first line}, for the modules of ``package`` only."""
    modules = _modules(package)

    def owner(name: str) -> str | None:  # the longest prefix of ``name`` that is a module
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_pkg) in modules.items():
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [owner(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                targets = [
                    f"{source}.{a.name}" if f"{source}.{a.name}" in modules else owner(source)
                    for a in node.names
                ]
            for target in targets:
                if target and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(component)
    links = [
        f"{a} -> {b} (line {line})"
        for a in component
        for b, line in sorted(graph[a].items())
        if b in members
    ]
    return "; ".join(links)


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    found = cycles(graph)
    assert not found, "import cycles in llmops/:\n" + "\n".join(_describe(c, graph) for c in found)


def test_sub_commands_do_not_import_the_root_command() -> None:
    graph = import_graph()
    offenders = [m for m, edges in graph.items() if "llmops.cli" in edges]
    assert not offenders, f"import llmops.cli (use llmops.cliutil): {offenders}"


def test_every_registered_group_loads_with_the_help_the_root_lists() -> None:
    """``llmops --help`` lists the groups from ``GROUPS`` without importing them: each entry
    names a Typer app that exists, and its one-line help is the app's own."""
    import importlib

    import typer

    from llmops.cli import GROUPS

    for name, target, short_help in GROUPS:
        module, _, attr = target.partition(":")
        sub = getattr(importlib.import_module(module), attr)
        assert isinstance(sub, typer.Typer), (name, target)
        assert sub.info.help == short_help, name


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"a.py": "import pkg.b\n", "b.py": "from pkg import a\n"}, [["pkg.a", "pkg.b"]]),
        (  # a longer cycle through a function-level import and a TYPE_CHECKING one
            {
                "a.py": "from pkg.b import x\n",
                "b.py": "def f():\n    from pkg import c\n",
                "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from .a import y\n",
            },
            [["pkg.a", "pkg.b", "pkg.c"]],
        ),
        ({"a.py": "import pkg.b\n", "b.py": "import os\n"}, []),
    ],
)
def test_the_check_finds_cycles(tmp_path: Path, files: dict[str, str], expected: object) -> None:
    """The checker itself: a two-way import and a three-module cycle are found."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert cycles(import_graph(pkg)) == expected


# (importer prefix, imported prefix, how they talk instead)
ONE_WAY = [
    ("llmops.tracing", "llmops.monitoring", "monitoring hooks in through llmops.tracing.hooks"),
    ("llmops.guards", "llmops.chat", "the chat uses llmops.guards.results, not the reverse"),
    ("llmops.tracing.writer", "llmops.tracing.handler", "both use llmops.tracing.runs"),
]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("importer, imported, instead", ONE_WAY)
def test_dependencies_point_one_way(importer: str, imported: str, instead: str) -> None:
    graph = import_graph()
    wrong = [
        f"{a} -> {b} (line {line})"
        for a, edges in graph.items()
        if _under(a, importer)
        for b, line in edges.items()
        if _under(b, imported)
    ]
    assert not wrong, f"{importer} must not import {imported} ({instead}): {wrong}"


def test_nothing_outside_the_ui_imports_it() -> None:
    """Jobs (``llmops.evals.jobs``), logic and the CLI live outside ``llmops.ui``, which
    starts and renders them; nothing imports the UI back."""
    graph = import_graph()
    wrong = [
        f"{a} -> {b}"
        for a, edges in graph.items()
        if not _under(a, "llmops.ui")
        for b in edges
        if _under(b, "llmops.ui")
    ]
    assert not wrong, wrong


def test_only_llmops_ui_imports_streamlit() -> None:
    offenders = []
    for name, (path, _) in _modules(PACKAGE).items():
        if _under(name, "llmops.ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(f"{name} (line {node.lineno})")
    assert not offenders, offenders
