"""What a notebook records for the report: figures, tables, metrics, and their provenance.

A notebook makes one :class:`Recorder`, registers what the report should show, and saves
``<output_dir>/results.json`` at the end. The report (``python -m gm_build.report``) reads only
that file and the figure files it names.

results.json schema (``schema: 1``)::

    {
      "schema": 1,
      "run_name": "wae_mnist",
      "profile": "default",                       # profile name
      "profile_values": {...} | null,             # Profile.to_dict() when a Profile was given
      "seed": 0,
      "config": {...},                            # anything JSON-able the notebook passes (model configs ...)
      "metrics": {"fid/wae_mmd": 31.2, ...},      # flat: name -> number (or string)
      "metric_meta": {"fid/wae_mmd": {"n": 2048, "split": "test", "model": "WAE-MMD", "dataset": "mnist"}},
      "training": {"WAE-MMD": {"steps": 4000, "target_steps": 4000, "truncated": false, "minutes": 2.1}},
      "figures": [{"file": "samples.png", "name": "samples", "caption": "..."}],   # files relative to output_dir
      "tables": {"losses": {"columns": [...], "rows": [[...], ...], "caption": "..."}},
      "notes": ["markdown paragraph", ...],
      "claims": [{"name": ..., "kind": "compare", "text": "Here …", "measured": ..., "agrees": ...}],  # gm_lib.claims
      "versions": {"python": ..., "torch": ..., "torchvision": ..., "numpy": ..., "scipy": ..., "openvino": ...,
                   "gm_lib": ...},                 # gm_lib.versions; "not installed" for a missing package
      "git_commit": "<sha>[-dirty]" | "unknown",
      "machine": {"cpu": "AMD EPYC", "isa": ["AVX2", "AVX-512", "AVX512-BF16"], "device": "cpu"},  # gm_lib.machine
      "wall_time_s": 123.4,
      "time_s": {"training": 80.2, "evaluation": 30.1},   # wall seconds in gm_lib.progress phases of each kind
      "timestamp": "2025-01-01T12:00:00+00:00"
    }

Metric naming, read by the report's summary table: ``<kind>/<model>`` where kind is one of
``fid``, ``kid``, ``sharpness``, ``nll`` (others are shown in the run's own section only), e.g.
``fid/vae``, ``nll/iwae_k50``; ``fid/real`` (model "real") is the real-vs-real FID floor.
Meta keys the report understands: ``n`` (samples or images), ``split``, ``k`` (importance
samples), ``dataset``, ``model`` (display name), ``preview`` (True: N too small to report).

Example (three lines):
    rec = Recorder(output_dir, run_name, profile, seed, config={"latent_dim": 8})
    rec.metric("fid/wae_mmd", 31.2, n=2048, split="test", model="WAE-MMD")
    rec.save()
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gm_lib.cache import atomic_write
from gm_lib.machine import describe_machine
from gm_lib.paths import repo_root
from gm_lib.progress import time_spent
from gm_lib.versions import collect_versions

__all__ = ["RESULTS_FILE", "SCHEMA_VERSION", "Recorder", "load_results", "git_commit"]

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1


class Recorder:
    """Collects one run's figures, tables and metrics and writes ``results.json`` with provenance.

    Args:
        output_dir: folder for figures and results.json (created if missing).
        run_name: the manifest's run name (e.g. ``"wae_svhn"``).
        profile: a :class:`gm_lib.profiles.Profile` or its name.
        seed: the run's seed.
        config: JSON-able settings worth keeping (dataclasses are converted to dicts).
        device: the run's device (the notebook's ``device`` parameter; ``auto`` resolves as the training does),
            recorded with the CPU model and its vector instruction sets as ``machine`` (:mod:`gm_lib.machine`).
    """

    def __init__(self, output_dir: str | os.PathLike, run_name: str, profile: Any, seed: int, config: Any = None,
                 device: Any = "auto"):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.run_name = run_name
        self.profile = profile
        self.seed = int(seed)
        self.config = config if config is not None else {}
        self.device = device
        self.metrics: dict[str, Any] = {}
        self.metric_meta: dict[str, dict[str, Any]] = {}
        self.figures: list[dict[str, str]] = []
        self.tables: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.claims: list[dict[str, Any]] = []  # sentences written from the numbers (gm_lib.claims)
        self.training: dict[str, dict[str, Any]] = {}
        self._start = time.perf_counter()
        self._spent_at_start = time_spent()  # a notebook re-run in one kernel counts only its own time

    def figure(self, fig: Any, name: str, caption: str, dpi: int = 120) -> Path:
        """Save a matplotlib figure as ``<output_dir>/<name>.png`` and register it; returns the path."""
        file = f"{name}.png" if not name.endswith(".png") else name
        path = self.output_dir / file
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self.figures = [f for f in self.figures if f["file"] != file]
        self.figures.append({"file": file, "name": Path(file).stem, "caption": caption})
        return path

    def table(self, name: str, df_or_rows: Any, caption: str | None = None, columns: list[str] | None = None) -> None:
        """Register a table: a pandas DataFrame, a list of dicts, or a list of rows with ``columns``."""
        cols, rows = _table_parts(df_or_rows, columns)
        self.tables[name] = {"columns": cols, "rows": [[_jsonable(v) for v in row] for row in rows], "caption": caption}

    def metric(self, name: str, value: Any, **meta: Any) -> None:
        """Record one number (or short string) with its protocol, e.g. ``n=2048, split="test", k=1000``."""
        self.metrics[name] = _jsonable(value)
        self.metric_meta[name] = {key: _jsonable(v) for key, v in meta.items()}

    def training_run(self, label: str, history: Any, target_steps: int) -> None:
        """Record how far a model trained: steps reached of ``target_steps``, truncated or not, minutes.

        A run the ``max_minutes`` safety guard stopped is *truncated*: the report flags it, since its
        numbers are not those of the profile's step budget.
        """
        steps = int(history.steps_done or (history.steps[-1]["step"] if history.steps else 0))
        self.training[label] = {"steps": steps, "target_steps": int(target_steps),
                                "truncated": bool(history.truncated or steps < target_steps),
                                "minutes": round(history.wall_time / 60, 2)}

    def note(self, markdown: str) -> None:
        """A paragraph of markdown shown in the run's report section (e.g. the discussion's key finding)."""
        self.notes.append(markdown)

    def to_dict(self, wall_time: float | None = None) -> dict[str, Any]:
        """The results.json content (see the module docstring for the schema)."""
        profile_values = self.profile.to_dict() if hasattr(self.profile, "to_dict") else None
        return {
            "schema": SCHEMA_VERSION,
            "run_name": self.run_name,
            "profile": getattr(self.profile, "name", self.profile),
            "profile_values": profile_values,
            "seed": self.seed,
            "config": _jsonable(self.config),
            "metrics": self.metrics,
            "metric_meta": self.metric_meta,
            "figures": self.figures,
            "tables": self.tables,
            "notes": self.notes,
            "claims": self.claims,
            "training": self.training,
            "versions": collect_versions(),
            "git_commit": git_commit(),
            "machine": describe_machine(self.device),
            "wall_time_s": round(wall_time if wall_time is not None else time.perf_counter() - self._start, 3),
            "time_s": {kind: round(s - self._spent_at_start[kind], 3) for kind, s in time_spent().items()},
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def save(self, wall_time: float | None = None) -> Path:
        """Write ``results.json`` atomically (mode 0644: the report, other users and CI read it); returns its path.

        PNGs in ``output_dir`` that this run did not record are deleted (the folder is the run's): figures of a
        model an earlier version of the notebook had would otherwise sit beside the current ones.
        """
        path = self.output_dir / RESULTS_FILE
        text = json.dumps(self.to_dict(wall_time), indent=2, allow_nan=False)
        atomic_write(path, (text + "\n").encode())
        recorded = {figure["file"] for figure in self.figures}
        for stale in self.output_dir.glob("*.png"):
            if stale.name not in recorded:
                stale.unlink()
        return path


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results.json (or the one inside a folder); raises ValueError on an unknown schema."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA_VERSION:
        found = data.get("schema")
        raise ValueError(f"{path}: results schema {found!r}, expected {SCHEMA_VERSION}; re-run its notebook")
    return data


def git_commit() -> str:
    """HEAD's sha of the checkout (``-dirty`` when gm_lib or notebooks have local edits), else ``"unknown"``."""
    try:
        sha = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--", "gm_lib", "notebooks")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()


def _table_parts(data: Any, columns: list[str] | None) -> tuple[list[str], list[list[Any]]]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas DataFrame; a meaningful index becomes a column
        frame = data if data.index.name is None and data.index.equals(_range_index(len(data))) else data.reset_index()
        return [str(c) for c in frame.columns], frame.astype(object).values.tolist()
    rows = list(data)
    if rows and isinstance(rows[0], dict):
        cols = columns or list(dict.fromkeys(key for row in rows for key in row))
        return [str(c) for c in cols], [[row.get(c) for c in cols] for row in rows]
    if columns is None:
        raise ValueError("table(): rows given as lists need columns=[...] (or pass a DataFrame / list of dicts)")
    return list(columns), [list(row) for row in rows]


def _range_index(n: int) -> Any:
    import pandas as pd

    return pd.RangeIndex(n)


def _jsonable(value: Any) -> Any:
    """Numpy/torch scalars and arrays, dataclasses, tuples and paths as plain JSON values; NaN/inf as None."""
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
