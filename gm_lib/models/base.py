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

__all__ = ["GenerativeModel", "BatchFn", "ModelOutput", "check_image_batch", "sample_prior"]

# Draws the next real training batch: float32 (B, C, H, W) in [0, 1] on the model's device.
BatchFn = Callable[[], Tensor]


class ModelOutput(dict):
    """A model's loss terms by name, scalar tensors: ``out["loss"]`` or ``out.loss`` (as pythae's ``ModelOutput``).

    ``loss`` is the total the model minimised; the other terms are its parts (``reconstruction``, ``kl``,
    ``penalty``, ...) in the units the family's docstring gives. Only loss terms go in: the engine logs
    and NaN-checks every entry.
    """

    def __getattr__(self, name: str) -> Tensor:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no loss term {name!r}; terms: {list(self)}") from None

    def detached(self, **extra: Tensor) -> ModelOutput:
        """Detached float32 copies of these terms and of ``extra`` ones (an ``extra`` term replaces one of the
        same name): what ``training_step`` and ``evaluation_losses`` return."""
        return ModelOutput({name: value.detach().float() for name, value in {**self, **extra}.items()})


def check_image_batch(x: Tensor, image_shape: tuple[int, int, int]) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, *image_shape)``."""
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"expected images (B, {', '.join(map(str, image_shape))}), got {tuple(x.shape)}")


def sample_prior(n: int, dim: int, device: torch.device, generator: torch.Generator | None = None) -> Tensor:
    """``n`` draws of N(0, I_dim) on ``device``; ``(n, dim)`` float32."""
    if generator is None:
        return torch.randn(n, dim, device=device)
    return torch.randn(n, dim, generator=generator, device=generator.device).to(device)


class GenerativeModel(nn.Module):
    """Base class of every trainable family (VAE, WAE, GANs, classifiers).

    Subclasses implement :meth:`configure_optimizers` and :meth:`training_step`, and
    whichever of :meth:`evaluation_losses`, ``encode``, ``embed``, ``decode`` apply; a model with
    ``decode`` and ``latent_dim`` gets :meth:`sample` (and with ``embed``, :meth:`reconstruct`).
    ``self.config`` holds the dataclass the model was built from.

    Devices: every method that takes a latent ``z`` or images ``x`` accepts them on any device and moves them to
    the model's (:attr:`device`); what it returns lives on the model's device (``tests/test_devices.py`` checks
    each family with the model on ``meta`` and CPU inputs).
    """

    config: object

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name (e.g. ``{"model": Adam}`` or ``{"generator": ..., "critic": ...}``)."""
        raise NotImplementedError

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> ModelOutput:
        """One optimisation step: zero grads, forward, backward, ``optimizer.step()``.

        GANs call ``next_batch()`` once per critic update (``n_critic`` times) and count the
        generator update as the step. The engine runs this inside its autocast context.

        Returns:
            Detached scalar loss terms (:meth:`ModelOutput.detached`); ``"loss"`` is the total the model minimised
            (for GANs, the critic/discriminator loss) and is the one the NaN guard watches.
        """
        raise NotImplementedError

    @torch.no_grad()
    def evaluation_losses(self, x: Tensor) -> ModelOutput:
        """Detached loss terms on a batch ``x`` (float (B, C, H, W) in [0, 1]) without any update."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples from the model, float ``(n, C, H, W)`` in ``[0, 1]`` on its device: ``decode`` of ``n`` draws
        of the N(0, I) prior of size ``self.latent_dim`` (every family here; a model without that prior overrides it).
        ``generator`` may live on any device: the draws are made there, so a CPU generator gives the same samples
        on every device."""
        return self.decode(sample_prior(n, self.latent_dim, self.device, generator))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """``decode(embed(x))``: images ``(B, C, H, W)`` in [0, 1] (any device in, the model's device out) through the
        code ``embed`` gives (autoencoders)."""
        return self.decode(self.embed(x))

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (where its inputs are moved)."""
        return next(self.parameters()).device
