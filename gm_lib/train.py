"""The training engine: one loop for every model family, with checkpoints, exact resume and load-or-train.

Contract. A model (:class:`gm_lib.models.base.GenerativeModel`) owns its maths: it builds its
optimizers and performs one step in ``training_step(next_batch, optimizers)``. The engine owns
everything else:

* seeding (:func:`set_seed`) and the device (:func:`select_device`);
* data: ``data.stream(batch_size, seed)``; ``next_batch()`` returns the next images only,
  float ``(B, C, H, W)`` in ``[0, 1]`` on the device (channels_last when asked);
* precision: the step runs inside ``torch.autocast(device_type, bfloat16, enabled=precision == "bf16")``;
  ``precision="auto"`` (the default) is resolved per family and device by :func:`resolve_precision`;
* checkpoints every ``checkpoint_every`` steps and at the end, written atomically (see
  :mod:`gm_lib.checkpoint`), holding weights, optimizer states, every RNG state and the data
  stream position, so a run killed at any point and resumed ends bit-identical to an
  uninterrupted one (on the same device and thread count);
* a NaN/inf guard: a non-finite loss term raises :class:`TrainingDiverged` naming the step and
  term; weights are checked before every checkpoint, so the last good one is never overwritten;
* budgets are steps: a run trains ``steps`` steps on any machine. ``max_minutes`` is only a safety
  guard per call: a run it stops is *truncated* (``History.truncated``), checkpointed as unfinished,
  and the next call resumes it, so a truncated run is never cached as a finished one;
* an optional learning-rate schedule (``lr_schedule="cosine"``), a pure function of the step, so
  resume stays exact;
* history (mean loss terms per ``log_every`` window, validation evaluations) saved as
  ``history.json`` / ``history.csv`` beside the checkpoint.

:func:`get_or_train` adds a cache keyed by a hash of the model config, data, train config and
gm_lib's training code: a finished run is loaded, an unfinished one resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

import gm_lib
from gm_lib.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    History,
    atomic_write,
    capture_rng,
    class_path,
    decode_config,
    encode_config,
    list_snapshots,
    load_checkpoint,
    remove_temp_files,
    restore_rng,
    save_checkpoint,
    save_snapshot,
)
from gm_lib.data import DataSpec, ImageDataset
from gm_lib.models.base import GenerativeModel
from gm_lib.paths import cache_dir

__all__ = [
    "Precision",
    "TrainConfig",
    "TrainingDiverged",
    "CheckpointError",
    "History",
    "set_seed",
    "select_device",
    "bf16_is_faster",
    "resolve_precision",
    "train",
    "evaluate",
    "get_or_train",
    "run_directory",
    "load_snapshots",
    "load_checkpoint",
    "load_model",
    "run_hash",
    "code_hash",
]

# The code a trained model depends on. Editing anything else (metrics, plots, the report) must not
# invalidate the checkpoint cache; editing these retrains.
_TRAINING_CODE = ("data.py", "celeba.py", "nets.py", "losses.py", "models/", "train.py", "checkpoint.py")

Precision = Literal["auto", "fp32", "bf16"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train (the model config says what).

    Attributes:
        steps: optimisation steps (for GANs: generator updates).
        batch_size: images per ``next_batch()`` call.
        max_minutes: safety guard in minutes of wall time per call (``None``: none). A run it stops is
            truncated: checkpointed unfinished, reported as such, resumed by the next call.
        seed: seeds torch/numpy/random and the data order.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        eval_every: steps between validation evaluations (``None``: only at the end, if val data).
        eval_batches: evaluation averages ``model.evaluation_losses`` over up to this many batches.
        log_every: steps per history record (each record is the window's mean).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        precision: ``fp32``, ``bf16`` (autocast around the training step and evaluation) or ``auto``:
            bf16 only where it keeps the family's quality and is faster on the device, else fp32
            (:func:`resolve_precision`; the engine, the cache and checkpoints see the resolved value).
        channels_last: store the model and batches in NHWC memory format.
        snapshot_every: steps between weight-only snapshots in ``run_dir/snapshots/`` (``None``: none),
            taken at step 0 and at the end too; they feed curves over training (e.g. GAN mode coverage).
        lr_schedule: ``constant``, or ``cosine``: every optimizer's learning rate follows
            ``lr · ½(1 + cos(π t / steps))`` (SGDR without restarts, Loshchilov & Hutter 2017, eq. 5).
    """

    steps: int
    batch_size: int = 64
    max_minutes: float | None = None
    seed: int = 0
    checkpoint_every: int = 500
    eval_every: int | None = None
    eval_batches: int = 20
    log_every: int = 10
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Precision = "auto"
    channels_last: bool = False
    snapshot_every: int | None = None
    lr_schedule: Literal["constant", "cosine"] = "constant"

    def __post_init__(self):
        for name in ("steps", "batch_size", "checkpoint_every", "eval_batches", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be >= 1")
        for name in ("eval_every", "snapshot_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be >= 1 or None")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"TrainConfig.max_minutes={self.max_minutes} must be > 0 or None")
        if self.precision not in get_args(Precision):
            raise ValueError(f"TrainConfig.precision={self.precision!r}; choose one of {get_args(Precision)}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"TrainConfig.lr_schedule={self.lr_schedule!r}; choose 'constant' or 'cosine'")

    def resolve(self, model_config) -> TrainConfig:
        """This config with ``precision="auto"`` replaced by :func:`resolve_precision`'s choice."""
        if self.precision != "auto":
            return self
        precision = resolve_precision("auto", model_config, select_device(self.device))
        return dataclasses.replace(self, precision=precision)


class TrainingDiverged(RuntimeError):
    """A loss term or a weight became NaN/inf; the last good checkpoint is left untouched."""


def set_seed(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and ``random`` from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available else CPU; ``cpu``; ``cuda`` (raises if there is no GPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but no CUDA GPU is visible; use device='auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device={name!r}; choose 'auto', 'cpu' or 'cuda'")
    return torch.device(name)


def bf16_is_faster(device: torch.device) -> bool:
    """Whether bf16 autocast trains faster than fp32 on ``device`` (``bench/bench_train.py`` measures it).

    CUDA: GPUs with native bf16 (Ampere and newer). CPU: only with AMX tiles (Sapphire Rapids and
    newer, when the hypervisor exposes them): there bf16 autocast trained every family 1.19-2.13x
    faster than fp32; on a Sapphire Rapids VM with AMX hidden (AVX512-BF16 only) it was 0.71-0.91x.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)  # emulated bf16 is slower, not faster
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, but what torch's inductor asks
    return bool(amx and amx())


def resolve_precision(precision: Precision, model_config, device: torch.device) -> Literal["fp32", "bf16"]:
    """The precision to train ``model_config``'s family at on ``device``.

    ``fp32`` and ``bf16`` are returned as given. ``auto`` gives ``bf16`` only when the family keeps
    its final quality in bf16 (``model_config.bf16_keeps_quality``, measured by
    ``bench/bench_precision.py``; a config without it counts as not measured) *and*
    :func:`bf16_is_faster` on ``device``; otherwise ``fp32``.

    Raises:
        ValueError: ``precision`` is not one of ``auto``, ``fp32``, ``bf16``.
    """
    if precision not in get_args(Precision):
        raise ValueError(f"precision={precision!r}; choose one of {get_args(Precision)}")
    if precision != "auto":
        return precision
    keeps_quality = getattr(model_config, "bf16_keeps_quality", False)
    return "bf16" if keeps_quality and bf16_is_faster(device) else "fp32"


# ---------------------------------------------------------------- the loop


class _Run:
    """State of one training run; :meth:`loop` does the work."""

    def __init__(self, model, data, config, run_dir, val_data, progress):
        config = config.resolve(getattr(model, "config", None))
        self.model, self.data, self.config, self.val_data = model, data, config, val_data
        self.run_dir, self.path, self.progress = run_dir, run_dir / CHECKPOINT_NAME, progress
        self.device = select_device(config.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        model.to(self.device, memory_format=self.memory_format).train()
        self.optimizers = model.configure_optimizers()
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])  # saved with the optimizer state, so resume keeps it
        self.stream = data.stream(config.batch_size, config.seed)
        self.step, self.history, self.finished, self.saved_step = 0, History(), False, None
        self.pending: list[tuple[int, dict[str, Tensor]]] = []

    def next_batch(self) -> Tensor:
        x, _ = next(self.stream)
        return x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def set_learning_rates(self) -> None:
        """Apply the schedule for the step about to be taken (``self.step`` steps done so far)."""
        if self.config.lr_schedule == "constant":
            return
        factor = 0.5 * (1.0 + math.cos(math.pi * self.step / self.config.steps))
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def autocast(self):
        enabled = self.config.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    # -- checkpoints

    def resume(self) -> None:
        # On the CPU: the RNG states must stay CPU tensors (numpy's goes through .numpy(), CUDA's through
        # set_rng_state); load_state_dict copies weights and optimizer moments to the parameters' device.
        state = load_checkpoint(self.path, map_location="cpu")
        self._check_same_run(state)
        self.model.load_state_dict(state["model"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        restore_rng(state["rng"])
        self.stream.load_state_dict(state["rng"]["stream"])
        self.step, self.finished, self.saved_step = state["step"], state["finished"], state["step"]
        self.history = History.from_dict(state["history"])

    def _check_same_run(self, state: dict) -> None:
        saved, current = state["train_config"], dataclasses.asdict(self.config)
        if saved != current:
            changed = sorted(k for k in current if saved.get(k) != current[k])
            raise CheckpointError(
                f"checkpoint {self.path} was written with a different TrainConfig (changed: {changed}); "
                "use another run_dir, or resume=False / force=True to start over"
            )
        if _model_config_code(self.model) not in (None, state.get("model_config")):
            raise CheckpointError(f"checkpoint {self.path} holds a different model config; use another run_dir")

    def checkpoint(self) -> None:
        self._check_weights_finite()
        state = {
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": {**capture_rng(), "stream": self.stream.state_dict()},
            "step": self.step,
            "finished": self.finished,
            "history": self.history.to_dict(),
            "model_config": _model_config_code(self.model),
            "train_config": dataclasses.asdict(self.config),
            "data_spec": dataclasses.asdict(self.data.spec),
            "version": gm_lib.__version__,
        }
        save_checkpoint(self.path, state)
        self.history.save(self.run_dir)
        self.saved_step = self.step

    def _check_weights_finite(self) -> None:
        for name, tensor in self.model.state_dict().items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                self._diverged(self.step, f"weight {name!r}", float("nan"))

    def _diverged(self, step: int, what: str, value: float) -> None:
        last = f"{self.path} (step {self.saved_step}) is intact" if self.saved_step else "no checkpoint was written"
        raise TrainingDiverged(
            f"training diverged at step {step}: {what} = {value} is not finite; last good checkpoint {last}; "
            "lower the learning rate or use precision='fp32', then retrain"
        )

    # -- logging and evaluation

    def flush(self, elapsed: float) -> dict[str, float]:
        """Check the buffered loss terms (one device sync per window) and record their mean."""
        if not self.pending:
            return {}
        names = list(self.pending[-1][1])
        values = torch.stack([torch.stack([losses[n].float() for n in names]) for _, losses in self.pending]).cpu()
        bad = (~torch.isfinite(values)).nonzero()
        if len(bad):
            row, column = bad[0].tolist()
            self._diverged(self.pending[row][0], f"loss term {names[column]!r}", values[row, column].item())
        record = {"step": self.step, "time": round(elapsed, 3)}
        record.update({n: v for n, v in zip(names, values.mean(0).tolist(), strict=True)})
        self.history.steps.append(record)
        self.pending.clear()
        return record

    def evaluate(self, elapsed: float) -> None:
        """Record the mean validation losses (see :func:`evaluate`)."""
        losses = evaluate(
            self.model,
            self.val_data,
            self.config.batch_size,
            self.config.eval_batches,
            precision=self.config.precision,
            seed=self.config.seed + 1,
            memory_format=self.memory_format,
        )
        self.model.train()
        self.history.evals.append({"step": self.step, "time": round(elapsed, 3), **losses})

    # -- the loop

    def loop(self) -> History:
        config, start = self.config, time.monotonic()
        base = self.history.wall_time
        elapsed = lambda: base + time.monotonic() - start  # wall time summed across resumes
        bar = _progress_bar(config.steps, self.step, self.progress)
        if config.snapshot_every and self.step == 0:
            save_snapshot(self.run_dir, 0, self.model.state_dict())
        self.history.stopped_early, self.history.stopped_at = False, None
        while self.step < config.steps:
            self.set_learning_rates()
            with self.autocast():
                losses = self.model.training_step(self.next_batch, self.optimizers)
            self.step += 1
            self.pending.append((self.step, {n: v.detach() for n, v in losses.items()}))
            bar.update(1)
            # The guard counts this call's time only: a resumed truncated run gets a fresh allowance.
            out_of_time = config.max_minutes is not None and time.monotonic() - start >= 60 * config.max_minutes
            if out_of_time and self.step < config.steps:
                self.history.stopped_early, self.history.stopped_at = True, self.step
                break
            self._after_step(elapsed(), bar, last=self.step == config.steps)
        bar.close()
        self.finished = not self.history.stopped_early
        self.history.steps_done = self.step
        self.history.wall_time = elapsed()
        if self.pending:
            self.flush(elapsed())
        self.checkpoint()
        return self.history

    def _after_step(self, elapsed: float, bar, last: bool) -> None:
        config, step = self.config, self.step
        is_checkpoint = step % config.checkpoint_every == 0 and not last
        if step % config.log_every == 0 or is_checkpoint or last:
            bar.set_postfix({k: f"{v:.4g}" for k, v in self.flush(elapsed).items() if k not in ("step", "time")})
        wants_eval = config.eval_every is not None and step % config.eval_every == 0
        if self.val_data is not None and (wants_eval or last):
            self.evaluate(elapsed)
        if config.snapshot_every and (step % config.snapshot_every == 0 or last):
            save_snapshot(self.run_dir, step, self.model.state_dict())
        if is_checkpoint:
            self.history.wall_time = elapsed
            self.checkpoint()


@torch.no_grad()
def evaluate(
    model: GenerativeModel,
    data: ImageDataset,
    batch_size: int = 500,
    max_batches: int | None = None,
    *,
    precision: str = "fp32",
    seed: int = 1,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """Image-weighted mean of ``model.evaluation_losses`` over ``data`` in stored order (model left in eval mode).

    Runs under a forked RNG seeded with ``seed``: stochastic terms (e.g. the VAE's sampled z) are
    comparable between calls, and the caller's random stream is not shifted (so resume stays exact).

    Returns:
        ``{term: mean}`` in the model's units (e.g. nats per image for the VAE's ``loss``).
    """
    device = model.device
    totals, count = {}, 0
    model.eval()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [], device_type=device.type):
        torch.manual_seed(seed)
        for index, (x, _) in enumerate(data.batches(batch_size)):
            if index == max_batches:
                break
            x = x.to(device).contiguous(memory_format=memory_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                losses = model.evaluation_losses(x)
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(x)
            count += len(x)
    return {name: value / count for name, value in totals.items()}


def _progress_bar(total: int, initial: int, enabled: bool):
    from gm_lib.progress import TrainingBar  # tqdm that also tells `make report` the step count

    return TrainingBar(total=total, initial=initial, disable=not enabled, mininterval=1.0, dynamic_ncols=True)


def _model_config_code(model: GenerativeModel):
    config = getattr(model, "config", None)
    return encode_config(config) if dataclasses.is_dataclass(config) else None


def train(
    model: GenerativeModel,
    data: ImageDataset,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    val_data: ImageDataset | None = None,
    resume: bool = True,
    progress: bool = True,
) -> History:
    """Train ``model`` on ``data`` for ``config.steps`` steps, checkpointing into ``run_dir``.

    With ``resume=True`` an existing ``run_dir/checkpoint.pt`` is continued exactly (a finished
    run returns at once, its weights loaded into ``model``); with ``resume=False`` the run starts
    over and the old checkpoint and history are deleted. The model is moved to the config's device
    and left in train mode.

    Returns:
        The run's :class:`History` (also saved as ``run_dir/history.{json,csv}``).

    Raises:
        TrainingDiverged: a loss term or weight became non-finite (the last good checkpoint is kept).
        CheckpointError: the existing checkpoint is corrupt, or belongs to a different config.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_temp_files(run_dir)
    run = _Run(model, data, config, run_dir, val_data, progress)
    if not resume:
        _delete_run_files(run_dir)
    elif run.path.exists():
        run.resume()
        if run.finished:
            return run.history
    return run.loop()


def _delete_run_files(run_dir: Path) -> None:
    for name in (CHECKPOINT_NAME, "history.json", "history.csv"):
        (run_dir / name).unlink(missing_ok=True)


# ---------------------------------------------------------------- load-or-train cache


def code_hash() -> str:
    """SHA-256 of the gm_lib modules a trained model depends on (data, nets, losses, models, engine)."""
    package = Path(gm_lib.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if not relative.startswith(_TRAINING_CODE):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _run_description(model_config, data: DataSpec, train_config: TrainConfig, val_data: DataSpec | None) -> dict:
    return {
        "model_class": class_path(type(model_config)),
        "model_config": encode_config(model_config),
        "data": dataclasses.asdict(data),
        "val_data": dataclasses.asdict(val_data) if val_data is not None else None,
        "train_config": dataclasses.asdict(train_config.resolve(model_config)),  # names the precision trained at
        "code_hash": code_hash(),
    }


def run_hash(model_config, data: DataSpec, train_config: TrainConfig, val_data: DataSpec | None = None) -> str:
    """12 hex digits naming a run: model config (class + fields), data, train config (resolved), gm_lib code."""
    return _digest(_run_description(model_config, data, train_config, val_data))


def _digest(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:12]


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
    """
    description = _run_description(model_config, data, train_config, val_data)
    digest = _digest(description)
    run_dir = run_directory(name, model_config, data, train_config, val_data)
    if force and run_dir.exists():
        shutil.rmtree(run_dir)
    if run_dir.joinpath(CHECKPOINT_NAME).exists():
        state = load_checkpoint(run_dir / CHECKPOINT_NAME)
        if state["finished"]:
            return load_model(run_dir, device=train_config.device, state=state)
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
    )
    return model.eval(), history


def load_model(run_dir: str | Path, device: str = "auto", *, state: dict | None = None):
    """Rebuild a trained model from ``run_dir/checkpoint.pt`` (config class imported by path).

    Returns:
        ``(model, history)``: the model in eval mode on ``device``.

    Raises:
        FileNotFoundError / CheckpointError: see :func:`load_checkpoint`.
    """
    path = Path(run_dir) / CHECKPOINT_NAME
    state = state if state is not None else load_checkpoint(path)
    if state.get("model_config") is None:
        raise CheckpointError(f"checkpoint {path} has no model config to rebuild from; retrain with force=True")
    model = decode_config(state["model_config"]).build()
    model.load_state_dict(state["model"])
    return model.to(select_device(device)).eval(), History.from_dict(state["history"])


def run_directory(name: str, model_config, data: DataSpec, train_config: TrainConfig, val_data: DataSpec | None = None):
    """The cache folder :func:`get_or_train` uses for these configs: ``cache_dir("runs")/<name>-<hash12>``."""
    return cache_dir("runs") / f"{name}-{run_hash(model_config, data, train_config, val_data)}"


def load_snapshots(run_dir: str | Path, device: str = "auto") -> list[tuple[int, GenerativeModel]]:
    """The run's weight snapshots (``TrainConfig.snapshot_every``) as ``[(step, model in eval mode), ...]``.

    Raises:
        FileNotFoundError / CheckpointError: the run has no readable checkpoint to rebuild the model from.
    """
    model_config = decode_config(load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)["model_config"])
    models = []
    for step, path in list_snapshots(run_dir):
        model = model_config.build()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        models.append((step, model.to(select_device(device)).eval()))
    return models
