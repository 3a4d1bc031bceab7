"""``make docs``: rewrite the text the project generates from the chapter registries, and nothing else.

README.md and the notebooks' Markdown cells hold generated spans between markers: each chapter's table of
models and the one wording of its model list (:func:`gm_lib.experiments.registry.update_generated`). A model
added to a registry changes them; ``python -m gm_build.docs`` rewrites every file whose generated text is stale
and leaves every other byte as it was; ``--check`` only names them (exit 1). ``make report`` runs ``make docs``
first, and the test suite fails on a stale file with the command to run.

Example::

    $ python -m gm_build.docs --check
    README.md: stale generated text: run `make docs`
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gm_lib.cache import atomic_write
from gm_lib.experiments.registry import update_generated
from gm_lib.paths import repo_root

__all__ = ["GENERATED", "generated_files", "generated_text", "stale_files", "write_docs", "main"]

GENERATED = ("README.md", "notebooks/*.ipynb")  # glob patterns under the repository root


def generated_files(root: Path | None = None) -> list[Path]:
    """The files that may hold generated text: :data:`GENERATED` under ``root`` (default: the repository)."""
    root = root or repo_root()
    return [path for pattern in GENERATED for path in sorted(root.glob(pattern))]


def generated_text(path: Path) -> str:
    """``path``'s contents with its generated spans up to date (a notebook: only its Markdown cells change,
    written as Jupyter writes them: one-space indent, UTF-8, a final newline).

    Raises:
        ValueError: a marker names no chapter (the message starts with the file name).
    """
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix != ".ipynb":
            return update_generated(text)
        notebook = json.loads(text)
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = update_generated("".join(cell["source"])).splitlines(keepends=True)
        return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    except ValueError as error:
        raise ValueError(f"{path.name}: {error}") from None


def stale_files(root: Path | None = None) -> list[Path]:
    """The generated files whose generated text differs from what the registries give now."""
    return [path for path in generated_files(root) if generated_text(path) != path.read_text(encoding="utf-8")]


def write_docs(root: Path | None = None) -> list[Path]:
    """Rewrite every stale generated file (each atomically; every file is computed before any is written, so an
    error leaves all of them as they were). Returns the files rewritten."""
    updates = {path: generated_text(path) for path in generated_files(root)}
    changed = [path for path, text in updates.items() if text != path.read_text(encoding="utf-8")]
    for path in changed:
        atomic_write(path, updates[path].encode("utf-8"))
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m gm_build.docs [--check]``: 0 when done (or, with ``--check``, nothing stale), 1 when ``--check``
    finds stale files, 2 on a marker that names no chapter."""
    parser = argparse.ArgumentParser(prog="python -m gm_build.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="name the stale files, write nothing (exit 1 if any)")
    args = parser.parse_args(argv)
    root = repo_root()
    try:
        paths = stale_files(root) if args.check else write_docs(root)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in paths:
        relative = path.relative_to(root)
        print(f"{relative}: stale generated text: run `make docs`" if args.check else f"{relative}: rewritten")
    return 1 if args.check and paths else 0


if __name__ == "__main__":
    sys.exit(main())
