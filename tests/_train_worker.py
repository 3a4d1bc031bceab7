"""A tiny model for the engine tests, and a worker that trains it in a subprocess (SIGKILL/resume test).

Usage: python tests/_train_worker.py RUN_DIR [KILL_AT]
    Trains :func:`tiny_setup`'s model into RUN_DIR (resuming if a checkpoint is there); with KILL_AT
    the process SIGKILLs itself just before its KILL_AT-th training step of this process.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gm_lib.data import DataSpec, ImageDataset
from gm_lib.models.base import GenerativeModel
from gm_lib.saved_configs import allow_config_class
from gm_lib.train import set_seed, train
from gm_lib.train_config import TrainConfig

__all__ = ["TinyConfig", "TinyModel", "random_dataset", "tiny_setup", "RESUME_CONFIG", "GUARDED_CONFIG", "mnist_run"]

RESUME_CONFIG = TrainConfig(steps=12, batch_size=16, checkpoint_every=5, log_every=2, device="cpu")
# The time guard fires after every step: each call (each execution of a notebook) trains one more step.
GUARDED_CONFIG = TrainConfig(steps=3, batch_size=16, log_every=1, max_minutes=1e-9, device="cpu", precision="fp32")


@allow_config_class  # not a registry's config: its runs' checkpoints may name it
@dataclass(frozen=True)
class TinyConfig:
    """A two-layer noisy autoencoder; ``nan_at`` poisons the loss (and so the weights) at that step."""

    hidden: int = 8
    lr: float = 1e-2
    shape: tuple[int, int, int] = (1, 8, 8)
    nan_at: int | None = None

    def build(self) -> TinyModel:
        return TinyModel(self)


class TinyModel(GenerativeModel):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        dim = math.prod(config.shape)
        self.encoder, self.decoder = nn.Linear(dim, config.hidden), nn.Linear(config.hidden, dim)
        self.calls = 0

    def configure_optimizers(self):
        return {"model": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def _losses(self, x):
        z = self.encoder(x.flatten(1))
        z = z + 0.1 * torch.randn_like(z)  # uses the global RNG, so resume must restore it
        x_hat = torch.sigmoid(self.decoder(z)).view_as(x)
        rec, reg = F.mse_loss(x_hat, x), z.pow(2).mean()
        return {"loss": rec + 0.01 * reg, "rec": rec, "reg": reg}

    def training_step(self, next_batch, optimizers):
        self.calls += 1
        optimizer = optimizers["model"]
        optimizer.zero_grad()
        losses = self._losses(next_batch())
        if self.config.nan_at == self.calls:
            losses["loss"] = losses["loss"] * float("nan")
        losses["loss"].backward()
        optimizer.step()
        return {name: value.detach() for name, value in losses.items()}

    @torch.no_grad()
    def evaluation_losses(self, x):
        return self._losses(x)


def random_dataset(n: int = 64, shape=(1, 8, 8), seed: int = 0) -> ImageDataset:
    """``n`` random uint8 images, the same for a given seed."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)
    return ImageDataset(DataSpec("mnist", "train", n=n), images, torch.zeros(n, dtype=torch.long))


def tiny_setup(seed: int = 0, **config) -> tuple[TinyModel, ImageDataset]:
    set_seed(seed)
    return TinyConfig(**config).build(), random_dataset()


def mnist_run(train_config: TrainConfig = GUARDED_CONFIG):
    """The tiny model on 64 MNIST training images as a cached run (tests/notebooks/fixture_resume.ipynb trains it)."""
    from gm_lib.experiments import Run  # the chapters' registries: only for the tests that need a Run

    return Run("tiny", TinyConfig(shape=(1, 28, 28)), DataSpec("mnist", "train", n=64), train_config)


def main(run_dir: str, kill_at: int | None) -> None:
    torch.set_num_threads(1)  # the parent's reference run uses one thread too: same float sums
    model, data = tiny_setup()
    if kill_at is not None:
        original = model.training_step

        def step_or_die(next_batch, optimizers):
            if model.calls + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(next_batch, optimizers)

        model.training_step = step_or_die
    train(model, data, RESUME_CONFIG, Path(run_dir), progress=False)


if __name__ == "__main__":
    # Import ourselves by name so pickled/encoded class paths read "_train_worker:...", not "__main__:...".
    import _train_worker

    _train_worker.main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
