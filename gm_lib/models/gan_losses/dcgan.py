"""DCGAN (Radford et al. 2016): BCE-with-logits discriminator with BatchNorm, non-saturating generator loss,
Adam(2e-4, β = (0.5, 0.999)), one discriminator update per step (Sec. 4)."""

from __future__ import annotations

from torch import Tensor

from gm_lib.losses.adversarial import dcgan_discriminator_loss, dcgan_generator_loss
from gm_lib.models.base import ModelOutput
from gm_lib.models.gan import PaperRecipe

PAPER = PaperRecipe("adam", lr=2e-4, betas=(0.5, 0.999), n_critic=1, critic_norm="batch")


def critic_terms(model, real: Tensor, fake: Tensor, real_scores: Tensor, fake_scores: Tensor) -> ModelOutput:
    """``critic``: the discriminator's BCE on real (label 1) and fake (label 0) logits ``(B,)``."""
    return ModelOutput(critic=dcgan_discriminator_loss(real_scores, fake_scores))


def generator_loss(fake_scores: Tensor) -> Tensor:
    """The non-saturating loss ``−E log D(G(z))`` on the fakes' logits ``(B,)``."""
    return dcgan_generator_loss(fake_scores)
