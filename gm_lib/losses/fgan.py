"""The f-GAN variational bound of the squared Hellinger distance (Nowozin et al. 2016, Table 2).

Conventions: ``B`` is the batch size; log-likelihoods and KLs are in nats per image
(summed over pixels / latent dimensions, not averaged); every function computes in float32
even under a bfloat16 autocast, because sums over 784+ terms lose precision in bf16.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["hellinger_activation", "hellinger_conjugate", "fgan_hellinger_bound"]


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
