"""``make grade`` (issue 27): gm_lib checks each exercise itself, so no edit of the student's notebook passes a wrong
answer; edited locked cells are reported as TAMPERED; reordered or retyped cells still grade with a clear line."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from gm_build.exercises.grading import format_table, grade
from gm_lib.exercises import EXERCISES
from gm_lib.paths import repo_root

pytest.importorskip("nbgrader")

SOURCE = repo_root() / "notebooks"
NOTEBOOK = "04_wae_vs_vae.ipynb"
# A known wrong answer to 04.1: the biased estimate (diagonal terms included).
BIASED_MMD = '''def mmd_imq(x, y, scales=MMD_SCALES):
    d = x.shape[1]
    k = lambda a, b: sum(2 * d * s / (2 * d * s + torch.cdist(a, b).pow(2)) for s in scales)
    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
'''


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def _student(tmp_path: Path, edit) -> list:
    """Notebook 04 with ``edit(nb)`` applied, graded against the source notebooks; returns its rows by exercise."""
    nb = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    edit(nb)
    folder = tmp_path / "student"
    folder.mkdir()
    nbformat.write(nb, folder / NOTEBOOK)
    rows = grade(folder, SOURCE)
    assert [r.exercise for r in rows] == ["04.1 mmd_imq", "04.2 adversary_loss"]
    return rows


def _wrong_answer(nb):
    _cell(nb, "mmd_imq-answer").source = BIASED_MMD


def test_the_solved_notebooks_pass_against_their_own_locked_cells():
    rows = grade(SOURCE, SOURCE)
    assert len(rows) == len(EXERCISES) and all(r.passed for r in rows), [r for r in rows if not r.passed]


def test_a_wrong_answer_fails_with_its_hint(tmp_path):
    mmd, adversary = _student(tmp_path, _wrong_answer)
    assert mmd.status == "FAILED" and "biased" in mmd.hint
    assert adversary.passed


def test_a_deleted_check_cell_does_not_pass_a_wrong_answer(tmp_path):
    def edit(nb):
        _wrong_answer(nb)
        nb.cells.remove(_cell(nb, "mmd_imq"))

    mmd, adversary = _student(tmp_path, edit)
    assert mmd.status == "TAMPERED" and "`mmd_imq` deleted" in mmd.hint and "biased" in mmd.hint
    assert adversary.passed


def test_a_check_cell_edited_to_pass_does_not_pass_a_wrong_answer(tmp_path):
    def edit(nb):
        _wrong_answer(nb)
        _cell(nb, "mmd_imq").source = "pass"

    mmd, adversary = _student(tmp_path, edit)
    assert mmd.status == "TAMPERED" and "`mmd_imq` edited" in mmd.hint and "biased" in mmd.hint
    assert adversary.passed


def test_an_answer_that_replaces_exercises_check_does_not_pass(tmp_path):
    def edit(nb):
        _cell(nb, "mmd_imq-answer").source = BIASED_MMD + "\nexercises.check = lambda *args, **kwargs: None\n"

    mmd, adversary = _student(tmp_path, edit)
    assert mmd.status == "TAMPERED" and "gm_lib.exercises.check" in mmd.hint and "biased" in mmd.hint
    assert adversary.status == "TAMPERED"  # the replaced check was the notebook's, for every exercise in it
    from gm_lib import exercises
    from gm_lib.exercises.core import check

    assert exercises.check is check, "the grader puts gm_lib back as it was"


def test_an_answer_that_patches_the_comparison_while_checked_does_not_pass(tmp_path):
    def edit(nb):
        _cell(nb, "mmd_imq-answer").source = (
            "import gm_lib.exercises.core as _core\n\n" + BIASED_MMD.replace(
                "    d = x.shape[1]\n", "    _core.close = lambda *a, **k: True\n    d = x.shape[1]\n"))

    mmd, adversary = _student(tmp_path, edit)
    assert mmd.status == "TAMPERED" and "gm_lib.exercises.core.close" in mmd.hint
    assert adversary.passed, "the patch is undone before the next check"


def test_reordered_cells_still_grade_and_a_retyped_answer_cell_is_named(tmp_path):
    def edit(nb):
        answer = _cell(nb, "adversary_loss-answer")
        nb.cells.remove(answer)
        nb.cells.append(answer)  # moved below its check cell
        _cell(nb, "mmd_imq-answer").cell_type = "markdown"  # nbgrader#1941: a student changes a cell's type
        del _cell(nb, "mmd_imq-answer")["outputs"], _cell(nb, "mmd_imq-answer")["execution_count"]

    mmd, adversary = _student(tmp_path, edit)
    assert adversary.passed
    assert mmd.status == "FAILED" and "answer cell is a markdown cell now" in mmd.hint
    assert "1 of 2 exercises passed" in format_table([mmd, adversary])


def test_a_renamed_function_is_reported_as_not_found(tmp_path):
    def edit(nb):
        cell = _cell(nb, "mmd_imq-answer")
        cell.source = cell.source.replace("def mmd_imq(", "def my_mmd(")

    mmd, _ = _student(tmp_path, edit)
    assert mmd.status == "FAILED" and "no function named `mmd_imq`" in mmd.hint


def test_a_check_cell_whose_nbgrader_metadata_was_edited_is_tampered_not_a_crash(tmp_path):
    def edit(nb):
        del _cell(nb, "mmd_imq").metadata["nbgrader"]["points"]

    mmd, adversary = _student(tmp_path, edit)
    assert mmd.status == "TAMPERED" and "`mmd_imq` edited" in mmd.hint and adversary.passed
