"""WGAN-GP (Gulrajani et al. 2017, Alg. 1): two-sided gradient penalty λ = 10 (``GANConfig.lambda_gp``) instead
of clipping, Adam(1e-4, β = (0.5, 0.9)), n_critic = 5, no BatchNorm in the critic (the per-sample penalty must
not be coupled across the batch, Sec. 4). β1 = 0.5 as the authors' released code; Alg. 1 lists β1 = 0, which
measured the same here."""

from __future__ import annotations

import torch
from torch import Tensor

from gm_lib.losses.wasserstein import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from gm_lib.models.base import ModelOutput
from gm_lib.models.gan import PaperRecipe

PAPER = PaperRecipe("adam", lr=1e-4, betas=(0.5, 0.9), n_critic=5, critic_norm="none")


def critic_terms(model, real: Tensor, fake: Tensor, real_scores: Tensor, fake_scores: Tensor) -> ModelOutput:
    """``critic`` = ``E D(G(z)) − E D(x) + λ·GP``, ``wasserstein`` (the W1 estimate) and ``gradient_penalty``
    (unweighted, on interpolates of ``real`` and ``fake``, both ``(B, C, H, W)`` in [−1, 1])."""
    terms = ModelOutput(critic=wgan_critic_loss(real_scores, fake_scores),
                        wasserstein=real_scores.mean() - fake_scores.mean())
    with torch.enable_grad():
        penalty = gradient_penalty(model.critic, real, fake)
    terms["gradient_penalty"] = penalty
    terms["critic"] = terms["critic"] + model.config.lambda_gp * penalty
    return terms


def generator_loss(fake_scores: Tensor) -> Tensor:
    """``−E D(G(z))``."""
    return wgan_generator_loss(fake_scores)
