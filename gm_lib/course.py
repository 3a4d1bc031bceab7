"""The course's first page (``notebooks/00_start.ipynb``): each chapter, whether its models are trained here, its time.

A chapter is one run of ``reports/manifest.yaml``. Its models are the :mod:`gm_lib.experiments` runs its notebook
trains (or, for 05, loads); one is *trained* when its run folder holds a finished checkpoint. :func:`cache_state`
is the one place that decides this, so ``make report PLAN=1``'s plan can replace it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gm_lib.experiments import Run, gan_runs, vae_bmnist_run, wae_vs_vae_runs
from gm_lib.profiles import get_profile

__all__ = ["chapter_runs", "run_state", "cache_state", "course_table"]


def chapter_runs(notebook: str, parameters: dict, profile: str, seed: int, device: str) -> dict[str, Run]:
    """The runs notebook ``notebook`` (file name) trains or loads with these papermill parameters.

    Returns:
        label -> :class:`gm_lib.experiments.Run`; empty for 02, whose critics are trained inside the notebook
        (under a minute) and never cached.
    """
    P = get_profile(profile)
    dataset = parameters.get("dataset")
    if notebook.startswith("01"):
        return {"VAE": vae_bmnist_run(P, seed=seed, device=device, latent_dim=parameters.get("latent_dim", 32))}
    if notebook.startswith("03"):
        return gan_runs(dataset or "fashion_mnist", P, seed=seed, device=device)
    if notebook.startswith("04"):
        return wae_vs_vae_runs(dataset or "mnist", P, seed=seed, device=device)
    if notebook.startswith("05"):
        return {"VAE (01)": vae_bmnist_run(P, seed=seed, device=device)} | {
            f"{label} (04)": run for label, run in wae_vs_vae_runs(dataset or "mnist", P, seed, device).items()}
    return {}


def run_state(run: Run) -> str:
    """``"trained"`` (finished checkpoint), ``"unfinished"`` (stopped by the time guard: resumes) or ``"missing"``."""
    from gm_lib.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint

    path = run.directory / CHECKPOINT_NAME
    if not path.is_file():
        return "missing"
    try:
        return "trained" if load_checkpoint(path)["finished"] else "unfinished"
    except (CheckpointError, KeyError, OSError):
        return "missing"


def cache_state(profile: str = "default", seed: int = 0, device: str = "auto",
                manifest: str | Path | None = None) -> list[dict]:
    """Per manifest run: its models' cache state and its measured cold time, at ``profile`` and ``seed``.

    ``device`` is resolved as ``make report`` resolves it (``auto`` -> ``cuda`` or ``cpu``), since the device is
    part of a run's cache key. The lead's ``make report PLAN=1`` code can replace this function.

    Returns:
        one dict per run: ``run``, ``notebook``, ``title``, ``models`` (label -> state), ``trained`` (count),
        ``total`` (count) and ``cold_min`` (the manifest's measured minutes at ``profile``, None if unmeasured).
    """
    from gm_lib.paths import repo_root
    from gm_lib.report.run import load_manifest, resolve_device

    spec_list = load_manifest(manifest or repo_root() / "reports" / "manifest.yaml").runs
    device = resolve_device(device)
    rows = []
    for spec in spec_list:
        runs = chapter_runs(spec.notebook.name, spec.parameters, profile, seed, device)
        states = {label: run_state(run) for label, run in runs.items()}
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
