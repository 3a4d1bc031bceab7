"""The student notebooks (``make student``), written from the solved source notebooks.

The notebooks in ``notebooks/`` are the source, solutions in place. Exercise cells carry nbgrader's cell
metadata (``"nbgrader": {"solution": true, ...}`` on answer cells, ``{"grade": true, "locked": true,
"grade_id": <exercise name>, ...}`` on check cells) and the tag ``exercise``:

* :func:`write_student_versions` runs nbgrader's own ``ClearSolutions`` and ``ClearOutput`` preprocessors,
  so each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region becomes ``# YOUR CODE HERE`` /
  ``raise NotImplementedError()``.

``make grade`` (:mod:`gm_build.exercises.grading`) runs the student's answer cells and gm_lib's own checks.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXERCISE_TAG", "write_student_versions"]

EXERCISE_TAG = "exercise"  # on every exercise cell: imports, answers, checks (demos are not tagged)


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
