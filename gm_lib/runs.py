"""Run identity and load-or-train: a trained model cached under a name its configs and code determine.

A run is named ``<name>-<hash12>`` where the hash covers the model config (class and fields), the
data, the training config (``precision="auto"`` resolved first, so the name says what it trains
at) and the code that computes its weights: the import closure of the model's own module(s), of the
training engine and of its dataset's reader, :func:`training_code`, as this process imported it. Plumbing
(this module, checkpoints, progress, paths: :data:`gm_lib.code_graph.NOT_KEYED`) and other datasets' readers
are not in it; an edit of a module the weights come from changes the name, any other edit does not.
Its folder ``cache_dir("runs")/<name>-<hash12>`` holds ``config.json`` (that description, readable),
the checkpoint and history (:mod:`gm_lib.train`), weight snapshots and cached scores
(:mod:`gm_lib.evaluation`). :func:`get_or_train` loads a finished run, resumes an unfinished one,
or trains it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch

import gm_lib
from gm_lib.cache import atomic_write, key_digest
from gm_lib.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    History,
    encode_config,
    list_snapshots,
    load_checkpoint,
    run_model_config,
)
from gm_lib.code_graph import changed_modules, check_current, code_digests, name_modules, reading_disk
from gm_lib.data import READERS, DataSpec
from gm_lib.models.base import GenerativeModel
from gm_lib.paths import cache_dir
from gm_lib.precision import select_device
from gm_lib.saved_configs import (
    ConfigRefused,
    UnknownConfigClass,
    allow_config_class,
    class_path,
    decode_config,
    decode_fields,
)
from gm_lib.train import set_seed, train
from gm_lib.train_config import CALL_FIELDS, TrainConfig

__all__ = ["ENGINE", "training_code", "describe_run", "run_hash", "run_directory", "stale_reason", "unfinished_reason",
           "get_or_train", "load_model", "load_snapshots", "RunNotFinished", "load_finished"]


ENGINE = "gm_lib.train"  # the training step, batching and precision: every run's weights come through it


def training_code(model_config, *datasets: DataSpec) -> dict[str, str]:
    """``{module path: code digest}`` of the gm_lib code that computes a trained ``model_config``'s weights.

    The import closure (:func:`gm_lib.code_graph.code_digests`) of the config's module, of the modules it
    names in ``code_modules`` (e.g. a GAN's loss family, imported by name), of the engine and of the readers
    of ``datasets`` (:data:`gm_lib.data.READERS`); the other datasets' readers, metrics, plots, other families
    and plumbing are not in it.
    """
    readers = {READERS[spec.name] for spec in datasets}
    roots = (type(model_config).__module__, *getattr(model_config, "code_modules", ()), ENGINE, *sorted(readers))
    return code_digests(roots, exclude=set(READERS.values()) - readers)


def describe_run(model_config, data: DataSpec, train_config: TrainConfig, val_data: DataSpec | None) -> dict:
    """What names a run (``train_config`` already resolved); written to its ``config.json``."""
    return {
        "model_class": class_path(type(model_config)),
        "model_config": encode_config(model_config),
        "data": dataclasses.asdict(data),
        "val_data": dataclasses.asdict(val_data) if val_data is not None else None,
        # names the precision trained at; the time guard (CALL_FIELDS) is not part of what a run is
        "train_config": {k: v for k, v in dataclasses.asdict(train_config).items() if k not in CALL_FIELDS},
        "code": training_code(model_config, *(spec for spec in (data, val_data) if spec is not None)),
    }


def run_hash(model_config, data: DataSpec, train_config: TrainConfig, val_data: DataSpec | None = None) -> str:
    """12 hex digits naming a run: model config (class + fields), data, train config (resolved), its code."""
    return key_digest(describe_run(model_config, data, train_config.resolve(), val_data), length=12)


@reading_disk()  # the current code is the code on disk, as a fresh kernel would import it
def stale_reason(run_dir: str | Path) -> str | None:
    """None when ``run_dir`` (``<name>-<hash12>``) is the run the current code would load, else a one-line reason.

    The configs recorded in its ``config.json`` are rebuilt with the current classes (a field added since counts
    with its default, as the current code would count it) and hashed with the current code, as
    :func:`get_or_train` does; the reason names the modules whose code changed since it was trained.
    """
    run_dir = Path(run_dir)
    name, _, digest = run_dir.name.rpartition("-")
    if not name or len(digest) != 12:
        return f"folder name {run_dir.name!r} is not <name>-<hash12>"
    try:
        recorded = json.loads((run_dir / "config.json").read_text())
    except FileNotFoundError:
        return "config.json missing"
    except (OSError, ValueError, RecursionError) as error:
        return f"config.json unreadable ({type(error).__name__})"
    if not isinstance(recorded, dict):
        return "config.json is not a run description"
    try:  # the recorded configs name only registered classes (gm_lib.saved_configs): nothing in the file runs
        model_config = decode_config(recorded["model_config"])
        description = describe_run(model_config, decode_fields(DataSpec, recorded["data"]),
                                   decode_fields(TrainConfig, recorded["train_config"]),
                                   decode_fields(DataSpec, recorded["val_data"]) if recorded.get("val_data") else None)
    except UnknownConfigClass as error:
        return f"its config.json is refused: {error}"
    except ConfigRefused as error:
        return f"its config.json no longer fits the current code ({error})"
    except (KeyError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0][:80] if str(error) else type(error).__name__
        return f"its config.json no longer fits the current code ({reason})"
    if key_digest(description, length=12) == digest:
        return None
    # Only modules the current code names are compared: a module name from the file is never looked up (finding
    # its spec imports its parent packages) and no path from it is read.
    recorded_code = recorded.get("code") if isinstance(recorded.get("code"), dict) else {}
    edited = changed_modules({k: v for k, v in recorded_code.items() if k in description["code"]})
    if edited:
        return "code changed since it was trained: " + name_modules(edited)
    if recorded.get("code") != description["code"]:
        return "its code now imports other gm_lib modules"
    return "its settings hash to another key under the current code (a config class or its defaults changed)"


def unfinished_reason(run_dir: Path) -> str | None:
    """None when ``run_dir`` holds a finished checkpoint, else why not (no checkpoint, unreadable, unfinished)."""
    try:
        state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    except FileNotFoundError:
        return "no checkpoint"
    except CheckpointError:
        return "checkpoint unreadable"
    if state["finished"]:
        return None
    steps = (state.get("train_config") or {}).get("steps")
    return f"unfinished at step {state['step']:,}" + (f" of {steps:,}" if steps else "")


def run_directory(name: str, model_config, data: DataSpec, train_config: TrainConfig,
                  val_data: DataSpec | None = None) -> Path:
    """The cache folder :func:`get_or_train` uses for these configs: ``cache_dir("runs")/<name>-<hash12>``."""
    return cache_dir("runs") / f"{name}-{run_hash(model_config, data, train_config, val_data)}"


def get_or_train(
    name: str,
    model_config,
    data: DataSpec,
    train_config: TrainConfig,
    *,
    val_data: DataSpec | None = None,
    force: bool = False,
    progress: bool = True,
) -> tuple[GenerativeModel, History]:
    """Load the finished run ``cache_dir("runs")/<name>-<hash12>``, or train (resuming) and return it.

    ``model_config`` is a frozen dataclass with ``.build()``. The model is seeded with
    ``train_config.seed`` before it is built, so a run is reproducible from its configs alone.
    ``precision="auto"`` is resolved first, so the run's hash names the precision it trains at.
    A run stopped by the ``max_minutes`` guard is returned with ``history.truncated`` set and stays
    unfinished on disk, so the next call resumes it. ``force=True`` deletes the run and retrains.

    Returns:
        ``(model, history)`` with the model in eval mode on ``train_config.device``.

    Raises:
        gm_lib.code_graph.CodeChanged: a module the weights depend on was edited after this process imported
            it; nothing is written (restart the kernel).
    """
    train_config = train_config.resolve()
    allow_config_class(type(model_config))  # the code gave this class: its saved config may name it when loaded
    description = describe_run(model_config, data, train_config, val_data)
    digest = key_digest(description, length=12)
    run_dir = cache_dir("runs") / f"{name}-{digest}"
    if force and run_dir.exists():
        shutil.rmtree(run_dir)  # checkpoint, history, snapshots and cached scores: everything of the run
    if run_dir.joinpath(CHECKPOINT_NAME).exists():
        state = load_checkpoint(run_dir / CHECKPOINT_NAME)
        if state["finished"]:
            return load_model(run_dir, device=train_config.device, state=state)
    check_current(description["code"])  # before anything is written under this key
    run_dir.mkdir(parents=True, exist_ok=True)
    readable = {"name": name, "hash": digest, "gm_lib_version": gm_lib.__version__, **description}
    atomic_write(run_dir / "config.json", json.dumps(readable, indent=2).encode())
    set_seed(train_config.seed)
    model = model_config.build()
    history = train(
        model,
        data.load(),
        train_config,
        run_dir,
        val_data=val_data.load() if val_data is not None else None,
        progress=progress,
        before_save=lambda: check_current(description["code"]),
    )
    return model.eval(), history


def load_model(run_dir: str | Path, device: str = "auto", *, state: dict | None = None):
    """Rebuild a trained model from ``run_dir/checkpoint.pt`` (its config decoded by
    :func:`gm_lib.checkpoint.run_model_config`: registered classes only, equal to ``config.json``'s).

    Returns:
        ``(model, history)``: the model in eval mode on ``device``.

    Raises:
        FileNotFoundError / CheckpointError: see :func:`gm_lib.checkpoint.load_checkpoint` and
            :func:`gm_lib.checkpoint.run_model_config`.
    """
    state = state if state is not None else load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    model = run_model_config(run_dir, state).build()
    model.load_state_dict(state["model"])
    return model.to(select_device(device)).eval(), History.from_dict(state["history"])


def load_snapshots(run_dir: str | Path, device: str = "auto") -> list[tuple[int, GenerativeModel]]:
    """The run's weight snapshots (``TrainConfig.snapshot_every``) as ``[(step, model in eval mode), ...]``.

    Raises:
        FileNotFoundError / CheckpointError: the run has no readable checkpoint to rebuild the model from.
    """
    model_config = run_model_config(run_dir, load_checkpoint(Path(run_dir) / CHECKPOINT_NAME))
    models = []
    for step, path in list_snapshots(run_dir):
        model = model_config.build()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        models.append((step, model.to(select_device(device)).eval()))
    return models


class RunNotFinished(RuntimeError):
    """A notebook asked for another notebook's model (:func:`load_finished`) before that notebook finished it."""


def load_finished(name: str, model_config, data: DataSpec, train_config: TrainConfig, *,
                  val_data: DataSpec | None = None, trained_by: str) -> tuple[GenerativeModel, History]:
    """Load the finished run that :func:`get_or_train` would load for these configs; never train or resume it.

    For a notebook that reads models another notebook trains (05 reads 01's and 04's): finishing that run here
    would give the two notebooks' numbers different weights, so an absent or unfinished run is an error.

    Returns:
        ``(model, history)`` with the model in eval mode on ``train_config.device``.

    Raises:
        RunNotFinished: no checkpoint, or one the time guard stopped; the message names ``trained_by``.
        CheckpointError: the checkpoint is unreadable.
    """
    train_config = train_config.resolve()
    run_dir = run_directory(name, model_config, data, train_config, val_data)
    try:
        state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    except FileNotFoundError:
        state = None
    if state is None or not state["finished"]:
        where = ("has not been trained here" if state is None
                 else f"is unfinished at step {state['step']:,} of {train_config.steps:,}")
        raise RunNotFinished(f"model {run_dir.name} {where}: notebook {trained_by} trains it; run that notebook "
                             "first (`make report` runs it before this one and resumes an unfinished run)")
    return load_model(run_dir, device=train_config.device, state=state)
