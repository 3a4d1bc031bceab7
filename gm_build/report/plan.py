"""What a ``make report`` would do, and why: each notebook run's stamp, and the models it would train.

A notebook run is current when its notebook file, its parameters, the code of every gm_lib module its
cells import (the import closure, :mod:`gm_lib.code_graph`; the report builder is not in it) and the
cache keys of the models it trains (:func:`notebook_runs`: the chapter's own ``notebook_runs``, the
function the notebook calls) are those of its last successful execution, and none of those models was left
unfinished by the time guard. :func:`stamp` records these; :func:`stale_reasons` names what changed (or which
model the next execution resumes). ``make report PLAN=1`` prints, without running
anything, one line per notebook run (``cached`` or ``re-execute`` with the reason) and one per model
(``cached`` or ``train`` with the reason).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gm_lib.code_graph import changed_modules, code_digests, imported_modules, name_modules, reading_disk
from gm_lib.runs import unfinished_reason

__all__ = ["STAMP_FILE", "notebook_modules", "notebook_runs", "report_runs", "stamp", "read_stamp", "stale_reasons",
           "unfinished_runs", "versions_note", "results_versions_note",
           "ModelPlan", "model_plans", "format_plan"]

STAMP_FILE = ".run-stamp.json"
_CHAPTERS = "gm_lib.experiments"


def _code_cells(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in cells if c.get("cell_type") == "code")


def notebook_modules(notebook: Path) -> tuple[str, ...]:
    """Dotted names of the gm_lib modules the notebook's code cells import (names resolved to their modules)."""
    return tuple(sorted(imported_modules(_code_cells(notebook))))


def notebook_runs(notebook: Path, params: dict[str, Any]) -> dict[str, Any]:
    """``{label: Run}`` the notebook trains or loads with ``params``: its chapter module's ``notebook_runs``
    (the chapter modules of :mod:`gm_lib.experiments` name their notebook in ``NOTEBOOK``); {} for a notebook
    that trains no cached model (the toy)."""
    for info in pkgutil.iter_modules(importlib.import_module(_CHAPTERS).__path__):
        module = importlib.import_module(f"{_CHAPTERS}.{info.name}")
        if getattr(module, "NOTEBOOK", None) == notebook.stem:
            return module.notebook_runs(**params)[1]
    return {}


@reading_disk()  # what a fresh kernel would run, not what this process imported
def report_runs(profile: str, seed: int = 0, device: str = "auto", manifest: Path | None = None) -> dict[str, Any]:
    """Every model run the report trains, by cache name, over every run of the manifest (01's VAE, 03's models and
    04's on each dataset the manifest names; 05 reuses 01's and 04's). Tests that must hold for every family loop
    over it, so a family added to a chapter registry or a dataset added to the manifest is tested without edits."""
    from gm_build.report.manifest import load_manifest, run_parameters
    from gm_lib.paths import repo_root

    runs = {}
    for spec in load_manifest(manifest or repo_root() / "reports" / "manifest.yaml").runs:
        params = run_parameters(spec, profile=profile, seed=seed, device=device, precision="auto", output_dir=Path("."))
        runs |= {run.name: run for run in notebook_runs(spec.notebook, params).values()}
    return runs


@reading_disk()  # what a fresh kernel would run, not what this process imported
def stamp(notebook: Path, params: dict[str, Any]) -> dict[str, Any]:
    """What a notebook run's result depends on: notebook file digest, parameters, code digests, model run folders."""
    return {
        "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest(),
        "params": json.loads(json.dumps(params, default=str)),
        "code": code_digests(notebook_modules(notebook)),
        "runs": sorted(run.directory.name for run in notebook_runs(notebook, params).values()),
    }


def read_stamp(output_dir: Path) -> dict[str, Any] | None:
    """The stamp of the run's last successful execution (None when there is none or it is unreadable)."""
    try:
        recorded = json.loads((output_dir / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) and "notebook" in recorded else None


@reading_disk()  # what a fresh kernel would run, not what this process imported
def stale_reasons(notebook: Path, params: dict[str, Any], output_dir: Path, results_file: str) -> list[str]:
    """Why the notebook run in ``output_dir`` must be re-executed; [] when it is current.

    Reasons name what changed: the notebook file, a parameter (old → new), gm_lib modules, a model's key; or a
    model the time guard left unfinished (:func:`unfinished_runs`), which re-executing resumes.
    """
    recorded = read_stamp(output_dir)
    if recorded is None:
        return ["no earlier successful run"]
    if not (output_dir / results_file).is_file():
        return [f"its {results_file} is missing"]
    now = stamp(notebook, params)
    reasons = []
    if recorded["notebook"] != now["notebook"]:
        reasons.append(f"{notebook.name} changed")
    changed = sorted(key for key in set(now["params"]) | set(recorded["params"])
                     if now["params"].get(key) != recorded["params"].get(key))
    if changed:
        reasons.append("parameters changed: " + ", ".join(
            f"{key} {recorded['params'].get(key)!r} → {now['params'].get(key)!r}" for key in changed))
    edited = changed_modules(recorded.get("code", {})) + sorted(set(now["code"]) - set(recorded.get("code", {})))
    if edited:
        reasons.append("gm_lib code changed: " + name_modules(edited))
    new_runs = sorted(set(now["runs"]) - set(recorded.get("runs", [])))
    if new_runs:
        reasons.append("models with new keys: " + ", ".join(new_runs))
    return reasons + unfinished_runs(notebook, params)


def unfinished_runs(notebook: Path, params: dict[str, Any]) -> list[str]:
    """``"model <run dir> unfinished at step n of N"`` for each of the notebook's models that the time
    guard stopped: its results show a truncated model, and re-executing the notebook resumes it (the notebook
    that trains it; one that only loads it, as 05, then loads the finished model)."""
    found = []
    for run in notebook_runs(notebook, params).values():
        reason = unfinished_reason(run.directory)
        if reason is not None and reason.startswith("unfinished"):
            found.append(f"model {run.directory.name} {reason}")
    return found


@dataclass(frozen=True)
class ModelPlan:
    """One model of a notebook run: ``action`` is ``cached`` (a finished checkpoint with this key), ``train``, or
    ``unavailable`` (another notebook trains it, ``Run.trained_by``, and has not finished it)."""

    label: str
    run_dir: Path
    action: str
    reason: str = ""


@reading_disk()  # what a fresh kernel would run, not what this process imported
def model_plans(notebook: Path, params: dict[str, Any]) -> list[ModelPlan]:
    """For each model the notebook trains with ``params``: cached, or train with why (no earlier run of that name,
    an earlier one whose code changed (named), or an earlier one with other settings)."""
    from gm_lib.versions import read_run_versions

    plans = []
    for label, run in notebook_runs(notebook, params).items():
        directory = run.directory
        reason = unfinished_reason(directory)
        if reason is None:
            plans.append(ModelPlan(label, directory, "cached", versions_note(read_run_versions(directory))))
        elif getattr(run, "trained_by", None):  # loaded only (05): never trained here
            plans.append(ModelPlan(label, directory, "unavailable",
                                   f"{directory.name}: {reason}; notebook {run.trained_by} trains it"))
        elif reason == "no checkpoint":
            plans.append(ModelPlan(label, directory, "train", _why_new(run, directory)))
        else:  # stopped by the time guard (resumes), or unreadable (retrains, as get_or_train would)
            plans.append(ModelPlan(label, directory, "train", f"{directory.name}: {reason}"))
    return plans


def _why_new(run, directory: Path) -> str:
    """Why no checkpoint has this key: what differs from the newest cached run of the same name."""
    from gm_lib.runs import describe_run, stale_reason

    others = [p for p in directory.parent.glob(f"{run.name}-*") if p != directory and (p / "config.json").is_file()]
    if not others:
        return "never trained here"
    newest = max(others, key=lambda p: p.stat().st_mtime)
    reason = stale_reason(newest)
    if reason is not None:
        return f"{newest.name}: {reason}"
    before = json.loads((newest / "config.json").read_text())
    now = json.loads(json.dumps(describe_run(run.model, run.data, run.train, run.val)))
    changed = [f"{key} {old!r} → {new!r}" for key, old, new in _differences(before, now, ("code",))]
    return f"settings changed since {newest.name}: " + (", ".join(changed[:4]) or "its key")


def _differences(before: dict, now: dict, skip: tuple[str, ...], prefix: str = ""):
    """``(dotted key, old, new)`` for every leaf that differs between two JSON objects."""
    for key in sorted(set(before) | set(now)):
        if key in skip or (not prefix and key in ("name", "hash", "gm_lib_version")):
            continue
        old, new = before.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            yield from _differences(old, new, (), f"{prefix}{key}.")
        elif old != new:
            yield f"{prefix}{key}", old, new


def versions_note(recorded: dict[str, str] | None) -> str:
    """``"made with other versions: torch 2.4.0 → 2.5.1; kept, not retrained"`` when ``recorded`` (a run's or a
    results.json's versions) differs from this environment's, else ``""``. Information only: versions are in no key."""
    from gm_lib.versions import changed_versions

    changed = changed_versions(recorded)
    return f"made with other versions: {', '.join(changed)}; kept, not retrained" if changed else ""


def results_versions_note(output_dir: Path, results_file: str) -> str:
    """:func:`versions_note` of the versions a notebook run's results were made with (``""`` without results)."""
    try:
        recorded = json.loads((output_dir / results_file).read_text()).get("versions")
    except (OSError, ValueError, AttributeError):
        return ""
    return versions_note(recorded) if isinstance(recorded, dict) else ""


def format_plan(run_name: str, seed_note: str, reasons: list[str], models: list[ModelPlan],
                note: str = "") -> list[str]:
    """Terminal lines of one notebook run's plan (``note``: shown beside ``cached``, e.g. :func:`versions_note`)."""
    cached = f"cached ({note})" if note else "cached"
    head = f"{run_name}{seed_note}: " + (cached if not reasons else "re-execute (" + "; ".join(reasons) + ")")
    return [head] + [f"    {m.label}: {m.action}" + (f" ({m.reason})" if m.reason else "") for m in models]
