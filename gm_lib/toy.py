"""The parallel-lines toy of Arjovsky et al. (2017, "Wasserstein GAN", Example 1).

``p = (0, U[0, 1])`` and ``q_θ = (θ, U[0, 1])``: two vertical segments in the plane. For
θ ≠ 0 the supports are disjoint, so every f-divergence is constant in θ (no gradient),
while the Earth-Mover distance ``W1(p, q_θ) = |θ|`` shrinks smoothly.

Here a small MLP critic *estimates* both from samples, as a GAN discriminator would:

* squared Hellinger via its f-GAN lower bound (Nowozin et al. 2016, eq. 6, Tables 2 and 6),
  ``sup_V E_p[g_f(V)] − E_q[f*(g_f(V))]``, ``f(u) = (√u − 1)²``;
* W1 via the WGAN-GP dual (Gulrajani et al. 2017, eq. 3), ``sup_f E_p f − E_q f`` with the
  1-Lipschitz constraint enforced softly by the gradient penalty.

Convention: squared Hellinger ``H²(p, q) = ∫(√p − √q)²`` without the ½, so it lies in
[0, 2] and equals 2 for disjoint supports (the ½ convention would give 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from gm_lib.losses import fgan_hellinger_bound, gradient_penalty, wgan_critic_loss
from gm_lib.nets import MLP
from gm_lib.progress import phase

__all__ = [
    "Estimate",
    "CRITIC_X",
    "sample_p",
    "sample_q",
    "true_wasserstein",
    "true_squared_hellinger",
    "estimate_divergence",
    "estimate_curve",
]

Divergence = Literal["hellinger", "wasserstein"]
# Where a trained critic is read back for plotting: x₁ in [−1.5, 1.5] at x₂ = ½ (the lines' midpoint).
CRITIC_X = tuple(round(-1.5 + 0.05 * i, 2) for i in range(61))


@dataclass(frozen=True)
class Estimate:
    """A critic-based divergence estimate.

    Attributes:
        value: mean of the bound over the evaluation batches.
        stderr: its standard error (std over batches / √eval_batches): the evaluation noise of this one
            trained critic, not the spread over critic initialisations or training runs.
        per_batch: the bound on each fresh evaluation batch.
        critic: the trained critic's output at ``(x₁, ½)`` for each x₁ of :data:`CRITIC_X` (empty when not
            recorded): the function the estimate comes from, for plots (``gm_lib.explore.toy_explorer``).
    """

    value: float
    stderr: float
    per_batch: tuple[float, ...]
    critic: tuple[float, ...] = ()


def sample_q(theta: float, n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points of ``q_θ = (θ, U[0, 1])``, float32 ``(n, 2)``."""
    y = torch.rand(n, 1, generator=generator)
    return torch.cat([torch.full_like(y, float(theta)), y], dim=1)


def sample_p(n: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` points of ``p = (0, U[0, 1])``, float32 ``(n, 2)``."""
    return sample_q(0.0, n, generator)


def true_wasserstein(theta: float) -> float:
    """``W1(p, q_θ) = |θ|`` (Arjovsky et al. 2017, Example 1)."""
    return abs(float(theta))


def true_squared_hellinger(theta: float) -> float:
    """``∫(√p − √q_θ)² = 2`` for θ ≠ 0 (disjoint supports), 0 at θ = 0 (no-½ convention)."""
    return 0.0 if float(theta) == 0.0 else 2.0


def _objective(critic: MLP, x_p: Tensor, x_q: Tensor, divergence: Divergence) -> Tensor:
    """The bound being maximised, without penalty: scalar."""
    v_p, v_q = critic(x_p).squeeze(1), critic(x_q).squeeze(1)
    if divergence == "hellinger":
        return fgan_hellinger_bound(v_p, v_q)
    return -wgan_critic_loss(v_p, v_q)  # E_p f − E_q f


def estimate_divergence(
    theta: float,
    divergence: Divergence,
    steps: int = 300,
    batch_size: int = 256,
    eval_batches: int = 20,
    seed: int = 0,
    lr: float = 1e-3,
    hidden: int = 64,
    depth: int = 2,
    lambda_gp: float = 10.0,
) -> Estimate:
    """Train an MLP critic on samples of p and q_θ, then evaluate its bound on fresh batches.

    Args:
        theta: horizontal offset of q.
        divergence: ``hellinger`` (f-GAN lower bound on ∫(√p − √q)², at most 2) or
            ``wasserstein`` (WGAN-GP dual estimate of W1 = |θ|).
        steps: critic Adam updates, each on a fresh batch of ``batch_size`` from p and q.
        eval_batches: fresh batches on which the trained bound is averaged.
        seed: seeds the critic's initialisation and all sampling.
        lr: Adam learning rate (β = (0.5, 0.9) as in WGAN-GP).
        hidden, depth: critic MLP size.
        lambda_gp: gradient-penalty weight (wasserstein only).

    Returns:
        :class:`Estimate` (value ± stderr, per-batch values). ~0.3 s (Hellinger) to ~2 s
        (Wasserstein, double backward) per θ at the defaults on one CPU thread.

    Note:
        The two-sided penalty lets the critic's slope exceed 1: for the optimal linear critic
        ``f(x) = s·x₁`` the objective ``|θ| s − λ (s − 1)²`` peaks at ``s = 1 + |θ|/(2λ)``, so
        the WGAN-GP estimate converges to ``|θ| + θ²/(2λ)`` (1.05 at θ = 1, λ = 10), not |θ|.

    Raises:
        ValueError: unknown divergence or non-positive sizes.
    """
    if divergence not in ("hellinger", "wasserstein"):
        raise ValueError(f"divergence={divergence!r} unknown; use 'hellinger' or 'wasserstein'")
    if min(steps, batch_size, eval_batches) < 1:
        raise ValueError(f"steps={steps}, batch_size={batch_size}, eval_batches={eval_batches} must all be >= 1")
    # A 2-D MLP gains nothing from intra-op threads, and on a shared CPU they cost ~10× in contention.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        values, critic = _train_and_evaluate(
            theta, divergence, steps, batch_size, eval_batches, seed, lr, hidden, depth, lambda_gp
        )
    finally:
        torch.set_num_threads(threads)
    return _summarise(values, critic)


def _train_and_evaluate(theta, divergence, steps, batch_size, eval_batches, seed, lr, hidden, depth, lambda_gp):
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    critic = MLP(2, 1, hidden, depth)
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
    for _ in range(steps):
        x_p, x_q = sample_p(batch_size, rng), sample_q(theta, batch_size, rng)
        loss = -_objective(critic, x_p, x_q, divergence)
        if divergence == "wasserstein":
            loss = loss + lambda_gp * gradient_penalty(lambda x: critic(x).squeeze(1), x_p, x_q, rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        values = [
            _objective(critic, sample_p(batch_size, rng), sample_q(theta, batch_size, rng), divergence).item()
            for _ in range(eval_batches)
        ]
        grid = torch.tensor([[x, 0.5] for x in CRITIC_X])  # (61, 2); draws no random numbers
        return values, tuple(critic(grid).squeeze(1).tolist())


def _summarise(values: Sequence[float], critic: Sequence[float] = ()) -> Estimate:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return Estimate(mean, std / math.sqrt(n), tuple(values), tuple(critic))


def estimate_curve(thetas: Sequence[float], divergence: Divergence, **kwargs) -> list[Estimate]:
    """:func:`estimate_divergence` at each θ (same keyword arguments, same seed each point)."""
    with phase(f"{divergence} critics, {len(thetas)} values of θ", kind="training"):  # the critic is the estimator
        return [estimate_divergence(theta, divergence, **kwargs) for theta in thetas]
