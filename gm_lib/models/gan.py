"""Image GANs: DCGAN, WGAN (weight clipping) and WGAN-GP.

* DCGAN (Radford et al. 2016): BCE-with-logits discriminator with BatchNorm, non-saturating
  generator loss, Adam(2e-4, β = (0.5, 0.999)), one discriminator update per step.
* WGAN (Arjovsky et al. 2017, Alg. 1): critic without sigmoid or BatchNorm, weights clipped
  to [−c, c] with c = 0.01, RMSprop(5e-5), n_critic = 5.
* WGAN-GP (Gulrajani et al. 2017, Alg. 1): two-sided gradient penalty λ = 10 instead of
  clipping, Adam(1e-4, β = (0.5, 0.9)), n_critic = 5, no BatchNorm in the critic.

The generator is :class:`~gm_lib.nets.Decoder` + tanh, working in [−1, 1]; real batches in
[0, 1] are mapped with ``2x − 1`` inside, and :meth:`GAN.sample` returns [0, 1]. One
training step = one generator update, consuming ``n_critic`` real batches.
Terms: ``loss`` (= ``critic``, the last critic loss), ``generator``, and for the WGANs
``wasserstein`` (``E D(x) − E D(G(z))``) and for WGAN-GP ``gradient_penalty`` (unweighted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from gm_lib.losses import (
    clip_weights,
    dcgan_discriminator_loss,
    dcgan_generator_loss,
    gradient_penalty,
    wgan_critic_loss,
    wgan_generator_loss,
)
from gm_lib.models.base import BatchFn, GenerativeModel
from gm_lib.models.vae import _detached, check_image_batch, sample_prior
from gm_lib.nets import Critic, Decoder

__all__ = ["GANConfig", "GAN"]

# Paper defaults per loss: (optimizer, lr, betas, n_critic).
_PAPER = {
    "dcgan": ("adam", 2e-4, (0.5, 0.999), 1),
    "wgan": ("rmsprop", 5e-5, (0.0, 0.0), 5),
    "wgan_gp": ("adam", 1e-4, (0.5, 0.9), 5),
}

# Does bf16 autocast keep the final sample quality? bench/bench_precision.py, default profile (Fashion-MNIST,
# 1,000 generator steps), 2 seeds, classifier-feature FD of 10,000 samples, fp32 vs bf16 (tolerance):
# DCGAN 386.2 vs 394.3 (10.1) and WGAN 515.5 vs 511.8 (27.9) keep it; WGAN-GP loses it, 406.8 vs 429.2 (8.1).
_BF16_KEEPS_QUALITY = {"dcgan": True, "wgan": True, "wgan_gp": False}


@dataclass(frozen=True)
class GANConfig:
    """Hyperparameters of a :class:`GAN`; ``None`` fields take the paper default for ``loss``.

    Attributes:
        image_shape, width: as the autoencoders (see :mod:`gm_lib.nets`).
        latent_dim: dimension of the N(0, I) noise.
        loss: ``dcgan``, ``wgan`` or ``wgan_gp``.
        lr: learning rate for both players (None: 2e-4 / 5e-5 / 1e-4).
        betas: Adam betas (None: (0.5, 0.999) / unused for RMSprop / (0.5, 0.9)).
        n_critic: critic updates per generator update (None: 1 / 5 / 5).
        clip: WGAN weight-clipping bound c.
        lambda_gp: WGAN-GP penalty weight λ.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 64
    width: int = 32
    loss: Literal["dcgan", "wgan", "wgan_gp"] = "dcgan"
    lr: float | None = None
    betas: tuple[float, float] | None = None
    n_critic: int | None = None
    clip: float = 0.01
    lambda_gp: float = 10.0

    def build(self) -> GAN:
        return GAN(self)

    @property
    def bf16_keeps_quality(self) -> bool:
        """Whether bf16 autocast kept this loss's final sample quality (``precision="auto"`` reads it)."""
        return _BF16_KEEPS_QUALITY[self.loss]

    @property
    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else _PAPER[self.loss][1]

    @property
    def resolved_betas(self) -> tuple[float, float]:
        return self.betas if self.betas is not None else _PAPER[self.loss][2]

    @property
    def resolved_n_critic(self) -> int:
        return self.n_critic if self.n_critic is not None else _PAPER[self.loss][3]


class GAN(GenerativeModel):
    """Generator + critic pair; see the module docstring for the three losses."""

    def __init__(self, config: GANConfig):
        super().__init__()
        if config.loss not in _PAPER:
            raise ValueError(f"loss={config.loss!r} unknown; use one of {sorted(_PAPER)}")
        if config.resolved_n_critic < 1:
            raise ValueError(f"n_critic={config.n_critic} must be >= 1")
        self.config = config
        self.latent_dim = config.latent_dim
        self.generator = Decoder(config.image_shape, config.latent_dim, config.width)
        self.critic = Critic(config.image_shape, config.width, norm="batch" if config.loss == "dcgan" else "none")

    # ------------------------------------------------------------ maths

    def generate(self, z: Tensor) -> Tensor:
        """Noise ``(B, d)`` → images ``(B, C, H, W)`` in [−1, 1] (differentiable)."""
        return torch.tanh(self.generator(z).float())

    def _noise(self, n: int) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device)

    def critic_losses(self, x: Tensor) -> dict[str, Tensor]:
        """Critic terms on real ``x`` (B, C, H, W) in [0, 1] against fresh fakes (detached)."""
        check_image_batch(x, self.config.image_shape)
        real = 2.0 * x - 1.0
        fake = self.generate(self._noise(x.shape[0])).detach()
        real_scores, fake_scores = self.critic(real).float(), self.critic(fake).float()
        if self.config.loss == "dcgan":
            return {"critic": dcgan_discriminator_loss(real_scores, fake_scores)}
        terms = {
            "critic": wgan_critic_loss(real_scores, fake_scores),
            "wasserstein": real_scores.mean() - fake_scores.mean(),
        }
        if self.config.loss == "wgan_gp":
            with torch.enable_grad():
                gp = gradient_penalty(self.critic, real, fake)
            terms["gradient_penalty"] = gp
            terms["critic"] = terms["critic"] + self.config.lambda_gp * gp
        return terms

    def generator_loss(self, n: int) -> Tensor:
        """Generator loss on ``n`` fresh fakes (non-saturating for DCGAN, ``−E D(G(z))`` for WGANs)."""
        scores = self.critic(self.generate(self._noise(n))).float()
        return dcgan_generator_loss(scores) if self.config.loss == "dcgan" else wgan_generator_loss(scores)

    # ------------------------------------------------------------ engine contract

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        if _PAPER[c.loss][0] == "rmsprop":
            make = lambda params: torch.optim.RMSprop(params, lr=c.resolved_lr)
        else:
            make = lambda params: torch.optim.Adam(params, lr=c.resolved_lr, betas=c.resolved_betas)
        return {"generator": make(self.generator.parameters()), "critic": make(self.critic.parameters())}

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Tensor]:
        for _ in range(self.config.resolved_n_critic):
            x = next_batch()
            terms = self.critic_losses(x)
            optimizers["critic"].zero_grad(set_to_none=True)
            terms["critic"].backward()
            optimizers["critic"].step()
            if self.config.loss == "wgan":
                clip_weights(self.critic, self.config.clip)
        generator = self.generator_loss(x.shape[0])
        optimizers["generator"].zero_grad(set_to_none=True)
        generator.backward()
        optimizers["generator"].step()
        return _detached(terms, loss=terms["critic"], generator=generator)

    @torch.no_grad()
    def evaluation_losses(self, x: Tensor) -> dict[str, Tensor]:
        terms = self.critic_losses(x)
        return _detached(terms, loss=terms["critic"], generator=self.generator_loss(x.shape[0]))

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Noise ``(B, d)`` → images ``(B, C, H, W)`` in [0, 1], like the autoencoders' ``decode``."""
        return (self.generate(z.to(self.device)) + 1.0) / 2.0

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.decode(sample_prior(n, self.latent_dim, self.device, generator))
