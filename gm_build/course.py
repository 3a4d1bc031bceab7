"""The course's first page (``notebooks/00_start.ipynb``): each chapter, whether its models are trained here, its time.

A chapter is one run of ``reports/manifest.yaml``. Its models are the runs its notebook trains (or, for 05,
loads), and whether each is trained here is what ``make report PLAN=1`` says of it
(:func:`gm_build.report.plan.model_plans`: a finished checkpoint under the key the current code computes).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["cache_state", "course_table"]

# A model's state from make report PLAN=1's plan (gm_build.report.plan.model_plans): the one code that decides it.
_STATES = {"cached": "trained", "train": "missing", "unavailable": "missing"}  # unavailable: its notebook trains it


def cache_state(profile: str = "default", seed: int = 0, device: str = "auto",
                manifest: str | Path | None = None) -> list[dict]:
    """Per manifest run: its models' cache state and its measured cold time, at ``profile`` and ``seed``.

    ``device`` is resolved as ``make report`` resolves it (``auto`` -> ``cuda`` or ``cpu``), since the device is
    part of a run's cache key; the states are those of ``make report PLAN=1``.

    Returns:
        one dict per run: ``run``, ``notebook``, ``title``, ``models`` (label -> state), ``trained`` (count),
        ``total`` (count) and ``cold_min`` (the manifest's measured minutes at ``profile``, None if unmeasured).
    """
    from gm_build.report.manifest import load_manifest, resolve_device, run_parameters
    from gm_build.report.plan import model_plans
    from gm_lib.paths import repo_root

    spec_list = load_manifest(manifest or repo_root() / "reports" / "manifest.yaml").runs
    device = resolve_device(device)
    rows = []
    for spec in spec_list:
        params = run_parameters(spec, profile=profile, seed=seed, device=device, precision="auto", output_dir=Path("."))
        states = {plan.label: "unfinished" if ": unfinished" in plan.reason else _STATES[plan.action]
                  for plan in model_plans(spec.notebook, params)}
        rows.append({"run": spec.name, "notebook": spec.notebook.name, "title": spec.title or spec.name,
                     "models": states, "trained": sum(s == "trained" for s in states.values()), "total": len(states),
                     "cold_min": spec.minutes.get(profile)})
    return rows


def course_table(profile: str = "default", seed: int = 0, device: str = "auto"):
    """:func:`cache_state` as a table for the first page: chapter, notebook, models trained here, cold minutes.

    Returns:
        a pandas ``Styler`` (left-aligned, no index, nothing truncated); its ``.data`` is the DataFrame.
    """
    rows = []
    for row in cache_state(profile, seed, device):
        missing = [label for label, state in row["models"].items() if state != "trained"]
        if not row["total"]:
            models = "nothing cached (runs in the notebook)"
        elif not missing:
            models = f"all {row['total']} trained"
        else:
            models = f"{row['trained']} of {row['total']} trained (to train: {', '.join(missing)})"
        cold = "not measured" if row["cold_min"] is None else f"{row['cold_min']:g} min"
        rows.append({"chapter": row["title"], "notebook": row["notebook"], f"models ({profile})": models,
                     "cold time here": cold})
    return pd.DataFrame(rows).style.hide(axis="index").set_properties(**{"text-align": "left"})
