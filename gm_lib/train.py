"""The training engine: one loop for every model family, with checkpoints and exact resume.

Contract. A model (:class:`gm_lib.models.base.GenerativeModel`) owns its maths: it builds its
optimizers and performs one step in ``training_step(next_batch, optimizers)``. The engine owns
everything else:

* seeding (:func:`set_seed`) and the device (:func:`gm_lib.precision.select_device`);
* data: ``data.stream(batch_size, seed)``; ``next_batch()`` returns the next images only,
  float ``(B, C, H, W)`` in ``[0, 1]`` on the device (channels_last when asked), or ``(x, y)``
  with int64 labels ``(B,)`` for a model whose ``needs_labels`` is true (the domain classifiers);
* precision: the step runs inside :func:`gm_lib.precision.autocast` (bf16 autocast or none);
  ``precision="auto"`` (the default) is resolved once, by :meth:`TrainConfig.resolve`;
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

How to train is a :class:`~gm_lib.train_config.TrainConfig`; load-or-train (run names, the cache,
:func:`~gm_lib.runs.get_or_train`) lives in :mod:`gm_lib.runs`. Both stay importable from here.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

import gm_lib
from gm_lib.cache import remove_temp_files
from gm_lib.checkpoint import (
    CHECKPOINT_NAME,
    History,
    capture_rng,
    check_same_run,
    delete_run_files,
    load_checkpoint,
    model_config_code,
    restore_rng,
    save_checkpoint,
    save_snapshot,
)
from gm_lib.data import ImageDataset
from gm_lib.models.base import GenerativeModel
from gm_lib.precision import autocast, select_device
from gm_lib.train_config import TrainConfig

__all__ = ["TrainingDiverged", "set_seed", "train", "evaluate"]


class TrainingDiverged(RuntimeError):
    """A loss term or a weight became NaN/inf; the last good checkpoint is left untouched."""


def set_seed(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and ``random`` from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- the loop


class _Run:
    """State of one training run; :meth:`loop` does the work."""

    def __init__(self, model, data, config, run_dir, val_data, progress, before_save=None):
        config = config.resolve()
        self.before_save = before_save
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
        self.labels = getattr(model, "needs_labels", False)  # classifiers learn from (x, y)
        self.step, self.history, self.finished, self.saved_step = 0, History(), False, None
        self.pending: list[tuple[int, dict[str, Tensor]]] = []

    def next_batch(self) -> Tensor | tuple[Tensor, Tensor]:
        x, y = next(self.stream)
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return (x, y.to(self.device, non_blocking=True)) if self.labels else x

    def set_learning_rates(self) -> None:
        """Apply the schedule for the step about to be taken (``self.step`` steps done so far)."""
        if self.config.lr_schedule == "constant":
            return
        factor = 0.5 * (1.0 + math.cos(math.pi * self.step / self.config.steps))
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor

    # -- checkpoints

    def resume(self) -> None:
        # On the CPU: the RNG states must stay CPU tensors (numpy's goes through .numpy(), CUDA's through
        # set_rng_state); load_state_dict copies weights and optimizer moments to the parameters' device.
        state = load_checkpoint(self.path, map_location="cpu")
        check_same_run(state, self.path, dataclasses.asdict(self.config), model_config_code(self.model))
        self.model.load_state_dict(state["model"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        restore_rng(state["rng"])
        self.stream.load_state_dict(state["rng"]["stream"])
        self.step, self.finished, self.saved_step = state["step"], state["finished"], state["step"]
        self.history = History.from_dict(state["history"])

    def checkpoint(self) -> None:
        self._check_weights_finite()
        if self.before_save is not None:
            self.before_save()  # e.g. refuse when the code on disk is no longer the code that trained
        state = {
            "model": self.model.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": {**capture_rng(), "stream": self.stream.state_dict()},
            "step": self.step,
            "finished": self.finished,
            "history": self.history.to_dict(),
            "model_config": model_config_code(self.model),
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
            with autocast(self.device, self.config.precision):
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
            with autocast(device, precision):
                losses = model.evaluation_losses(x)
            for name, value in losses.items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(x)
            count += len(x)
    return {name: value / count for name, value in totals.items()}


def _progress_bar(total: int, initial: int, enabled: bool):
    from gm_lib.progress import TrainingBar  # tqdm that also tells `make report` the step count

    return TrainingBar(total=total, initial=initial, disable=not enabled, mininterval=1.0, dynamic_ncols=True)


def train(
    model: GenerativeModel,
    data: ImageDataset,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    val_data: ImageDataset | None = None,
    resume: bool = True,
    progress: bool = True,
    before_save: Callable[[], None] | None = None,
) -> History:
    """Train ``model`` on ``data`` for ``config.steps`` steps, checkpointing into ``run_dir``.

    With ``resume=True`` an existing ``run_dir/checkpoint.pt`` is continued exactly (a finished
    run returns at once, its weights loaded into ``model``); with ``resume=False`` the run starts
    over and the old checkpoint and history are deleted. The model is moved to the config's device
    and left in train mode.

    Returns:
        The run's :class:`History` (also saved as ``run_dir/history.{json,csv}``).

    ``before_save`` is called before each checkpoint is written; what it raises stops the run with the last
    checkpoint intact (:func:`gm_lib.runs.get_or_train` passes :func:`gm_lib.code_graph.check_current`).

    Raises:
        TrainingDiverged: a loss term or weight became non-finite (the last good checkpoint is kept).
        CheckpointError: the existing checkpoint is corrupt, or belongs to a different config.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_temp_files(run_dir)
    run = _Run(model, data, config, run_dir, val_data, progress, before_save)
    if not resume:
        delete_run_files(run_dir)
    elif run.path.exists():
        run.resume()
        if run.finished:
            return run.history
    return run.loop()

