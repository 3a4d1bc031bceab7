"""VAE with a Wasserstein latent critic instead of the KL term.

Same Gaussian encoder, decoder and likelihood as :class:`~gm_lib.models.vae.VAE`; the
regulariser ``KL(q(z|x) ‖ p(z))`` is replaced by a WGAN-GP estimate (Gulrajani et al. 2017,
Alg. 1) of ``W1(q(z), p(z))`` between the aggregate posterior (reparameterized codes) and the
prior N(0, I), from an MLP critic in latent space — a WAE-style latent match with a
Wasserstein critic in place of MMD (cf. Tolstikhin et al. 2018, Sec. 3).

Per step: ``n_critic`` critic updates on the batch's (detached) codes against fresh prior
draws, then one autoencoder update on ``reconstruction + lambda_reg · Ŵ``.
Terms: ``loss``, ``reconstruction`` (−log p(x|z), nats per image), ``wasserstein``
(critic estimate ``E_p f − E_q f``), ``gradient_penalty`` (unweighted, last critic update).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gm_lib.losses import gradient_penalty, wgan_critic_loss
from gm_lib.models.base import BatchFn, ModelOutput
from gm_lib.models.vae import VAE, VAEConfig
from gm_lib.nets import MLP

__all__ = ["LatentCriticVAEConfig", "LatentCriticVAE"]


@dataclass(frozen=True)
class LatentCriticVAEConfig(VAEConfig):
    """Hyperparameters of a :class:`LatentCriticVAE`: those of :class:`~gm_lib.models.vae.VAEConfig`, plus

    Attributes:
        lambda_reg: weight of the Wasserstein term (nats per unit of latent W1).
        n_critic: critic updates per autoencoder update (WGAN-GP: 5).
        lambda_gp: gradient-penalty weight (WGAN-GP: 10).
        critic_hidden, critic_depth: latent critic MLP.
        critic_lr, critic_betas: Adam for the critic (WGAN-GP: 1e-4, (0.5, 0.9)).
    """

    lambda_reg: float = 10.0
    n_critic: int = 5
    lambda_gp: float = 10.0
    critic_hidden: int = 256
    critic_depth: int = 2
    critic_lr: float = 1e-4
    critic_betas: tuple[float, float] = (0.5, 0.9)

    def build(self) -> LatentCriticVAE:
        return LatentCriticVAE(self)


class LatentCriticVAE(VAE):
    """VAE whose KL is replaced by ``lambda_reg ·`` a latent WGAN-GP critic's W1 estimate."""

    def __init__(self, config: LatentCriticVAEConfig):
        if config.n_critic < 1:
            raise ValueError(f"n_critic={config.n_critic} must be >= 1")
        super().__init__(config)
        self.critic = MLP(config.latent_dim, 1, config.critic_hidden, config.critic_depth)

    def _score(self, z: Tensor) -> Tensor:
        return self.critic(z).squeeze(1)  # (B,)

    def critic_losses(self, z: Tensor) -> ModelOutput:
        """Critic objective on detached codes ``z`` (B, d) against fresh prior draws."""
        z = z.detach()
        z_prior = torch.randn_like(z)
        w_loss = wgan_critic_loss(self._score(z_prior), self._score(z))  # prior plays "real"
        gp = gradient_penalty(self._score, z_prior, z)
        return ModelOutput(critic=w_loss + self.config.lambda_gp * gp, gradient_penalty=gp)

    def losses(self, x: Tensor) -> ModelOutput:
        """``loss = reconstruction + lambda_reg · Ŵ``; gradients reach the encoder through ``−E_q f``."""
        return self._losses_and_codes(x)[0]

    def _losses_and_codes(self, x: Tensor) -> tuple[ModelOutput, Tensor]:
        """:meth:`losses` and the reparameterized codes ``z`` ``(B, d)`` they were computed from."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        reconstruction = -self.log_px_given_z(x, z).mean()
        score_q = self._score(z).float().mean()
        # E_p f is a constant for the autoencoder; included so `wasserstein` is the estimate itself.
        score_p = self._score(torch.randn_like(z)).float().mean().detach()
        wasserstein = score_p - score_q
        loss = reconstruction + self.config.lambda_reg * wasserstein
        return ModelOutput(loss=loss, reconstruction=reconstruction, wasserstein=wasserstein), z

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        critic_params = set(self.critic.parameters())
        autoencoder = [p for p in self.parameters() if p not in critic_params]
        c = self.config
        return {
            "model": torch.optim.Adam(autoencoder, lr=c.lr, betas=c.betas),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr, betas=c.critic_betas),
        }

    def training_step(self, next_batch: BatchFn, optimizers: dict[str, torch.optim.Optimizer]) -> ModelOutput:
        x = next_batch()
        with torch.no_grad():
            mu, logvar = self.encode(x)
        for _ in range(self.config.n_critic):
            critic_terms = self.critic_losses(self.reparameterize(mu, logvar))
            optimizers["critic"].zero_grad(set_to_none=True)
            critic_terms.critic.backward()
            optimizers["critic"].step()
        terms = self.losses(x)
        optimizers["model"].zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizers["model"].step()
        return terms.detached(gradient_penalty=critic_terms.gradient_penalty)

    def evaluation_losses(self, x: Tensor) -> ModelOutput:
        with torch.no_grad():
            terms, z = self._losses_and_codes(x)
        # The penalty needs input gradients, so it runs with autograd on (no weight update).
        with torch.enable_grad():
            critic_terms = self.critic_losses(z)
        return terms.detached(gradient_penalty=critic_terms.gradient_penalty)
