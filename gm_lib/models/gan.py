"""Image GANs: one generator and critic pair, trained by a loss family of :mod:`gm_lib.models.gan_losses`.

The families are the modules of :mod:`gm_lib.models.gan_losses` (``GANConfig.loss`` names one), e.g.
``dcgan`` (Radford et al. 2016), ``wgan`` (weight clipping, Arjovsky et al. 2017) and ``wgan_gp`` (gradient
penalty, Gulrajani et al. 2017); each module holds its paper's optimiser settings (:class:`PaperRecipe`) and its
terms, and the families are listed in one place only: the folder. :class:`GAN` imports its family's module by
name, so that a run's cache key covers the family it trains and not the others (:mod:`gm_lib.code_graph`).

Two additions that keep each paper's algorithm: a separate critic learning rate (the two
time-scale update rule, TTUR, Heusel et al. 2017) and an exponential moving average of the
generator's weights (Yazıcı et al. 2019), which :meth:`GAN.sample` / :meth:`GAN.decode` use.

The generator is :class:`~gm_lib.nets.Decoder` + tanh, working in [−1, 1]; real batches in
[0, 1] are mapped with ``2x − 1`` inside, and :meth:`GAN.sample` returns [0, 1]. One
training step = one generator update, consuming ``n_critic`` real batches.
Terms: ``loss`` (= ``critic``, the last critic loss), ``generator``, and what the family adds (the WGANs:
``wasserstein``, ``E D(x) − E D(G(z))``; WGAN-GP: ``gradient_penalty``, unweighted).
"""

from __future__ import annotations

import copy
import functools
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

import torch
from torch import Tensor, nn

from gm_lib.models.base import BatchFn, GenerativeModel, ModelOutput, check_image_batch
from gm_lib.nets.conv import Decoder
from gm_lib.nets.critic import Critic, CriticNorm

__all__ = ["GANConfig", "GAN", "PaperRecipe", "gan_losses", "loss_family"]


@dataclass(frozen=True)
class PaperRecipe:
    """A loss's optimiser settings as its paper gives them (the defaults of :class:`GANConfig`)."""

    optimizer: Literal["adam", "rmsprop"]
    lr: float
    betas: tuple[float, float]  # Adam only
    n_critic: int
    critic_norm: CriticNorm


_FAMILIES = "gm_lib.models.gan_losses"


def gan_losses() -> tuple[str, ...]:
    """The loss families there are: the module names in :mod:`gm_lib.models.gan_losses`."""
    folder = importlib.import_module(_FAMILIES).__path__
    return tuple(sorted(info.name for info in pkgutil.iter_modules(folder)))


@functools.cache
def loss_family(loss: str) -> ModuleType:
    """The module of loss family ``loss`` (see :mod:`gm_lib.models.gan_losses` for what it defines).

    Raises:
        ValueError: no such family.
    """
    if loss not in gan_losses():
        raise ValueError(f"loss={loss!r} unknown; use one of {gan_losses()} (modules of gm_lib/models/gan_losses)")
    return importlib.import_module(f"{_FAMILIES}.{loss}")


@dataclass(frozen=True)
class GANConfig:
    """Hyperparameters of a :class:`GAN`; ``None`` fields take the paper default for ``loss``.

    Attributes:
        image_shape, width: as the autoencoders (see :mod:`gm_lib.nets`); both players use ``width``.
        hidden: units of the fully connected layer in generator and critic (0: none; see :mod:`gm_lib.nets`).
        latent_dim: dimension of the N(0, I) noise.
        loss: the loss family, a module of :mod:`gm_lib.models.gan_losses` (:func:`gan_losses`).
        lr: generator learning rate (None: the family paper's, e.g. 2e-4 / 5e-5 / 1e-4).
        critic_lr: critic learning rate (None: ``lr``; TTUR sets it apart, Heusel et al. 2017).
        betas: Adam betas (None: (0.5, 0.999) / unused for RMSprop / (0.5, 0.9)).
        n_critic: critic updates per generator update (None: 1 / 5 / 5).
        critic_norm: ``batch`` or ``none`` (None: BatchNorm for DCGAN, none for the WGANs; WGAN-GP's per-sample
            gradient penalty must not be coupled across the batch, Gulrajani et al. 2017, Sec. 4).
        clip: WGAN weight-clipping bound c.
        lambda_gp: WGAN-GP penalty weight λ.
        ema_decay: decay β of the generator weights' moving average (None: no average). The average
            uses ``min(β, (1 + t) / (10 + t))`` at update t, so early weights fade fast (as TensorFlow's
            ``ExponentialMovingAverage`` with ``num_updates``); samples come from the average.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 64
    width: int = 32
    hidden: int = 0
    loss: str = "dcgan"
    lr: float | None = None
    critic_lr: float | None = None
    betas: tuple[float, float] | None = None
    n_critic: int | None = None
    critic_norm: CriticNorm | None = None
    clip: float = 0.01
    lambda_gp: float = 10.0
    ema_decay: float | None = None

    def __post_init__(self):
        loss_family(self.loss)  # raises ValueError naming the families there are

    def build(self) -> GAN:
        return GAN(self)

    @property
    def code_modules(self) -> tuple[str, ...]:
        """The modules a run's cache key covers beyond this config's own: the loss family's (imported by name)."""
        return (f"{_FAMILIES}.{self.loss}",)

    @property
    def paper(self) -> PaperRecipe:
        """The paper's settings for this loss (raises ``ValueError`` for an unknown loss)."""
        return loss_family(self.loss).PAPER

    @property
    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else self.paper.lr

    @property
    def resolved_critic_lr(self) -> float:
        return self.critic_lr if self.critic_lr is not None else self.resolved_lr

    @property
    def resolved_betas(self) -> tuple[float, float]:
        return self.betas if self.betas is not None else self.paper.betas

    @property
    def resolved_n_critic(self) -> int:
        return self.n_critic if self.n_critic is not None else self.paper.n_critic

    @property
    def resolved_critic_norm(self) -> CriticNorm:
        return self.critic_norm if self.critic_norm is not None else self.paper.critic_norm


class GAN(GenerativeModel):
    """Generator + critic pair trained by the loss family ``config.loss`` (see the module docstring)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        if config.resolved_n_critic < 1:
            raise ValueError(f"n_critic={config.n_critic} must be >= 1")
        if config.ema_decay is not None and not 0 < config.ema_decay < 1:
            raise ValueError(f"ema_decay={config.ema_decay} must be in (0, 1) or None")
        self.config = config
        self.latent_dim = config.latent_dim
        self.generator = Decoder(config.image_shape, config.latent_dim, config.width, config.hidden)
        self.critic = Critic(config.image_shape, config.width, norm=config.resolved_critic_norm, hidden=config.hidden)
        if hasattr(self.family, "prepare_critic"):  # e.g. spectral normalisation
            self.critic = self.family.prepare_critic(self.critic)
        self.generator_ema: nn.Module | None = None
        if config.ema_decay is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))

    @property
    def family(self) -> ModuleType:
        """The loss family's module (:func:`loss_family`); a property, so the model stays deep-copyable."""
        return loss_family(self.config.loss)

    # ------------------------------------------------------------ maths

    def generate(self, z: Tensor) -> Tensor:
        """Noise ``(B, d)`` on any device → images ``(B, C, H, W)`` in [−1, 1] on the model's device (differentiable;
        the trained generator)."""
        return torch.tanh(self.generator(z.to(self.device)).float())

    @torch.no_grad()
    def update_ema(self) -> None:
        """``θ_ema ← β θ_ema + (1 − β) θ`` with β = min(ema_decay, (1 + t) / (10 + t)); buffers
        (BatchNorm statistics) are copied. No-op without ``ema_decay``."""
        if self.generator_ema is None:
            return
        self.ema_updates += 1
        t = float(self.ema_updates)
        beta = min(self.config.ema_decay, (1.0 + t) / (10.0 + t))
        for average, current in zip(self.generator_ema.parameters(), self.generator.parameters(), strict=True):
            average.lerp_(current, 1.0 - beta)
        for average, current in zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True):
            average.copy_(current)

    def _noise(self, n: int) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def critic_losses(self, x: Tensor) -> ModelOutput:
        """Critic terms on real ``x`` (B, C, H, W) in [0, 1], any device, against fresh fakes (detached)."""
        check_image_batch(x, self.config.image_shape)
        real = 2.0 * x.to(self.device) - 1.0
        fake = self.generate(self._noise(x.shape[0])).detach()
        real_scores, fake_scores = self.critic(real).float(), self.critic(fake).float()
        return self.family.critic_terms(self, real, fake, real_scores, fake_scores)

    def generator_loss(self, n: int) -> Tensor:
        """The family's generator loss on ``n`` fresh fakes (DCGAN: non-saturating; WGANs: ``−E D(G(z))``)."""
        return self.family.generator_loss(self.critic(self.generate(self._noise(n))).float())

    # ------------------------------------------------------------ engine contract

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        if c.paper.optimizer == "rmsprop":
            make = lambda params, lr: torch.optim.RMSprop(params, lr=lr)
        else:
            make = lambda params, lr: torch.optim.Adam(params, lr=lr, betas=c.resolved_betas)
        return {
            "generator": make(self.generator.parameters(), c.resolved_lr),
            "critic": make(self.critic.parameters(), c.resolved_critic_lr),
        }

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> ModelOutput:
        for _ in range(self.config.resolved_n_critic):
            x = next_batch()
            terms = self.critic_losses(x)
            optimizers["critic"].zero_grad(set_to_none=True)
            terms.critic.backward()
            optimizers["critic"].step()
            if hasattr(self.family, "after_critic_step"):  # e.g. WGAN's weight clipping
                self.family.after_critic_step(self)
        generator = self.generator_loss(x.shape[0])
        optimizers["generator"].zero_grad(set_to_none=True)
        generator.backward()
        optimizers["generator"].step()
        self.update_ema()
        return terms.detached(loss=terms.critic, generator=generator)

    @torch.no_grad()
    def evaluation_losses(self, x: Tensor) -> ModelOutput:
        terms = self.critic_losses(x)
        return terms.detached(loss=terms.critic, generator=self.generator_loss(x.shape[0]))

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Noise ``(B, d)`` on any device → images ``(B, C, H, W)`` in [0, 1] on the model's device, like the
        autoencoders' ``decode``.

        Uses the weight average when the config has ``ema_decay``, else the trained generator.
        """
        generator = self.generator_ema if self.generator_ema is not None else self.generator
        return (torch.tanh(generator(z.to(self.device)).float()) + 1.0) / 2.0
