"""Where a report's time went: training vs evaluation, summed over runs from their results.json.

Each notebook's :class:`gm_lib.results.Recorder` saves ``time_s`` (wall seconds spent in
:func:`gm_lib.progress.phase` blocks of kind ``"training"`` and ``"evaluation"``) beside ``wall_time_s``;
the rest of a run's wall time as the runner measured it (data loading, figures, kernel start-up) is "other".
Runs that were not re-executed contribute the times of their last execution, and the line says how many.
"""

from __future__ import annotations

from collections.abc import Iterable

from gm_lib.progress import PHASE_KINDS
from gm_lib.results import load_results

__all__ = ["time_split", "describe_time_split"]


def time_split(outcomes: Iterable) -> tuple[dict[str, float], int, int]:
    """Minutes per kind (``PHASE_KINDS`` plus ``"other"`` and ``"total"``) over runs that have a results.json.

    Args:
        outcomes: :class:`gm_build.report.run.Outcome` objects (``status``, ``output_dir``, ``wall_time_s``: the
            runner's measured seconds, else the notebook's own ``wall_time_s`` is used).

    Returns:
        ``(minutes, executed, cached)``: the sums, and how many runs were executed now / taken from an
        earlier execution. Failed and unavailable runs are left out (their results are missing or stale).
    """
    minutes = dict.fromkeys((*PHASE_KINDS, "other", "total"), 0.0)
    counted = {"ok": 0, "cached": 0}
    for outcome in outcomes:
        if outcome.status not in counted:
            continue
        try:
            results = load_results(outcome.output_dir)
        except (OSError, ValueError):  # missing, unreadable or of another schema: not counted
            continue
        spent = results.get("time_s") or {}
        wall = float(outcome.wall_time_s or results.get("wall_time_s") or 0.0)
        for kind in PHASE_KINDS:
            minutes[kind] += float(spent.get(kind, 0.0)) / 60
        minutes["total"] += wall / 60
        counted[outcome.status] += 1
    minutes["other"] = max(0.0, minutes["total"] - sum(minutes[kind] for kind in PHASE_KINDS))
    return minutes, counted["ok"], counted["cached"]


def describe_time_split(outcomes: Iterable) -> str:
    """One line for the end of ``make report``, e.g. ``time: training 31.2 min, evaluation 12.4 min, ...``."""
    minutes, executed, cached = time_split(outcomes)
    parts = ", ".join(f"{kind} {minutes[kind]:.1f} min" for kind in (*PHASE_KINDS, "other"))
    line = f"time: {parts} (notebook wall time {minutes['total']:.1f} min"
    line += f"; {cached} run(s) not re-executed count their last execution)" if cached else ")"
    if minutes["evaluation"] > minutes["training"]:
        line += " -- evaluation cost more than training"
    return line
