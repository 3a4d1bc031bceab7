"""Versions of the packages that decide the numbers: collected for ``results.json``, kept beside a trained run,
compared by ``make report PLAN=1``.

A trained run's folder holds ``versions.json`` (``{"versions": {package: version}}``), written by
:func:`gm_lib.experiments.train_run` after a call that trained or resumed it, so it names the environment of the
call that last changed its weights. The versions are information, not part of any cache key: a run made with
another torch is still served (its key says the same configs and code made it), and ``PLAN=1`` says so.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from gm_lib.cache import atomic_write

__all__ = ["PACKAGES", "VERSIONS_FILE", "collect_versions", "record_run_versions", "read_run_versions",
           "changed_versions"]

# What can change a trained weight or a score: the maths (torch, numpy, scipy), the image pipeline (torchvision),
# the FID backend (openvino), and this library.
PACKAGES = ("torch", "torchvision", "numpy", "scipy", "openvino", "gm_lib")
VERSIONS_FILE = "versions.json"


def collect_versions() -> dict[str, str]:
    """``{"python": "3.12.3", "torch": "2.5.1", ...}`` for Python and :data:`PACKAGES` (read from the installed
    packages' metadata, nothing imported); a package that is not installed reads ``"not installed"``."""
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def record_run_versions(run_dir: str | Path) -> None:
    """Write this environment's :func:`collect_versions` to ``run_dir/versions.json`` (atomically)."""
    blob = json.dumps({"versions": collect_versions()}, indent=1, sort_keys=True)
    atomic_write(Path(run_dir) / VERSIONS_FILE, blob.encode())


def read_run_versions(run_dir: str | Path) -> dict[str, str] | None:
    """The versions recorded in ``run_dir/versions.json``; None when there is none or it is unreadable."""
    try:
        versions = json.loads((Path(run_dir) / VERSIONS_FILE).read_text())["versions"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(versions, dict):
        return None
    return {str(package): str(version) for package, version in versions.items()}


def changed_versions(recorded: dict[str, str] | None, now: dict[str, str] | None = None) -> list[str]:
    """``["torch 2.4.0 → 2.5.1", ...]``: each package whose ``recorded`` version differs from ``now`` (default:
    :func:`collect_versions`); packages only one side names are left out; [] when ``recorded`` is None."""
    if not recorded:
        return []
    now = collect_versions() if now is None else now
    return [f"{package} {recorded[package]} → {now[package]}" for package in sorted(set(recorded) & set(now))
            if recorded[package] != now[package]]
