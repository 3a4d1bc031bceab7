"""Importance-sampled log-likelihood of a latent-variable model (Burda et al. 2016, eq. 8).

    log p(x) ≈ log (1/K) Σ_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x)

with a standard normal prior. A lower bound in expectation (Jensen) that tightens as K grows;
K = 1 is the ELBO. Results in nats per image.

The model provides ``encode(x) -> (mu, logvar)`` (each ``(B, d)``) and
``log_px_given_z(x, z) -> (B,)`` in nats (``x (B, C, H, W)``, ``z (B, d)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LikelihoodResult", "log_normal_diag", "importance_weights", "importance_sampled_log_likelihood"]


@dataclass(frozen=True)
class LikelihoodResult:
    """An importance-sampled log-likelihood estimate.

    Attributes:
        per_image: ``(N,)`` log p(x) of each image, nats.
        mean: mean over the images, nats.
        stderr: standard error of that mean, nats.
        k: importance samples per image.
    """

    per_image: Tensor
    mean: float
    stderr: float
    k: int

    def __str__(self) -> str:
        return f"log p(x) ≈ {self.mean:.2f} ± {self.stderr:.2f} nats (K={self.k}, N={len(self.per_image)})"


def log_normal_diag(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dim: ``(..., d) -> (...)``, nats."""
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)


def importance_weights(model, x: Tensor, mu: Tensor, logvar: Tensor, k: int, generator=None) -> Tensor:
    """Log weights ``log p(x|z) + log p(z) - log q(z|x)`` for ``k`` draws per image: ``(B, k)``, nats.

    ``generator`` may live on any device: ε is drawn there and moved to ``mu``'s device, so a CPU generator
    gives the same draws whether the model runs on the CPU or a GPU.
    """
    b, d = mu.shape
    draw_on = generator.device if generator is not None else mu.device
    eps = torch.randn(b, k, d, generator=generator, device=draw_on, dtype=mu.dtype).to(mu.device)  # (B, k, d)
    z = mu.unsqueeze(1) + torch.exp(0.5 * logvar).unsqueeze(1) * eps  # (B, k, d)
    x_rep = x.unsqueeze(1).expand(b, k, *x.shape[1:]).reshape(b * k, *x.shape[1:])
    log_px_z = model.log_px_given_z(x_rep, z.reshape(b * k, d)).view(b, k)
    log_pz = log_normal_diag(z, torch.zeros_like(z), torch.zeros_like(z))
    log_qz = log_normal_diag(z, mu.unsqueeze(1), logvar.unsqueeze(1))
    return log_px_z + log_pz - log_qz


@torch.no_grad()
def importance_sampled_log_likelihood(
    model, x: Tensor, k: int = 1000, batch_size: int = 10_000, generator: torch.Generator | None = None
) -> LikelihoodResult:
    """IWAE estimate of log p(x) per image (Burda et al. 2016, eq. 8), in nats.

    Args:
        model: has ``encode`` and ``log_px_given_z`` (see module docstring), prior N(0, I).
        x: ``(N, C, H, W)`` as the model expects (float in [0, 1] for gm_lib models).
        k: importance samples per image.
        batch_size: decoder evaluations per forward pass (images per chunk = max(1, batch_size // k));
            each image is encoded once.
        generator: for reproducible draws, on any device (see :func:`importance_weights`).

    Returns:
        :class:`LikelihoodResult` with ``per_image`` float64 on the CPU: the weights are computed on the model's
        device (``x`` may be on any), their log-mean-exp in float64 on the CPU (MPS has no float64).

    Raises:
        ValueError: ``k < 1`` or empty ``x``.
    """
    if k < 1 or len(x) == 0:
        raise ValueError(f"need k >= 1 and at least one image; got k={k}, N={len(x)}")
    was_training = model.training
    model.eval()
    per_image = []
    images_per_chunk = max(1, batch_size // k)
    samples_per_chunk = min(k, batch_size)
    for start in range(0, len(x), images_per_chunk):
        xb = x[start : start + images_per_chunk]
        mu, logvar = model.encode(xb)
        log_w = torch.cat(
            [importance_weights(model, xb, mu, logvar, min(samples_per_chunk, k - s), generator)
             for s in range(0, k, samples_per_chunk)],
            dim=1,
        )  # (B, k)
        # log-mean-exp in float64 on the CPU: MPS has no float64, and one device gives one number.
        per_image.append(torch.logsumexp(log_w.cpu().double(), dim=1) - math.log(k))
    model.train(was_training)
    values = torch.cat(per_image)
    stderr = float(values.std() / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    return LikelihoodResult(values, float(values.mean()), stderr, k)
