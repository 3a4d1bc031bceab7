"""VAE terms: the ELBO's reconstruction log-likelihoods and the Gaussian KL (Kingma & Welling 2014).

Conventions: ``B`` is the batch size; log-likelihoods and KLs are in nats per image
(summed over pixels / latent dimensions, not averaged); every function computes in float32
even under a bfloat16 autocast, because sums over 784+ terms lose precision in bf16.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["gaussian_kl", "bernoulli_log_likelihood", "gaussian_log_likelihood"]


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) ‖ N(0, I)) per sample, in nats.

    ``½ Σ_j (mu_j² + σ_j² − 1 − log σ_j²)`` (Kingma & Welling 2014, Appendix B).

    Args:
        mu, logvar: ``(B, d)``.
    Returns:
        ``(B,)``, ≥ 0.
    """
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """``log p(x | logits)`` of independent Bernoulli pixels, nats per image.

    Args:
        logits: ``(B, ...)`` pre-sigmoid decoder output.
        x: same shape, values in ``[0, 1]`` (binary for a true likelihood; grey values give
            the cross-entropy used as a reconstruction loss).
    Returns:
        ``(B,)``, ≤ 0 for binary x.
    """
    bce = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none")
    return -bce.flatten(1).sum(dim=1)


def gaussian_log_likelihood(x_hat: Tensor, x: Tensor, log_sigma: Tensor | float) -> Tensor:
    """``log N(x; x_hat, σ² I)`` with one scalar ``σ = exp(log_sigma)``, nats per image.

    ``Σ_i [−½ ((x_i − x̂_i)/σ)² − log σ − ½ log 2π]``; a density, so it can be positive.

    Args:
        x_hat, x: ``(B, ...)`` (means and data, e.g. in ``[0, 1]``).
        log_sigma: scalar (float or 0-dim tensor, learnable or fixed).
    Returns:
        ``(B,)``.
    """
    log_sigma = torch.as_tensor(log_sigma, dtype=torch.float32, device=x.device)
    z = (x.float() - x_hat.float()) * torch.exp(-log_sigma)
    per_pixel = -0.5 * z.pow(2) - log_sigma - 0.5 * math.log(2 * math.pi)
    return per_pixel.flatten(1).sum(dim=1)
