"""Loss functions as pure tensor maths (no modules, devices or data).

Conventions: ``B`` is the batch size; log-likelihoods and KLs are in nats per image
(summed over pixels / latent dimensions, not averaged); every function computes in float32
even under a bfloat16 autocast, because sums over 784+ terms lose precision in bf16.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "gaussian_kl",
    "bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "mmd_unbiased",
    "gradient_penalty",
    "dcgan_discriminator_loss",
    "dcgan_generator_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "clip_weights",
    "hellinger_activation",
    "hellinger_conjugate",
    "fgan_hellinger_bound",
]

MMD_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


# ---------------------------------------------------------------- VAE terms


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


# ---------------------------------------------------------------- WAE: MMD


def _kernel(sq_dist: Tensor, kernel: str, scales: tuple[float, ...], dim: int) -> Tensor:
    total = torch.zeros_like(sq_dist)
    for scale in scales:
        c = scale * 2.0 * dim  # C = scale · 2 · d · σ², with prior variance σ² = 1
        total = total + (c / (c + sq_dist) if kernel == "imq" else torch.exp(-sq_dist / c))
    return total


def mmd_unbiased(
    x: Tensor,
    y: Tensor,
    kernel: Literal["rbf", "imq"] = "imq",
    scales: tuple[float, ...] = MMD_SCALES,
) -> Tensor:
    """Unbiased U-statistic estimate of MMD²(P, Q) from ``x ~ P`` and ``y ~ Q``.

    ``1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/(nm) Σ_{i,j} k(x_i, y_j)``
    (Tolstikhin et al. 2018, Alg. 2; Gretton et al. 2012, eq. 3). The kernel is a sum over
    ``scales`` of IMQ ``C/(C + ‖x − y‖²)`` or RBF ``exp(−‖x − y‖²/C)`` with ``C = scale · 2 · d``.

    * IMQ matches the official WAE code (tolstikhin/wae ``mmd_penalty``): the same seven scales on
      ``C = 2 · d · σ²_prior`` (σ² = 1 here).
    * RBF is our own multi-scale choice. The official code uses one Gaussian kernel
      ``exp(−‖x − y‖² / (2σ²_k))`` whose ``σ²_k`` is a median heuristic recomputed every batch (the median
      squared distance between codes and prior draws plus that among codes); here a sum over fixed
      scales stands in for that data-dependent bandwidth.

    Units: MMD² is a difference of mean kernel values (dimensionless, not nats). Can be slightly
    negative; its expectation is 0 iff P = Q.

    Args:
        x: ``(n, d)``; y: ``(m, d)``; n, m ≥ 2.
    Returns:
        Scalar float32 tensor (differentiable).
    Raises:
        ValueError: on mismatched dims, fewer than 2 samples, or an unknown kernel.
    """
    if kernel not in ("rbf", "imq"):
        raise ValueError(f"kernel={kernel!r} unknown; use 'rbf' or 'imq'")
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (n, d) and (m, d) with the same d")
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"need at least 2 samples on each side for the U-statistic, got n={n}, m={m}")
    x, y, d = x.float(), y.float(), x.shape[1]
    k_xx = _kernel(torch.cdist(x, x).pow(2), kernel, scales, d)
    k_yy = _kernel(torch.cdist(y, y).pow(2), kernel, scales, d)
    k_xy = _kernel(torch.cdist(x, y).pow(2), kernel, scales, d)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return term_xx + term_yy - 2.0 * k_xy.mean()


# ---------------------------------------------------------------- GAN terms


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


# ---------------------------------------------------------------- f-GAN, squared Hellinger


def hellinger_activation(v: Tensor) -> Tensor:
    """Output activation ``g_f(v) = 1 − e^{−v}`` ∈ (−∞, 1) for the squared Hellinger
    divergence ``f(u) = (√u − 1)²`` (Nowozin et al. 2016, Table 2)."""
    return -torch.expm1(-v)


def hellinger_conjugate(t: Tensor) -> Tensor:
    """Fenchel conjugate ``f*(t) = t / (1 − t)`` for ``t < 1`` (Nowozin et al. 2016, Table 6)."""
    return t / (1.0 - t)


def fgan_hellinger_bound(v_p: Tensor, v_q: Tensor) -> Tensor:
    """Variational lower bound ``E_p[g_f(V)] − E_q[f*(g_f(V))]`` on ``∫(√p − √q)²``
    (Nowozin et al. 2016, eq. 6; no ½, so the supremum is 2 for disjoint supports).

    Uses the identity ``f*(g_f(v)) = e^v − 1`` for a stable evaluation.

    Args:
        v_p: critic outputs ``(n,)`` on samples of p; v_q: ``(m,)`` on samples of q.
    Returns:
        Scalar, ≤ the true squared Hellinger distance in expectation.
    """
    return hellinger_activation(v_p.float()).mean() - torch.expm1(v_q.float()).mean()
