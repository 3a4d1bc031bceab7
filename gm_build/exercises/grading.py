"""``make grade``: every exercise checked by gm_lib itself, whatever the student's notebook does to its check cells.

For each ``DIR/*.ipynb`` the grader

1. compares every locked cell (prompts, imports, check cells: nbgrader's ``locked``/``grade`` cells) with the same
   cell of the source notebook (``notebooks/<same name>``) by nbgrader's own checksum, so an edited or deleted
   locked cell is reported as TAMPERED;
2. runs the student's code: the locked setup cells, then the answer cells (nbgrader ``solution`` cells, found by
   their metadata wherever they stand, so a reordered notebook still grades), in one fresh namespace, output
   swallowed; check cells are never run;
3. finds each exercise's function by the exercise's name in that namespace and calls :func:`run_check` on it, the
   grader's own reference taken before any student code ran.

The student's code runs in this process, so it could replace gm_lib's objects (``exercises.check = lambda *a: None``
in an answer cell, or a function that patches a comparison when called). :class:`ModuleGuard` records the namespaces
of gm_lib's, torch's, numpy's and scikit-learn's modules before the student's code runs and compares them after the
answer cells and after each check: a replaced or deleted name marks the exercises TAMPERED and is put back before the
next check. This stops an
answer from passing by editing what checks it; it is not a sandbox against a student who sets out to attack the
grading machine (nbgrader's autograder, which executes the student's notebook, is not one either).
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from gm_lib.exercises.core import EXERCISES, Exercise, run_check

__all__ = ["GradeRow", "ModuleGuard", "grade", "grade_notebook", "format_table"]

# Modules whose namespaces an answer must leave alone: the checks and the references they compare with.
GUARDED_PREFIXES = ("gm_lib", "torch", "numpy", "sklearn")
STATUSES = ("passed", "FAILED", "TAMPERED")


@dataclass(frozen=True)
class GradeRow:
    """One exercise of one notebook in the grade table; ``status`` is ``passed``, ``FAILED`` or ``TAMPERED``."""

    notebook: str
    exercise: str
    status: str
    hint: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class ModuleGuard:
    """The attribute namespaces of the guarded modules (:data:`GUARDED_PREFIXES`) at creation.

    :meth:`changes` names each attribute replaced or deleted since, and :meth:`restore` puts them back. Modules
    imported after creation are not guarded.
    """

    def __init__(self):
        self._saved = {name: (module, dict(vars(module))) for name, module in list(sys.modules.items())
                       if module is not None and name.split(".")[0] in GUARDED_PREFIXES}

    def changes(self) -> list[str]:
        """``["gm_lib.exercises.check", ...]``: every guarded attribute replaced or deleted since creation.

        Added names are not changes: importing a submodule adds it to its package (a check imports scikit-learn's
        on first use), and a name nothing looked up cannot change what a check computes.
        """
        changed = []
        for name, (module, saved) in self._saved.items():
            now = vars(module)
            changed += [f"{name}.{key}" for key, value in saved.items()
                        if now.get(key, _MISSING) is not value and not key.startswith("__")]
        return changed

    def restore(self) -> None:
        """Put every guarded attribute that was replaced or deleted back as it was at creation."""
        for module, saved in self._saved.values():
            vars(module).update(saved)


_MISSING = object()


def grade(directory: Path, source: Path | None = None) -> list[GradeRow]:
    """One row per exercise each ``directory/*.ipynb`` should hold (its number picks the chapter's exercises).

    Args:
        directory: the student's notebooks.
        source: the folder of the source notebooks whose locked cells are the reference (default: this repository's
            ``notebooks/``); a notebook without a source of the same name is graded without the locked-cell test.
    """
    if source is None:
        from gm_lib.paths import repo_root

        source = repo_root() / "notebooks"
    rows = []
    for path in sorted(Path(directory).glob("*.ipynb")):
        reference = Path(source) / path.name
        rows += grade_notebook(path, reference if reference.is_file() and reference != path.resolve() else None)
    return rows


def grade_notebook(path: Path, source: Path | None = None) -> list[GradeRow]:
    """The grade rows of one notebook (see the module docstring); ``source``: its source notebook, or None."""
    import nbformat

    cells = nbformat.read(path, as_version=4).cells
    expected = sorted((e for e in EXERCISES.values() if e.key[:2] == path.name[:2]), key=lambda e: e.key)
    edited = _edited_locked_cells(cells, source) if source is not None else {}
    guard = ModuleGuard()
    namespace, errors = _run_student_code(path, cells)
    patched = guard.changes()
    guard.restore()
    rows = []
    for exercise in expected:
        status, hint = _verdict(exercise, namespace, errors, cells, guard)
        tampered = _tampering(exercise, edited, patched)
        if tampered:
            status, hint = "TAMPERED", f"{tampered} (the answer itself: {hint or 'passes the check'})"
        rows.append(GradeRow(path.name, f"{exercise.key} {exercise.name}", status, hint))
    return rows


def _solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _locked(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta) and not meta.get("solution") and bool(meta.get("grade") or meta.get("locked"))


def _run_student_code(path: Path, cells) -> tuple[dict, dict[str, str]]:
    """Run the locked setup cells, then the answer cells, in notebook order each; returns the namespace and, per
    answer cell's grade id, the error it raised."""
    setup = [c for c in cells if c.cell_type == "code" and _locked(c) and not c.metadata["nbgrader"].get("grade")]
    answers = [c for c in cells if c.cell_type == "code" and _solution(c)]
    namespace: dict = {"__name__": f"graded_{path.stem}"}
    errors = {}
    for cell in setup + answers:
        grade_id = cell.metadata["nbgrader"].get("grade_id", "answer")
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(cell.source, f"{path.name}:{grade_id}", "exec"), namespace)
        except Exception as error:  # a cell that does not run: its exercise fails with the error, the rest go on
            errors[grade_id] = f"{type(error).__name__}: {error}"
    return namespace, errors


def _verdict(exercise: Exercise, namespace: dict, errors: dict[str, str], cells, guard: ModuleGuard):
    """``(status, hint)`` of gm_lib's own check of the function named like ``exercise`` (``TAMPERED`` when the
    function changed a guarded module while it was checked)."""
    answer = namespace.get(exercise.name)
    if not callable(answer):
        return "FAILED", _not_found(exercise, errors, cells)
    with contextlib.redirect_stdout(io.StringIO()):
        result = run_check(exercise, answer)
    patched = guard.changes()
    guard.restore()
    if patched:
        return "TAMPERED", f"while checked, the answer changed {', '.join(patched[:3])}: graded as not passed"
    return ("passed", "") if result.passed else ("FAILED", result.hint)


def _not_found(exercise: Exercise, errors: dict[str, str], cells) -> str:
    """Why no function ``exercise.name`` exists after the student's code ran, as a line the student can act on."""
    answer_id = f"{exercise.name}-answer"
    if answer_id in errors:
        return f"the answer cell raised {errors[answer_id]}"
    moved = [c for c in cells if _solution(c) and c.metadata["nbgrader"].get("grade_id") == answer_id]
    if moved and moved[0].cell_type != "code":
        return (f"exercise {exercise.key}'s answer cell is a {moved[0].cell_type} cell now: change it back to code "
                f"so that it defines `{exercise.name}`")
    found = "" if moved else f" (no answer cell `{answer_id}` found: was it deleted?)"
    return (f"exercise {exercise.key} not found: no function named `{exercise.name}` after the answer cells ran"
            f"{found}; define `def {exercise.name}(...)` in its answer cell")


def _edited_locked_cells(cells, source: Path) -> dict[str, str]:
    """``{grade_id: "edited" | "deleted"}`` for each locked cell of ``source`` whose nbgrader checksum the student's
    notebook does not reproduce (a locked cell the student added or retyped counts as edited)."""
    import nbformat
    from nbgrader.utils import compute_checksum

    def checksum(cell) -> str:
        try:
            return compute_checksum(cell)
        except (KeyError, TypeError, ValueError):  # metadata edited beyond what nbgrader reads (no points, ...)
            return "unreadable"

    def checksums(notebook_cells):
        return {c.metadata["nbgrader"]["grade_id"]: checksum(c) for c in notebook_cells
                if _locked(c) and "grade_id" in c.metadata["nbgrader"]}

    expected, found = checksums(nbformat.read(source, as_version=4).cells), checksums(cells)
    return {grade_id: "deleted" if grade_id not in found else "edited"
            for grade_id, checksum in expected.items() if found.get(grade_id) != checksum}


def _tampering(exercise: Exercise, edited: dict[str, str], patched: list[str]) -> str:
    """The TAMPERED line for ``exercise``: a locked cell of its own (its prompt, its check) or of the whole
    notebook (the intro, the imports) edited or deleted, or a guarded module changed by the answer cells."""
    mine = {gid: how for gid, how in edited.items() if gid.split("-")[0] in (exercise.name,)
            or gid.split("-")[0] not in EXERCISES}
    lines = [f"locked cell `{gid}` {how} (nbgrader checksum differs from the source notebook's)"
             for gid, how in sorted(mine.items())]
    if patched:
        lines.append(f"the answer cells changed {', '.join(patched[:3])}{' …' if len(patched) > 3 else ''} "
                     "(undone before grading)")
    return "; ".join(lines)


def format_table(rows: list[GradeRow], width: int = 90) -> str:
    """A plain-text table: notebook, exercise, passed/FAILED/TAMPERED, hint (wrapped to ``width`` characters)."""
    import textwrap

    lines = [f"{'notebook':<28} {'exercise':<22} {'result':<8} hint"]
    for row in rows:
        hint = textwrap.wrap(row.hint, width) or [""]
        lines.append(f"{row.notebook:<28} {row.exercise:<22} {row.status:<8} {hint[0]}")
        lines += [f"{'':<60} {more}" for more in hint[1:]]
    passed = sum(r.passed for r in rows)
    tampered = sum(r.status == "TAMPERED" for r in rows)
    lines.append(f"{passed} of {len(rows)} exercises passed" + (f", {tampered} tampered" if tampered else ""))
    return "\n".join(lines)
