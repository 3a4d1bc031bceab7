"""Exercises: each chapter asks, the student answers, a check says what is wrong.

Each notebook ends with 2–3 exercises on its central formula. A prompt (markdown) gives the equation, its
source and the expected shapes and units; an answer cell holds the solution between nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers; a check cell calls :func:`check` in one line. The check
compares the answer with the gm_lib reference on random inputs of several shapes (values, and gradients for
losses) and on failure names the property that broke, with a hint tied to the mistakes students made.

``make student`` writes the student versions (solutions replaced by ``raise NotImplementedError()``) and
``make grade DIR=student/`` has gm_lib check every exercise of a folder of notebooks itself.

Example::

    >>> from gm_lib import exercises
    >>> exercises.check("mmd_imq", my_mmd)          # prints ✓ …, or raises ExerciseFailed with the hint
"""

from gm_lib.exercises import divergences, gans, latents, vae, wae  # noqa: F401  (each registers its exercises)
from gm_lib.exercises.core import (
    EXERCISES,
    CheckResult,
    Exercise,
    ExerciseFailed,
    ExerciseNotImplemented,
    check,
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
