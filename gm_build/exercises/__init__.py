"""``make student`` and ``make grade``: the student notebooks written from the solved ones (nbgrader), and grading
that runs gm_lib's own checks (:mod:`gm_lib.exercises`) on each student's functions.

Modules: :mod:`~gm_build.exercises.student` (``make student``), :mod:`~gm_build.exercises.grading`
(``make grade``); the CLI is ``python -m gm_build.exercises``.
"""
