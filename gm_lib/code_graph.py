"""Which gm_lib code a result depends on: the static import graph, at module granularity.

A cached result (a trained run, a score, FID statistics, a notebook's executed output) is keyed by
the code it ran. Instead of hand-written lists of files that go stale, :func:`module_closure` follows
the ``import`` statements of gm_lib's own modules from a few roots (e.g. the model family's module
and the training engine) and returns every gm_lib module reachable from them. Rules:

* every ``import`` / ``from ... import`` in a module counts, also those inside functions (a lazy
  import is still code the module runs); those under ``if TYPE_CHECKING:`` do not;
* a name imported from a package (``from gm_lib.models import GANConfig``) counts as the module
  that defines it (``gm_lib/models/gan.py``), read from the package's re-exports, so a package that
  gathers every family does not make a run depend on every family;
* package ``__init__.py`` files hold only re-exports (``tests/test_code_graph.py`` checks it), so
  they are not part of any key.

:func:`code_digests` hashes each module's *code*: its syntax tree without docstrings, comments or
layout, so a docstring typo or a reformatted line retrains nothing, while any change of what the
code does (a constant, a default, a line of maths) changes the key.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PACKAGE", "module_path", "imported_modules", "module_closure", "code_digests", "changed_modules",
           "name_modules"]

PACKAGE = Path(__file__).resolve().parent
_ROOT = "gm_lib"


def module_path(name: str) -> Path | None:
    """The file of gm_lib module ``name`` (dotted, e.g. ``gm_lib.models.gan``); a package gives its
    ``__init__.py``; None for a name that is not a gm_lib module."""
    if name != _ROOT and not name.startswith(_ROOT + "."):
        return None
    parts = name.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join((_ROOT, *parts))


@functools.lru_cache(maxsize=512)
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _tree(path: Path) -> ast.Module:
    stat = path.stat()
    return _parse(path, stat.st_mtime_ns, stat.st_size)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement below ``node``, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield from _import_nodes(ast.Module(body=child.orelse, type_ignores=[]))
        else:
            yield from _import_nodes(child)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = importer if is_package else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _reexports(package: str) -> dict[str, str]:
    """``{name: defining module}`` for the names a package's ``__init__`` imports."""
    path = module_path(package)
    found: dict[str, str] = {}
    if path is None or path.name != "__init__.py":
        return found
    for node in _import_nodes(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, package, True)
            for alias in node.names:
                found[alias.asname or alias.name] = source
    return found


def _resolve(module: str, name: str | None, seen: frozenset[tuple[str, str]] = frozenset()) -> set[str]:
    """The gm_lib modules (dotted names, no package inits) that ``from module import name`` reaches."""
    path = module_path(module)
    if path is None:
        return set()
    if path.name != "__init__.py":
        return {module}
    if name is None:  # `import gm_lib.pkg`: anything it re-exports may be used
        return set().union(*(_resolve(source, item, seen) for item, source in _reexports(module).items()))
    if module_path(f"{module}.{name}") is not None:
        return _resolve(f"{module}.{name}", None, seen)
    source = _reexports(module).get(name)
    if source is None or (module, name) in seen or module == _ROOT:
        return set()
    return _resolve(source, name, seen | {(module, name)})


def _direct_imports(module: str) -> set[str]:
    path = module_path(module)
    if path is None:
        return set()
    return _imports_of(_tree(path), module, path.name == "__init__.py")


def imported_modules(source: str) -> set[str]:
    """The gm_lib modules (dotted) that Python ``source`` outside gm_lib imports, names resolved to their modules.

    Lines starting with ``%`` or ``!`` (IPython magics and shell escapes) are skipped.
    """
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    return _imports_of(ast.parse(code), "__main__", False)


def _imports_of(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(_ROOT + "."):
                    found |= _resolve(alias.name, None)
        else:
            source = _absolute(node, module, is_package)
            for alias in node.names:
                found |= _resolve(source, alias.name)
    return found


def module_closure(roots: Iterable[str]) -> tuple[str, ...]:
    """Package-relative paths (``models/gan.py``, ...) of every gm_lib module reachable from ``roots``.

    Args:
        roots: dotted module names (``"gm_lib.models.gan"``); a package root stands for what it re-exports.

    Raises:
        ValueError: a root that is not a gm_lib module.
    """
    todo: list[str] = []
    for root in roots:
        if module_path(root) is None:
            raise ValueError(f"{root!r} is not a gm_lib module: name one such as 'gm_lib.models.gan'")
        todo += sorted(_resolve(root, None))
    done: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in done:
            done.add(module)
            todo += sorted(_direct_imports(module) - done)
    return tuple(sorted(_relative(module_path(m)) for m in done))


def _strip_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=512)
def _code_digest(path: Path, mtime_ns: int, size: int) -> str:
    tree = _strip_docstrings(ast.parse(path.read_text(encoding="utf-8")))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]


def _external_path(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _digest_of(path: Path) -> str:
    stat = path.stat()
    return _code_digest(path, stat.st_mtime_ns, stat.st_size)


def code_digests(roots: Iterable[str]) -> dict[str, str]:
    """``{package-relative path: 16 hex digits}`` of the code of every module in :func:`module_closure`.

    The digest covers the syntax tree without docstrings (comments and layout never reach it). A root outside
    gm_lib (a model config defined in a test or a student's notebook module) adds its own digest, under
    ``"external:<module name>"``, and the gm_lib modules it imports.
    """
    roots = list(roots)
    digests, gm_roots = {}, [r for r in roots if r == _ROOT or r.startswith(_ROOT + ".")]
    for name in (r for r in roots if r not in gm_roots):
        path = _external_path(name)
        if path is None:
            raise ValueError(f"{name!r} has no Python source to key a cache on: define the config in a module file")
        digests[f"external:{name}"] = _digest_of(path)
        gm_roots += sorted(imported_modules(path.read_text(encoding="utf-8")))
    for relative in module_closure(gm_roots):
        digests[relative] = _digest_of(PACKAGE / relative)
    return digests


def changed_modules(recorded: dict[str, str]) -> list[str]:
    """Which of ``recorded`` (a :func:`code_digests` result saved earlier) differ now: edited or removed modules.

    Modules added to the closure since are not listed: a new import shows as an edit of the importer.
    """
    changed = []
    for relative, digest in sorted(recorded.items()):
        path = _external_path(relative.removeprefix("external:")) if relative.startswith("external:") else (
            PACKAGE / relative)
        if path is None or not path.is_file() or _digest_of(path) != digest:
            changed.append(relative)
    return changed


def name_modules(modules: list[str], most: int = 4) -> str:
    """``"gm_lib/a.py, gm_lib/b.py and 3 more"``: a reason's list of changed modules, kept to one short line."""
    named = ", ".join(m if m.startswith("external:") else f"gm_lib/{m}" for m in modules[:most])
    return named + (f" and {len(modules) - most} more" if len(modules) > most else "")
