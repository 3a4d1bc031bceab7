"""The static import graph of the project's two packages: no circles, and gm_lib never imports gm_build.

Every ``import`` counts, also inside functions (a lazy import is still a dependency, and hiding one direction of
a circle in a function is how circles survive); ``if TYPE_CHECKING:`` blocks do not. ``from pkg import name``
counts as the module that defines ``name`` (followed through ``pkg/__init__``'s re-exports), so a package that
re-exports its submodules is not a circle by itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("gm_lib", "gm_build")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _imports(ast.Module(body=[child], type_ignores=[])))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            yield from _imports(node)


def _absolute(node: ast.ImportFrom, importer: str) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _defining_module(package: str, name: str, depth: int = 0) -> str:
    """Where ``from package import name`` leads: the submodule, the re-exported name's module, or the package."""
    if f"{package}.{name}" in MODULES:
        return f"{package}.{name}"
    if MODULES[package].name == "__init__.py" and depth < 10:
        for node in _imports(ast.parse(MODULES[package].read_text())):
            if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                source = _absolute(node, package)
                if source in MODULES:
                    return _defining_module(source, name, depth + 1) if source != package else package
    return package


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                source = _absolute(node, module)
                targets = [_defining_module(source, a.name) for a in node.names] if source in MODULES else [source]
            for target in targets:
                while target and target not in MODULES:
                    target = target.rpartition(".")[0]
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert _circles(_edges()) == []


def test_the_library_imports_nothing_from_the_tool():
    crossing = {m: sorted(t for t in targets if t.startswith("gm_build"))
                for m, targets in _edges().items() if m.startswith("gm_lib")}
    assert {m: t for m, t in crossing.items() if t} == {}


def test_the_check_finds_a_circle_and_a_crossing():
    graph = {"gm_lib.a": {"gm_lib.b"}, "gm_lib.b": {"gm_lib.a"}, "gm_lib.c": {"gm_build.x"}, "gm_build.x": set()}
    assert _circles(graph) == [["gm_lib.a", "gm_lib.b"]]
    assert "gm_build.report.run" in _edges()["gm_build.report.cli"]  # a real edge is seen
    assert "gm_lib.celeba" in _edges()["gm_lib.data"]
