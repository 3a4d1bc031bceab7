"""Checkpoint plumbing for :mod:`gm_lib.train`: atomic writes, RNG capture, config round-trips, History.

A checkpoint is one ``torch.save`` file (``checkpoint.pt``) holding only tensors, numbers,
strings, lists and dicts, so it loads with ``torch.load(weights_only=True)`` (no arbitrary
pickle). Keys:

    model          the model's ``state_dict``
    optimizers     ``{name: optimizer.state_dict()}``
    rng            torch / cuda / numpy / random states and the BatchStream state
    step           last completed step (int)
    finished       True once the run reached ``steps`` or its time budget
    history        :meth:`History.to_dict`
    model_config   :func:`encode_config` of the model's dataclass config
    train_config   ``dataclasses.asdict(TrainConfig)``
    data_spec      ``dataclasses.asdict(DataSpec)``
    version        ``gm_lib.__version__``

Every file is written by :func:`gm_lib.cache.atomic_write` (temp file, fsync, 0644, rename): a crash
(even SIGKILL) leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gm_lib.cache import atomic_write
from gm_lib.saved_configs import ConfigRefused, class_path, decode_config, is_plain_json
from gm_lib.train_config import CALL_FIELDS  # how one call runs (the time guard) may change between calls

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "History",
    "load_checkpoint",
    "save_checkpoint",
    "model_config_code",
    "check_same_run",
    "delete_run_files",
    "capture_rng",
    "restore_rng",
    "encode_config",
    "run_model_config",
    "save_snapshot",
    "list_snapshots",
]

CHECKPOINT_NAME = "checkpoint.pt"
_REQUIRED_KEYS = ("model", "optimizers", "rng", "step", "finished", "history", "train_config")


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable, truncated, or belongs to a different run."""


# ---------------------------------------------------------------- history


@dataclass
class History:
    """What a run recorded.

    Attributes:
        steps: one dict per logging window: ``step`` (last step of the window), ``time``
            (seconds of training wall time since the run began, across resumes), and the
            mean of each loss term over the window.
        evals: one dict per evaluation: ``step``, ``time`` and the mean validation loss terms.
        wall_time: seconds of training wall time, summed over resumed segments.
        stopped_early: True when the ``max_minutes`` safety guard ended the last call before ``steps``.
        stopped_at: the last completed step when it stopped early, else ``None``.
        steps_done: optimisation steps completed so far.
    """

    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    wall_time: float = 0.0
    stopped_early: bool = False
    stopped_at: int | None = None
    steps_done: int = 0

    @property
    def truncated(self) -> bool:
        """Whether the run stopped before its step budget (its numbers are not the profile's)."""
        return self.stopped_early

    def to_frame(self):
        """The per-step records as a pandas DataFrame (one row per logging window)."""
        import pandas as pd

        return pd.DataFrame(self.steps)

    def eval_frame(self):
        """The validation records as a pandas DataFrame (one row per evaluation)."""
        import pandas as pd

        return pd.DataFrame(self.evals)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(**data)

    def save(self, directory: str | Path) -> None:
        """Write ``history.json`` (everything) and ``history.csv`` (the steps), atomically."""
        directory = Path(directory)
        atomic_write(directory / "history.json", json.dumps(self.to_dict(), indent=1).encode())
        atomic_write(directory / "history.csv", self.to_frame().to_csv(index=False).encode())

    @classmethod
    def load(cls, directory: str | Path) -> History:
        """Read ``history.json`` from ``directory``."""
        return cls.from_dict(json.loads((Path(directory) / "history.json").read_text()))


# ---------------------------------------------------------------- checkpoint files


def save_checkpoint(path: Path, state: dict) -> None:
    """Atomically ``torch.save`` a checkpoint dict (see the module docstring for its keys)."""
    atomic_write(path, obj=state)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt or not a gm_lib checkpoint; the message
            names the file and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    fix = "delete it (the run restarts from scratch) or pass force=True to get_or_train"
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # zip, pickle and EOF errors all mean the same thing here
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({reason}); {fix}") from None
    missing = [key for key in _REQUIRED_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} is not a gm_lib training checkpoint (missing {missing}); {fix}")
    return state


def model_config_code(model) -> Any:
    """:func:`encode_config` of ``model.config`` (what a checkpoint stores to rebuild it), ``None`` without one."""
    config = getattr(model, "config", None)
    return encode_config(config) if dataclasses.is_dataclass(config) else None


def check_same_run(state: dict, path: Path, train_config: dict, model_config: Any) -> None:
    """Raise :class:`CheckpointError` unless ``state`` was written with ``train_config`` (as a dict) and
    ``model_config`` (as :func:`model_config_code`; ``None`` skips that check): resuming another run would mix two."""
    saved = {k: v for k, v in state["train_config"].items() if k not in CALL_FIELDS}
    train_config = {k: v for k, v in train_config.items() if k not in CALL_FIELDS}
    if saved != train_config:
        changed = sorted(k for k in train_config if saved.get(k) != train_config[k])
        raise CheckpointError(
            f"checkpoint {path} was written with a different TrainConfig (changed: {changed}); "
            "use another run_dir, or resume=False / force=True to start over"
        )
    if model_config not in (None, state.get("model_config")):
        raise CheckpointError(f"checkpoint {path} holds a different model config; use another run_dir")


def delete_run_files(run_dir: Path) -> None:
    """Delete everything a run trained or scored (its run starts over): the checkpoint, history, weight snapshots,
    cached scores (``metrics/``) and any temporary file. Only ``config.json``, which names the run, stays."""
    for path in Path(run_dir).iterdir() if Path(run_dir).is_dir() else ():
        if path.name == "config.json":
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------- snapshots


def save_snapshot(run_dir: Path, step: int, state_dict: dict) -> None:
    """Weights only, as ``run_dir/snapshots/step_0000500.pt`` (for curves over training)."""
    folder = Path(run_dir) / "snapshots"
    folder.mkdir(exist_ok=True)
    atomic_write(folder / f"step_{step:07d}.pt", obj=state_dict)


def list_snapshots(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``[(step, path), ...]`` of a run's snapshots, in step order."""
    paths = sorted((Path(run_dir) / "snapshots").glob("step_*.pt"))
    return [(int(path.stem.removeprefix("step_")), path) for path in paths]


# ---------------------------------------------------------------- RNG states


def capture_rng() -> dict:
    """torch (CPU and CUDA), numpy and ``random`` states as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "random": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].cpu().numpy().astype(np.uint32),  # .cpu(): a checkpoint may be loaded elsewhere
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached"],
        )
    )
    random_state = state["random"]
    random.setstate((random_state["version"], tuple(random_state["internal"]), random_state["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ---------------------------------------------------------------- configs


def encode_config(value: Any) -> Any:
    """A (nested) dataclass config as JSON-able values that :func:`gm_lib.saved_configs.decode_config` inverts exactly
    (for a registered class).

    Dataclasses become ``{"__class__": "module:qualname", "fields": {...}}`` and tuples
    ``{"__tuple__": [...]}``, so the rebuilt config compares equal to the original.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode_config(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return {"__class__": class_path(type(value)), "fields": fields}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_config(v) for v in value]}
    if isinstance(value, list):
        return [encode_config(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_config(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"config value {value!r} of type {type(value).__name__} cannot be saved; use plain values")


def run_model_config(run_dir: str | Path, state: dict) -> Any:
    """The model config of the run in ``run_dir`` whose checkpoint is ``state``, decoded by :func:`decode_config`.

    When the folder has a ``config.json`` (every run :func:`gm_lib.runs.get_or_train` made has), the checkpoint's
    ``model_config`` must equal the one it records: the folder's name is the key of that one.

    Raises:
        CheckpointError: no model config, it differs from ``config.json``'s, names a class that is not registered, or
            does not decode (one line naming the file and what to do).
    """
    run_dir = Path(run_dir)
    path, fix = run_dir / CHECKPOINT_NAME, "delete the run folder, or retrain it with force=True"
    saved = state.get("model_config")
    if saved is None:
        raise CheckpointError(f"checkpoint {path} has no model config to rebuild from; retrain with force=True")
    recorded_path = run_dir / "config.json"
    if recorded_path.is_file():
        try:
            recorded = json.loads(recorded_path.read_text())["model_config"]
        except (OSError, ValueError, RecursionError, KeyError, TypeError) as error:
            raise CheckpointError(f"{recorded_path} is unreadable ({type(error).__name__}); {fix}") from None
        if not (is_plain_json(saved) and saved == recorded):
            raise CheckpointError(f"checkpoint {path} holds another model config than {recorded_path} records (the "
                                  f"folder mixes two runs); {fix}")
    try:
        return decode_config(saved)
    except ConfigRefused as error:
        raise CheckpointError(f"checkpoint {path}: {error}; {fix}") from None
