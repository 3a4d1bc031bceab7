"""WGAN (Arjovsky et al. 2017, Alg. 1): critic without sigmoid or BatchNorm, weights clipped to [−c, c]
(c = ``GANConfig.clip``, 0.01), RMSprop(5e-5), n_critic = 5. (The paper's reference critic, ``DCGAN_D`` of
github.com/martinarjovsky/WassersteinGAN, keeps BatchNorm: ``critic_norm="batch"``; it did not help here.)"""

from __future__ import annotations

from torch import Tensor

from gm_lib.losses.wasserstein import clip_weights, wgan_critic_loss, wgan_generator_loss
from gm_lib.models.base import ModelOutput
from gm_lib.models.gan import PaperRecipe

PAPER = PaperRecipe("rmsprop", lr=5e-5, betas=(0.0, 0.0), n_critic=5, critic_norm="none")


def critic_terms(model, real: Tensor, fake: Tensor, real_scores: Tensor, fake_scores: Tensor) -> ModelOutput:
    """``critic`` = ``E D(G(z)) − E D(x)`` and ``wasserstein`` = its negative, the critic's W1 estimate."""
    return ModelOutput(critic=wgan_critic_loss(real_scores, fake_scores),
                       wasserstein=real_scores.mean() - fake_scores.mean())


def generator_loss(fake_scores: Tensor) -> Tensor:
    """``−E D(G(z))``."""
    return wgan_generator_loss(fake_scores)


def after_critic_step(model) -> None:
    """Clip every critic weight into ``[−c, c]`` after its update (the Lipschitz constraint of Alg. 1)."""
    clip_weights(model.critic, model.config.clip)
