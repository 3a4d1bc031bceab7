"""The manifest (``reports/manifest.yaml``): which notebooks the report runs, with what parameters.

Read by the runner (:mod:`gm_build.report.run`), the plan and stamps (:mod:`gm_build.report.plan`), ``make pack``
and the course page; it imports neither, so they all read the one parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gm_lib.paths import repo_root

__all__ = ["RESERVED", "RunSpec", "Manifest", "load_manifest", "run_parameters", "resolve_device"]

# papermill parameters the runner sets itself; a manifest entry may not set them
RESERVED = ("profile", "seed", "device", "precision", "output_dir", "run_name")


@dataclass(frozen=True)
class RunSpec:
    """One manifest entry: a notebook executed once with fixed parameters into ``figures/<name>/``."""

    name: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    minutes: dict[str, float] = field(default_factory=dict)  # expected wall time per profile, for the display
    after: tuple[str, ...] = ()  # runs whose models this one loads from the cache (cluster jobs wait for them)


@dataclass(frozen=True)
class Manifest:
    """The runs in dependency order, and the default seed."""

    runs: tuple[RunSpec, ...]
    seed: int = 0


def load_manifest(path: str | Path) -> Manifest:
    """Read a manifest YAML (``seed`` and a list ``runs`` of {name, notebook, title?, parameters?, minutes?, after?}).

    Relative notebook paths are taken from the repository root. Raises ValueError naming the entry at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest {path} not found: pass --manifest reports/manifest.yaml (or another YAML)")
    data = yaml.safe_load(path.read_text()) or {}
    runs, names = [], set()
    for i, entry in enumerate(data.get("runs") or []):
        if not isinstance(entry, dict) or not {"name", "notebook"} <= set(entry):
            raise ValueError(f"{path}: runs[{i}] needs 'name' and 'notebook' keys, got {entry!r}")
        params = dict(entry.get("parameters") or {})
        clash = sorted(set(params) & set(RESERVED))
        if clash or entry["name"] in names:
            problem = f"sets reserved parameter(s) {clash}" if clash else "repeats a run name"
            raise ValueError(f"{path}: run {entry['name']!r} {problem}; the runner sets {list(RESERVED)} itself")
        notebook = Path(entry["notebook"])
        notebook = notebook if notebook.is_absolute() else repo_root() / notebook
        minutes = {str(k): float(v) for k, v in (entry.get("minutes") or {}).items()}
        after = tuple(str(name) for name in entry.get("after") or ())
        unknown = sorted(set(after) - names)
        if unknown:
            raise ValueError(f"{path}: run {entry['name']!r} is 'after' {unknown}, which are not listed before it")
        names.add(entry["name"])
        runs.append(RunSpec(str(entry["name"]), notebook, params, entry.get("title"), minutes, after))
    if not runs:
        raise ValueError(f"{path}: no runs listed under 'runs:'")
    return Manifest(tuple(runs), int(data.get("seed", 0)))


def resolve_device(device: str) -> str:
    """The device name the notebooks get: :func:`gm_lib.precision.select_device` of ``device`` as a string
    (``auto`` becomes ``cuda``, then ``mps``, then ``cpu``; an unavailable or unknown device raises there)."""
    from gm_lib.precision import select_device

    return str(select_device(device))


def run_parameters(spec: RunSpec, *, profile: str, seed: int, device: str, precision: str,
                   output_dir: Path) -> dict[str, Any]:
    """The papermill parameters of ``spec`` at ``seed``: the runner's own (:data:`RESERVED`) and the manifest's."""
    params = {"profile": profile, "seed": seed, "device": device, "precision": precision,
              "output_dir": str(output_dir), "run_name": spec.name}
    return params | spec.parameters
