"""The contract between a model family and the training engine (:mod:`gm_lib.train`).

A model owns its maths (losses, how many critic updates per generator update); the engine
owns the loop (seeding, data, autocast, checkpoints, resume, NaN guard, time budget).

Every family provides a frozen dataclass config with a ``build()`` method returning a
:class:`GenerativeModel`; the config (and its hash) names the checkpoint folder.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["GenerativeModel", "BatchFn"]

# Draws the next real training batch: float32 (B, C, H, W) in [0, 1] on the model's device.
BatchFn = Callable[[], Tensor]


class GenerativeModel(nn.Module):
    """Base class of every trainable family (VAE, WAE, GANs, classifiers).

    Subclasses implement :meth:`configure_optimizers` and :meth:`training_step`, and
    whichever of :meth:`evaluation_losses`, :meth:`sample`, :meth:`encode`, :meth:`decode`
    apply. ``self.config`` holds the dataclass the model was built from.
    """

    config: object

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name (e.g. ``{"model": Adam}`` or ``{"generator": ..., "critic": ...}``)."""
        raise NotImplementedError

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        """One optimisation step: zero grads, forward, backward, ``optimizer.step()``.

        GANs call ``next_batch()`` once per critic update (``n_critic`` times) and count the
        generator update as the step. The engine runs this inside its autocast context.

        Returns:
            Detached scalar loss terms by name; ``"loss"`` is the total the model minimised
            (for GANs, the critic/discriminator loss) and is the one the NaN guard watches.
        """
        raise NotImplementedError

    @torch.no_grad()
    def evaluation_losses(self, x: Tensor) -> dict[str, Tensor]:
        """Loss terms on a batch ``x`` (float (B, C, H, W) in [0, 1]) without any update."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples from the model, float ``(n, C, H, W)`` in ``[0, 1]``."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
