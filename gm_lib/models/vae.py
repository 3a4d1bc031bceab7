"""Variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

Gaussian encoder ``q(z|x) = N(mu(x), diag exp(logvar(x)))``, prior ``N(0, I)``, decoder
``p(x|z)`` Bernoulli (binarized MNIST) or Gaussian with one scalar σ (grey / RGB).
Trained on the negative ELBO (eq. 10 with the analytic KL of Appendix B), one
reparameterized sample per image, in nats per image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from gm_lib.losses import bernoulli_log_likelihood, gaussian_kl, gaussian_log_likelihood
from gm_lib.models.base import BatchFn, GenerativeModel, ModelOutput, check_image_batch
from gm_lib.nets import Decoder, Encoder

__all__ = ["VAEConfig", "VAE"]


@dataclass(frozen=True)
class VAEConfig:
    """Hyperparameters of a :class:`VAE` (plain values; hashed to name the run).

    Attributes:
        image_shape: ``(C, H, W)``, ``(1, 28, 28)`` or ``(3, 32, 32)``.
        latent_dim: dimension d of z.
        width: channels of the first conv layer (see :mod:`gm_lib.nets`).
        hidden: units of the fully connected layer of encoder and decoder (0: none; notebook 03 sets the
            GAN generator's, so the VAE's decoder is the same network as the generator).
        likelihood: ``bernoulli`` (logits; for binary data) or ``gaussian`` (mean = sigmoid
            of the decoder output, one scalar σ for all pixels).
        sigma: ``learned`` (σ trained with the ELBO, starting at ``exp(log_sigma)``) or
            ``fixed`` at ``exp(log_sigma)``; Gaussian likelihood only.
        log_sigma: initial / fixed ``log σ`` (σ in [0, 1] pixel units; −2.0 ≈ σ 0.135).
        lr, betas: Adam (Kingma & Welling used Adagrad; Adam 1e-3 is the modern default).
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 16
    width: int = 32
    hidden: int = 0
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    sigma: Literal["learned", "fixed"] = "learned"
    log_sigma: float = -2.0
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)

    def build(self) -> VAE:
        return VAE(self)


class VAE(GenerativeModel):
    """Gaussian-encoder VAE; loss terms ``loss`` (−ELBO), ``reconstruction`` (−log p(x|z)),
    ``kl``, all nats per image averaged over the batch."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        if config.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood={config.likelihood!r} unknown; use 'bernoulli' or 'gaussian'")
        if config.sigma not in ("learned", "fixed"):
            raise ValueError(f"sigma={config.sigma!r} unknown; use 'learned' or 'fixed'")
        self.config = config
        self.latent_dim = config.latent_dim
        self.encoder = Encoder(config.image_shape, 2 * config.latent_dim, config.width, config.hidden)
        self.decoder = Decoder(config.image_shape, config.latent_dim, config.width, config.hidden)
        log_sigma = torch.tensor(float(config.log_sigma))
        if config.sigma == "learned" and config.likelihood == "gaussian":
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    # ------------------------------------------------------------ maths

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` (B, C, H, W) in [0, 1], on any device → ``(mu, logvar)``, each float32 ``(B, d)`` on the model's."""
        check_image_batch(x, self.config.image_shape)
        mu, logvar = self.encoder(x.to(self.device)).float().chunk(2, dim=1)
        return mu, logvar

    def reparameterize(self, mu: Tensor, logvar: Tensor) -> Tensor:
        """``z = mu + σ ε``, ε ~ N(0, I) (Kingma & Welling 2014, eq. 4); ``(B, d)``."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x | z)`` in nats per image, float32 ``(B,)`` on the model's device; x ``(B, C, H, W)``, z ``(B, d)``,
        each on any device."""
        x = x.to(self.device)
        logits = self.decoder(z.to(self.device)).float()
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(logits, x)
        return gaussian_log_likelihood(torch.sigmoid(logits), x, self.log_sigma)

    def losses(self, x: Tensor) -> ModelOutput:
        """Negative ELBO terms on ``x`` (with gradients), each a scalar in nats per image."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        reconstruction = -self.log_px_given_z(x, z).mean()
        kl = gaussian_kl(mu, logvar).mean()
        return ModelOutput(loss=reconstruction + kl, reconstruction=reconstruction, kl=kl)

    # ------------------------------------------------------------ engine contract

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=self.config.betas)}

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> ModelOutput:
        optimizer = optimizers["model"]
        terms = self.losses(next_batch())
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()
        extra = {"sigma": self.log_sigma.exp()} if self.config.likelihood == "gaussian" else {}
        return terms.detached(**extra)

    @torch.no_grad()
    def evaluation_losses(self, x: Tensor) -> ModelOutput:
        return self.losses(x).detached()

    # ------------------------------------------------------------ convenience

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Mean of ``p(x|z)``: ``(B, d)`` on any device → ``(B, C, H, W)`` in [0, 1] on the model's device."""
        return torch.sigmoid(self.decoder(z.to(self.device)).float())

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Posterior mean ``mu(x)``, ``(B, d)`` on the model's device (for t-SNE and classifiers)."""
        return self.encode(x)[0]

