"""Wasserstein autoencoder (Tolstikhin et al. 2018, "Wasserstein Auto-Encoders").

Minimises ``E[c(x, G(Q(x)))] + λ · D_Z(Q_Z, P_Z)`` (eq. 4) with prior ``P_Z = N(0, I)``:

* cost ``c(x, x̂) = reconstruction_scale · ‖x − x̂‖²`` summed over pixels (x in [0, 1]);
  the default 0.05 is the official code's ``l2sq`` scaling (used for every dataset there).
* ``D_Z`` either the unbiased MMD² with an RBF or IMQ kernel (WAE-MMD, Alg. 2) or a latent
  GAN (WAE-GAN, Alg. 1): an MLP discriminator on z trained to tell prior samples from
  codes, and the encoder penalty ``−log σ(D(Q(x)))``.

Loss terms (batch means): ``loss = reconstruction + lambda_reg · penalty``, ``reconstruction`` (scaled squared
L2, pixel units), ``penalty`` (unweighted: MMD², dimensionless kernel units, for WAE-MMD; the encoder's
cross-entropy ``−log σ(D(z))`` in nats for WAE-GAN), and for WAE-GAN ``discriminator`` (nats).
The RBF kernel is a multi-scale choice of ours, the IMQ one the official code's (see
:func:`gm_lib.losses.mmd_unbiased`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from gm_lib.losses import dcgan_discriminator_loss, dcgan_generator_loss, mmd_unbiased
from gm_lib.models.base import BatchFn, GenerativeModel, ModelOutput, check_image_batch
from gm_lib.nets import MLP, Decoder, Encoder

__all__ = ["WAEConfig", "WAE"]



@dataclass(frozen=True)
class WAEConfig:
    """Hyperparameters of a :class:`WAE` (defaults: the paper's MNIST setting, smaller nets).

    Attributes:
        image_shape, latent_dim, width: as in :class:`gm_lib.models.vae.VAEConfig`
            (paper MNIST: d = 8).
        penalty: ``mmd_imq`` (paper's choice), ``mmd_rbf`` or ``gan``.
        lambda_reg: λ, weight of the penalty (paper: 10 on MNIST).
        encoder: ``deterministic`` (paper) or ``gaussian`` (reparameterized sample of
            N(mu, diag exp(logvar)); the WAE paper's random-encoder variant).
        reconstruction_scale: factor on the per-image squared L2 cost.
        lr, betas: Adam for encoder + decoder (paper: 1e-3, (0.5, 0.999)).
        disc_lr, disc_hidden, disc_depth: WAE-GAN latent discriminator (paper MNIST: Adam
            5e-4, 4 hidden layers of 512; smaller here for CPU).
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 8
    width: int = 32
    penalty: Literal["mmd_rbf", "mmd_imq", "gan"] = "mmd_imq"
    lambda_reg: float = 10.0
    encoder: Literal["deterministic", "gaussian"] = "deterministic"
    reconstruction_scale: float = 0.05
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    disc_lr: float = 5e-4
    disc_hidden: int = 256
    disc_depth: int = 3

    def build(self) -> WAE:
        return WAE(self)


class WAE(GenerativeModel):
    """WAE-MMD / WAE-GAN with the shared :class:`~gm_lib.nets.Encoder` and :class:`~gm_lib.nets.Decoder`."""

    def __init__(self, config: WAEConfig):
        super().__init__()
        if config.penalty not in ("mmd_rbf", "mmd_imq", "gan"):
            raise ValueError(f"penalty={config.penalty!r} unknown; use 'mmd_rbf', 'mmd_imq' or 'gan'")
        if config.encoder not in ("deterministic", "gaussian"):
            raise ValueError(f"encoder={config.encoder!r} unknown; use 'deterministic' or 'gaussian'")
        self.config = config
        self.latent_dim = config.latent_dim
        out_dim = config.latent_dim * (2 if config.encoder == "gaussian" else 1)
        self.encoder = Encoder(config.image_shape, out_dim, config.width)
        self.decoder = Decoder(config.image_shape, config.latent_dim, config.width)
        if config.penalty == "gan":
            self.discriminator = MLP(config.latent_dim, 1, config.disc_hidden, config.disc_depth)

    # ------------------------------------------------------------ maths

    def encode(self, x: Tensor, sample: bool = True) -> Tensor:
        """Codes ``(B, d)`` float32 on the model's device for ``x`` (B, C, H, W) in [0, 1] on any device; a Gaussian
        encoder returns a reparameterized sample if ``sample`` else its mean."""
        check_image_batch(x, self.config.image_shape)
        out = self.encoder(x.to(self.device)).float()
        if self.config.encoder == "deterministic":
            return out
        mu, logvar = out.chunk(2, dim=1)
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu

    def reconstruction_cost(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """``reconstruction_scale · ‖x − x̂‖²`` per image, ``(B,)`` float32."""
        return self.config.reconstruction_scale * (x.float() - x_hat.float()).pow(2).flatten(1).sum(dim=1)

    def _discriminate(self, z: Tensor) -> Tensor:
        return self.discriminator(z).squeeze(1).float()  # (B,) logits: prior = 1, codes = 0

    def latent_penalty(self, z: Tensor) -> Tensor:
        """Unweighted ``D_Z(Q_Z, P_Z)`` estimate from codes ``z`` (B, d); scalar."""
        z_prior = torch.randn_like(z)
        if self.config.penalty == "gan":
            return dcgan_generator_loss(self._discriminate(z))  # −E log σ(D(z̃)), Alg. 1
        return mmd_unbiased(z, z_prior, kernel=self.config.penalty.removeprefix("mmd_"))

    def losses(self, x: Tensor) -> ModelOutput:
        """``loss``, ``reconstruction``, ``penalty`` on ``x`` (any device; with gradients)."""
        x = x.to(self.device)
        z = self.encode(x)
        reconstruction = self.reconstruction_cost(x, torch.sigmoid(self.decoder(z).float())).mean()
        penalty = self.latent_penalty(z)
        return ModelOutput(loss=reconstruction + self.config.lambda_reg * penalty, reconstruction=reconstruction,
                           penalty=penalty)

    def discriminator_loss(self, z: Tensor) -> Tensor:
        """WAE-GAN adversary loss (BCE, prior = real) on detached codes ``z`` (B, d)."""
        z = z.detach()
        return dcgan_discriminator_loss(self._discriminate(torch.randn_like(z)), self._discriminate(z))

    # ------------------------------------------------------------ engine contract

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        autoencoder = list(self.encoder.parameters()) + list(self.decoder.parameters())
        optimizers = {"model": torch.optim.Adam(autoencoder, lr=self.config.lr, betas=self.config.betas)}
        if self.config.penalty == "gan":
            optimizers["discriminator"] = torch.optim.Adam(
                self.discriminator.parameters(), lr=self.config.disc_lr, betas=self.config.betas
            )
        return optimizers

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> ModelOutput:
        x = next_batch()
        extra = {}
        if self.config.penalty == "gan":
            # Alg. 1: adversary step first, on codes of the current encoder.
            with torch.no_grad():
                z = self.encode(x)
            disc_loss = self.discriminator_loss(z)
            optimizers["discriminator"].zero_grad(set_to_none=True)
            disc_loss.backward()
            optimizers["discriminator"].step()
            extra["discriminator"] = disc_loss
        terms = self.losses(x)
        optimizers["model"].zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizers["model"].step()
        return terms.detached(**extra)

    @torch.no_grad()
    def evaluation_losses(self, x: Tensor) -> ModelOutput:
        terms = self.losses(x)
        if self.config.penalty == "gan":
            terms["discriminator"] = self.discriminator_loss(self.encode(x))
        return terms.detached()

    # ------------------------------------------------------------ convenience

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Code (encoder mean) ``(B, d)``."""
        return self.encode(x, sample=False)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """``(B, d)`` on any device → ``(B, C, H, W)`` in [0, 1] on the model's device."""
        return torch.sigmoid(self.decoder(z.to(self.device)).float())
