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
  they are not part of any key;
* the closure never enters :data:`NOT_KEYED`: plumbing whose code cannot change a result's numbers.

:func:`code_digests` hashes each module's *code*: its syntax tree without docstrings, comments, layout
or the messages of ``raise`` statements (an error message never changes a number: the run stops), so a
docstring typo or a reworded error retrains nothing, while any change of what the code computes (a
constant, a default, a line of maths) changes the key.

Keys name the code that ran. Importing gm_lib records the source of every gm_lib module as this process
compiled it (:func:`install_recorder`, run by ``gm_lib/__init__``; ``importlib.reload`` and IPython's
``%autoreload`` record anew), and digests are taken from that source, not from the file as it is now: a kernel
that imported a loss before it was edited trains the old loss, and its key says so. :func:`check_current`
refuses to save a result when a module it depends on differs on disk from what the process runs. The report's
plan reads the files instead (:func:`reading_disk`): it asks what a fresh kernel would run.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["PACKAGE", "NOT_KEYED", "CodeChanged", "install_recorder", "reading_disk", "module_path",
           "imported_modules", "module_closure", "code_digests", "changed_modules", "check_current", "name_modules"]

PACKAGE = Path(__file__).resolve().parent
_ROOT = "gm_lib"

# Plumbing: how progress is shown, where files live, how a run folder and its checkpoint are kept, how keys are
# computed. None of it changes a number a result holds, so no key covers it and editing it retrains nothing.
NOT_KEYED = frozenset({
    "gm_lib.progress",     # the phase / step line `make report` shows, and the time split
    "gm_lib.code_graph",   # this module
    "gm_lib.paths",        # where data, caches and figures live
    "gm_lib.cache",        # atomic writes and the key's hash
    "gm_lib.checkpoint",   # checkpoint files, RNG capture, config round-trips, snapshots
    "gm_lib.runs",         # run folders and load-or-train (the engine, gm_lib.train, is keyed)
    "gm_lib.saved_configs",  # reading configs and cached values back from files (the registered classes only)
    "gm_lib.machine",      # the CPU's name for the report header
})

_imported: dict[str, bytes] = {}  # dotted gm_lib module -> the source this process compiled for it
_disk: ContextVar[bool] = ContextVar("gm_code_on_disk", default=False)


class CodeChanged(RuntimeError):
    """A module a result depends on differs on disk from the code this process imported: nothing is saved."""


class _RecordingLoader(importlib.machinery.SourceFileLoader):
    """Compiles a gm_lib module from the bytes it records, so the recorded source is exactly the code that runs."""

    def get_code(self, fullname: str):
        source = self.get_data(self.path)
        _imported[fullname] = source
        return self.source_to_code(source, self.path)


class _RecordingFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(_ROOT + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _RecordingLoader(spec.loader.name, spec.loader.path)
        return spec


def install_recorder() -> None:
    """Record the source of every gm_lib module imported from now on (idempotent; ``gm_lib/__init__`` calls it)."""
    if not any(isinstance(finder, _RecordingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RecordingFinder())


@contextmanager
def reading_disk() -> Iterator[None]:
    """Inside, digests and closures read the files on disk, not the code this process imported (the report's
    plan and notebook stamps: what a fresh kernel would run)."""
    token = _disk.set(True)
    try:
        yield
    finally:
        _disk.reset(token)


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
def _read(path: Path, mtime_ns: int, size: int) -> bytes:
    return path.read_bytes()


def _disk_source(path: Path) -> bytes:
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


def _source(module: str, path: Path) -> bytes:
    """The source in force for ``module``: as imported by this process, else (or in :func:`reading_disk`) the file."""
    imported = None if _disk.get() else _imported.get(module)
    return imported if imported is not None else _disk_source(path)


@functools.lru_cache(maxsize=1024)
def _parse(source: bytes) -> ast.Module:
    return ast.parse(source)


def _tree(module: str, path: Path) -> ast.Module:
    return _parse(_source(module, path))


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
    for node in _import_nodes(_tree(package, path)):
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
    return _imports_of(_tree(module, path), module, path.name == "__init__.py")


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


def module_closure(roots: Iterable[str], exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Package-relative paths (``models/gan.py``, ...) of every gm_lib module reachable from ``roots``.

    Args:
        roots: dotted module names (``"gm_lib.models.gan"``); a package root stands for what it re-exports.
        exclude: dotted modules not to enter (nor what only they import), besides :data:`NOT_KEYED`.

    Raises:
        ValueError: a root that is not a gm_lib module.
    """
    skip = NOT_KEYED | set(exclude)
    todo: list[str] = []
    for root in roots:
        if module_path(root) is None:
            raise ValueError(f"{root!r} is not a gm_lib module: name one such as 'gm_lib.models.gan'")
        todo += sorted(_resolve(root, None))
    done: set[str] = set()
    while todo:
        module = todo.pop()
        if module not in done and module not in skip:
            done.add(module)
            todo += sorted(_direct_imports(module) - done)
    return tuple(sorted(_relative(module_path(m)) for m in done))


def _strip_prose(tree: ast.Module) -> ast.Module:
    """Docstrings and the messages of ``raise`` statements out of ``tree`` (the exception's type stays)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            node.exc.args, node.exc.keywords = [], []
    return tree


@functools.lru_cache(maxsize=1024)
def _code_digest(source: bytes) -> str:
    tree = _strip_prose(ast.parse(source))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]


def _dotted(relative: str) -> str:
    return _module_name(PACKAGE / relative)


def _digest_of(relative: str) -> str:
    """Digest of gm_lib module ``relative`` (``losses/elbo.py``) in the source in force (see :func:`_source`)."""
    return _code_digest(_source(_dotted(relative), PACKAGE / relative))


_THIRD_PARTY = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}


def _local_path(name: str) -> Path | None:
    """The ``.py`` file of module ``name`` when it is the user's own code (not gm_lib, the stdlib or a package)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    path = Path(spec.origin).resolve()
    if path.is_relative_to(PACKAGE) or any(path.is_relative_to(root) for root in _THIRD_PARTY):
        return None
    return path


def _external_closure(name: str) -> dict[str, Path]:
    """``{module: file}`` of a root outside gm_lib and of the user's own modules it imports, transitively."""
    found: dict[str, Path] = {}
    todo = [name]
    while todo:
        module = todo.pop()
        if module in found:
            continue
        path = _local_path(module)
        if path is None:
            if module == name:
                raise ValueError(f"{name!r} has no Python source to key a cache on: define the config in a module file")
            continue
        found[module] = path
        for node in _import_nodes(_parse(_disk_source(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif node.module and not node.level:
                todo += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


def code_digests(roots: Iterable[str], exclude: Iterable[str] = ()) -> dict[str, str]:
    """``{package-relative path: 16 hex digits}`` of the code of every module in :func:`module_closure`.

    The digest covers the syntax tree without docstrings and ``raise`` messages (comments and layout never reach
    it), of the source this process imported (:func:`reading_disk`: of the files). A root outside gm_lib (a model
    config defined in a test or a student's notebook module) adds its own digest and those of the user's modules
    it imports, under ``"external:<module name>"``, and the gm_lib modules they import.
    """
    roots = list(roots)
    digests, gm_roots = {}, [r for r in roots if r == _ROOT or r.startswith(_ROOT + ".")]
    for name in (r for r in roots if r not in gm_roots):
        for module, path in _external_closure(name).items():
            source = _disk_source(path)
            digests[f"external:{module}"] = _code_digest(source)
            gm_roots += sorted(imported_modules(source.decode("utf-8")))
    for relative in module_closure(gm_roots, exclude):
        digests[relative] = _digest_of(relative)
    return digests


def _current_digest(relative: str) -> str | None:
    """The digest of ``relative`` as it is on disk now; None when it is gone."""
    if relative.startswith("external:"):  # a name read from a file: never imported, only looked up if loaded
        module = sys.modules.get(relative.removeprefix("external:"))
        path = Path(module.__file__).resolve() if getattr(module, "__file__", None) else None
    else:
        path = PACKAGE / relative
    return _code_digest(_disk_source(path)) if path is not None and path.is_file() else None


def changed_modules(recorded: dict[str, str]) -> list[str]:
    """Which of ``recorded`` (a :func:`code_digests` result saved earlier) differ on disk now: edited or removed.

    Modules added to the closure since are not listed: a new import shows as an edit of the importer.
    """
    return [relative for relative, digest in sorted(recorded.items()) if _current_digest(relative) != digest]


def check_current(recorded: dict[str, str]) -> None:
    """Refuse when a module of ``recorded`` (a result's key) is not what this process runs, or not what is on disk.

    Called before a result is saved under its key: a module edited after this process imported it (or imported
    after the key was taken) would file the old code's result under the new code's name.

    Raises:
        CodeChanged: one line naming the file(s) and saying to restart the kernel.
    """
    differ = changed_modules(recorded)
    for relative, digest in sorted(recorded.items()):
        imported = None if relative.startswith("external:") else _imported.get(_dotted(relative))
        if imported is not None and _code_digest(imported) != digest and relative not in differ:
            differ.append(relative)
    if differ:
        raise CodeChanged(f"{name_modules(differ)} changed on disk since this process imported it: restart the "
                          "kernel (or importlib.reload the module) and run again; nothing was saved")


def name_modules(modules: list[str], most: int = 4) -> str:
    """``"gm_lib/a.py, gm_lib/b.py and 3 more"``: a reason's list of changed modules, kept to one short line."""
    named = ", ".join(m if m.startswith("external:") else f"gm_lib/{m}" for m in modules[:most])
    return named + (f" and {len(modules) - most} more" if len(modules) > most else "")


install_recorder()  # gm_lib/__init__ imports this module first, so every gm_lib module after it is recorded
