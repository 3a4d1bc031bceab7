"""Two versions from one source: the student notebooks (``make student``) and the grade table (``make grade``).

The notebooks in ``notebooks/`` are the source, solutions in place. Exercise cells carry nbgrader's cell
metadata (``"nbgrader": {"solution": true, ...}`` on answer cells, ``{"grade": true, "locked": true,
"grade_id": <exercise name>, ...}`` on check cells) and the tag ``exercise``:

* :func:`write_student_versions` runs nbgrader's own ``ClearSolutions`` and ``ClearOutput`` preprocessors,
  so each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region becomes ``# YOUR CODE HERE`` /
  ``raise NotImplementedError()``.
* :func:`grade` executes only the ``exercise`` cells of each notebook, in order, in one namespace per notebook
  (seconds: no training, no data), and collects every check's :class:`~gm_lib.exercises.CheckResult`; an
  exercise whose check cell is missing counts as failed.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from gm_lib.exercises.core import EXERCISES, CheckResult, ExerciseFailed, ExerciseNotImplemented

__all__ = ["EXERCISE_TAG", "GradeRow", "write_student_versions", "grade", "format_table"]

EXERCISE_TAG = "exercise"  # on every cell the grader runs: imports, answers, checks (demos are not tagged)


@dataclass(frozen=True)
class GradeRow:
    """One exercise of one notebook in the grade table."""

    notebook: str
    exercise: str
    passed: bool
    hint: str


def write_student_versions(source: Path, target: Path) -> list[Path]:
    """Write each ``source/*.ipynb`` to ``target/`` with solutions replaced and outputs cleared (nbgrader).

    Raises:
        ImportError: nbgrader is not installed (``make setup`` installs it from requirements.txt).
        RuntimeError: a solution region sits in a cell not marked as an nbgrader solution cell.
    """
    import nbformat
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(Path(source).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb, resources = ClearSolutions().preprocess(nb, {})
        nb, _ = ClearOutput().preprocess(nb, resources)
        out = target / path.name
        nbformat.write(nb, out)
        written.append(out)
    return written


def _exercise_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and EXERCISE_TAG in c.get("metadata", {}).get("tags", [])]


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if meta.get("grade") else None


def grade(directory: Path) -> list[GradeRow]:
    """Run the exercise cells of every ``directory/*.ipynb``; one row per exercise the notebook should hold.

    Each notebook's cells run in a fresh namespace; the output they print is swallowed. An answer cell
    that raises makes its exercise fail with that error (its check then finds no function).
    """
    rows = []
    for path in sorted(Path(directory).glob("*.ipynb")):
        expected = sorted((e for e in EXERCISES.values() if e.key[:2] == path.name[:2]), key=lambda e: e.key)
        found: dict[str, GradeRow] = {}
        namespace: dict = {"__name__": f"graded_{path.stem}"}
        answer_error = ""
        for cell in _exercise_cells(path):
            source, name = "".join(cell["source"]), _grade_id(cell)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, f"{path.name}:{name or 'answer'}", "exec"), namespace)
            except (ExerciseFailed, ExerciseNotImplemented) as failure:
                found[failure.result.exercise.name] = _row(path, failure.result)
            except Exception as error:  # an answer cell that does not run, or a check cell that cannot
                message = f"{type(error).__name__}: {error}"
                if name is None:
                    answer_error = message
                else:
                    hint = f"the answer cell raised {answer_error}" if answer_error else f"the check raised {message}"
                    found[name] = GradeRow(path.name, _label(name), False, hint)
            else:
                if name is not None:
                    found[name] = GradeRow(path.name, _label(name), True, "")
            if name is not None:
                answer_error = ""
        for exercise in expected:
            rows.append(found.get(exercise.name) or GradeRow(path.name, _label(exercise.name), False,
                                                              "check cell not found in the notebook"))
    return rows


def _label(name: str) -> str:
    return f"{EXERCISES[name].key} {name}" if name in EXERCISES else name


def _row(path: Path, result: CheckResult) -> GradeRow:
    return GradeRow(path.name, _label(result.exercise.name), result.passed, result.hint)


def format_table(rows: list[GradeRow], width: int = 90) -> str:
    """A plain-text table: notebook, exercise, passed/failed, hint (wrapped to ``width`` characters)."""
    import textwrap

    lines = [f"{'notebook':<28} {'exercise':<22} {'result':<7} hint"]
    for row in rows:
        status = "passed" if row.passed else "FAILED"
        hint = textwrap.wrap(row.hint, width) or [""]
        lines.append(f"{row.notebook:<28} {row.exercise:<22} {status:<7} {hint[0]}")
        lines += [f"{'':<59} {more}" for more in hint[1:]]
    passed = sum(r.passed for r in rows)
    lines.append(f"{passed} of {len(rows)} exercises passed")
    return "\n".join(lines)
