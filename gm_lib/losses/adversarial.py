"""The original GAN's losses (Goodfellow et al. 2014), as DCGAN trains them: BCE on logits.

Conventions: ``B`` is the batch size; log-likelihoods and KLs are in nats per image
(summed over pixels / latent dimensions, not averaged); every function computes in float32
even under a bfloat16 autocast, because sums over 784+ terms lose precision in bf16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["dcgan_discriminator_loss", "dcgan_generator_loss"]


def dcgan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``−E[log σ(D(x))] − E[log(1 − σ(D(G(z))))]`` (Goodfellow et al. 2014, eq. 1), nats.

    Args:
        real_logits, fake_logits: ``(B,)`` pre-sigmoid discriminator outputs.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def dcgan_generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``−E[log σ(D(G(z)))]`` (Goodfellow et al. 2014, Sec. 3), nats."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
