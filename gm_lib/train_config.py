"""How to train a model (its own config says what): steps, batches, checkpoints, schedule, device, precision.

A :class:`TrainConfig` is validated when made and saved with every checkpoint; its fields name the
run (:mod:`gm_lib.runs`). ``precision="auto"`` is resolved once, by :meth:`TrainConfig.resolve`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from gm_lib.precision import Precision, check_precision, resolve_precision, select_device

__all__ = ["TrainConfig", "CALL_FIELDS"]

# Fields that say how one call runs, not what it trains: not part of a run's key (gm_lib.runs), and a resumed run
# may change them (a slower machine gets a longer guard without retraining).
CALL_FIELDS = ("max_minutes",)


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
            (:func:`gm_lib.precision.resolve_precision`; the engine, the cache and checkpoints see the resolved value).
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
        check_precision(self.precision, "TrainConfig.precision")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"TrainConfig.lr_schedule={self.lr_schedule!r}; choose 'constant' or 'cosine'")

    def resolve(self, bf16_keeps_quality: bool = False) -> TrainConfig:
        """This config with ``precision="auto"`` replaced by :func:`resolve_precision`'s choice.

        ``bf16_keeps_quality`` is the model's verdict in its chapter registry (:class:`gm_lib.experiments.ModelEntry`);
        without it ``auto`` means fp32.
        """
        if self.precision != "auto":
            return self
        precision = resolve_precision("auto", bf16_keeps_quality, select_device(self.device))
        return dataclasses.replace(self, precision=precision)
