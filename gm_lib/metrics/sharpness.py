"""Image sharpness as in the WAE paper (Tolstikhin et al. 2018, Sec. 4): variance of the Laplacian.

Blurry samples (a VAE's) have little high-frequency energy, so their Laplacian-filtered images have a
small variance; real digits score higher. Defined on grey-scale values in ``[0, 1]`` so numbers from
different models and datasets are comparable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LAPLACIAN", "laplacian_variance", "sharpness"]

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(images: Tensor | np.ndarray) -> Tensor:
    """Per-image variance of the 3x3 Laplacian (reflect padding) of the grey-scale image.

    Args:
        images: float ``(N, C, H, W)`` in ``[0, 1]``; grey = mean over channels.

    Returns:
        ``(N,)`` float64 variances (units: squared intensity in ``[0, 1]`` scale).

    Raises:
        ValueError: not 4-D float, or values outside ``[0, 1]`` / NaN (convert ``[-1, 1]`` with ``(x + 1) / 2``,
            uint8 with ``x / 255``).
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"sharpness needs float images (N, C, H, W) in [0, 1]; got {x.dtype} {tuple(x.shape)}")
    if torch.isnan(x).any() or x.min() < 0 or x.max() > 1:
        lo, hi = x.min().item(), x.max().item()
        raise ValueError(
            f"sharpness needs images in [0, 1]; found range [{lo:.4g}, {hi:.4g}] (or NaN): "
            "convert [-1, 1] images with (x + 1) / 2 and uint8 with x / 255"
        )
    grey = x.double().mean(dim=1, keepdim=True)  # (N, 1, H, W)
    padded = F.pad(grey, (1, 1, 1, 1), mode="reflect")
    response = F.conv2d(padded, LAPLACIAN.double().view(1, 1, 3, 3))  # (N, 1, H, W)
    return response.flatten(1).var(dim=1, unbiased=False)


def sharpness(images: Tensor | np.ndarray) -> float:
    """Mean over images of :func:`laplacian_variance` (the WAE paper's sharpness; higher is sharper)."""
    return float(laplacian_variance(images).mean())
