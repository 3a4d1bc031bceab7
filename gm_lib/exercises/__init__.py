"""Exercises: each chapter asks, the student answers, a check says what is wrong.

Each notebook ends with 2–3 exercises on its central formula. A prompt (markdown) gives the equation, its
source and the expected shapes and units; an answer cell holds the solution between nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers; a check cell calls :func:`check` in one line. The check
compares the answer with the gm_lib reference on random inputs of several shapes (values, and gradients for
losses) and on failure names the property that broke, with a hint tied to the mistakes students made.

``make student`` writes the student versions (solutions replaced by ``raise NotImplementedError()``) and
``make grade DIR=student/`` runs every check of a folder of notebooks (:mod:`gm_lib.exercises.notebooks`).

Example::

    >>> from gm_lib import exercises
    >>> exercises.check("mmd_imq", my_mmd)          # prints ✓ …, or raises ExerciseFailed with the hint
"""

from __future__ import annotations

from collections.abc import Callable

from gm_lib.exercises import divergences, gans, latents, vae, wae  # noqa: F401  (each registers its exercises)
from gm_lib.exercises.core import (
    EXERCISES,
    CheckResult,
    Exercise,
    ExerciseFailed,
    ExerciseNotImplemented,
    run_check,
)
from gm_lib.exercises.demos import demo_generator_loss, demo_log_mean_exp, demo_mmd

__all__ = [
    "EXERCISES",
    "CheckResult",
    "Exercise",
    "ExerciseFailed",
    "ExerciseNotImplemented",
    "check",
    "run_check",
    "demo_generator_loss",
    "demo_log_mean_exp",
    "demo_mmd",
]


def check(name: str, answer: Callable) -> None:
    """Check ``answer`` for exercise ``name`` (a key of :data:`EXERCISES`) and print the verdict.

    Seconds at most; the caller's random streams are left as they were (see :func:`run_check`).

    Raises:
        ExerciseNotImplemented: the answer still raises ``NotImplementedError`` (message names the exercise).
        ExerciseFailed: a property broke (an ``AssertionError`` whose message names it, with the hint).
        KeyError: unknown exercise name.
    """
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; exercises: {sorted(EXERCISES)}")
    result = run_check(EXERCISES[name], answer)
    if result.not_implemented:
        raise ExerciseNotImplemented(result)
    if not result.passed:
        raise ExerciseFailed(result)
    print(result)
