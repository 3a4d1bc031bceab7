"""Wasserstein GAN terms: the critic's dual objective, weight clipping (Arjovsky et al. 2017) and the
gradient penalty (Gulrajani et al. 2017).

Conventions: ``B`` is the batch size; log-likelihoods and KLs are in nats per image
(summed over pixels / latent dimensions, not averaged); every function computes in float32
even under a bfloat16 autocast, because sums over 784+ terms lose precision in bf16.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["wgan_critic_loss", "wgan_generator_loss", "clip_weights", "gradient_penalty"]


def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[D(x̃)] − E[D(x)]``: minus the critic's Wasserstein-1 estimate (Arjovsky et al. 2017, eq. 3)."""
    return fake_scores.float().mean() - real_scores.float().mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """``−E[D(G(z))]`` (Arjovsky et al. 2017, Alg. 1)."""
    return -fake_scores.float().mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """Clamp every parameter of ``module`` into ``[−c, c]`` in place (Arjovsky et al. 2017, Alg. 1)."""
    if c <= 0:
        raise ValueError(f"clip value c={c} must be > 0")
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Two-sided gradient penalty ``E[(‖∇D(x̂)‖₂ − 1)²]`` (Gulrajani et al. 2017, eq. 3), without λ.

    ``x̂ = ε x + (1 − ε) x̃`` with one ``ε ~ U[0, 1]`` per sample. Inputs are detached (the
    penalty trains the critic only); the graph of ``∇D`` is kept (``create_graph=True``) so
    the result can be back-propagated into the critic's weights. Multiply by ``lambda_gp``
    outside.

    Args:
        critic: maps ``(B, ...)`` to the same per-sample scores ``(B,)`` (or ``(B, 1)``)
            used in the critic loss.
        real, fake: same shape, ``(B, C, H, W)`` images or ``(B, d)`` vectors.
        generator: optional RNG for ε.
    Returns:
        Scalar float32 tensor, ≥ 0.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device if generator is None else generator.device)
    eps = eps.to(real.device, real.dtype)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.float().sum(), x_hat, create_graph=True)
    # sqrt(· + tiny) keeps the gradient finite where ∇D = 0.
    norm = torch.sqrt(grad.float().flatten(1).pow(2).sum(dim=1) + 1e-12)
    return (norm - 1.0).pow(2).mean()
