"""Image sharpness as in the WAE paper (Tolstikhin et al. 2018, Sec. 4): variance of the Laplacian.

Blurry samples (a VAE's) have little high-frequency energy, so their Laplacian-filtered images have a
small variance; real digits score higher. The definition is the official code's
(``compute_blurriness`` in tolstikhin/wae, ``wae.py``):

* RGB -> grey with ``tf.image.rgb_to_grayscale``'s luma weights (0.2989, 0.5870, 0.1140); grey stays grey;
* 3x3 Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` with ``padding='VALID'``: an ``H x W`` image gives an
  ``(H - 2) x (W - 2)`` response, no padded border;
* ``tf.nn.moments`` over the response: the population variance (divides by the count, not count - 1).

Defined on values in ``[0, 1]`` (the official code's data range) so numbers from different models and
datasets are comparable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LAPLACIAN", "LUMA_WEIGHTS", "laplacian_variance", "sharpness"]

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
# tf.image.rgb_to_grayscale (ITU-R BT.601 luma, as TensorFlow rounds it).
LUMA_WEIGHTS = torch.tensor([0.2989, 0.5870, 0.1140])


def laplacian_variance(images: Tensor | np.ndarray) -> Tensor:
    """Per-image variance of the VALID 3x3 Laplacian response of the grey image (official WAE definition).

    Args:
        images: float ``(N, C, H, W)`` in ``[0, 1]`` with ``C = 1`` (grey) or ``C = 3`` (RGB, converted with
            :data:`LUMA_WEIGHTS`), ``H, W >= 3``; any device.

    Returns:
        ``(N,)`` float64 variances on the CPU (units: squared intensity on the ``[0, 1]`` scale). Computed in
        float64 on the CPU whatever the images' device: MPS has no float64, and one device gives one number.

    Raises:
        ValueError: not 4-D float, ``C`` not 1 or 3, ``H`` or ``W`` below 3, or values outside ``[0, 1]`` / NaN
            (convert ``[-1, 1]`` with ``(x + 1) / 2``, uint8 with ``x / 255``).
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"sharpness needs float images (N, C, H, W) in [0, 1]; got {x.dtype} {tuple(x.shape)}")
    if x.shape[1] not in (1, 3) or min(x.shape[2:]) < 3:
        raise ValueError(f"sharpness needs 1 (grey) or 3 (RGB) channels and H, W >= 3; got {tuple(x.shape)}")
    if torch.isnan(x).any() or x.min() < 0 or x.max() > 1:
        lo, hi = x.min().item(), x.max().item()
        raise ValueError(
            f"sharpness needs images in [0, 1]; found range [{lo:.4g}, {hi:.4g}] (or NaN): "
            "convert [-1, 1] images with (x + 1) / 2 and uint8 with x / 255"
        )
    x = x.detach().cpu().double()  # not .double() first: MPS has no float64
    if x.shape[1] == 3:
        x = (x * LUMA_WEIGHTS.to(x).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)  # (N, 1, H, W)
    response = F.conv2d(x, LAPLACIAN.to(x).view(1, 1, 3, 3))  # VALID: (N, 1, H - 2, W - 2)
    return response.flatten(1).var(dim=1, unbiased=False)


def sharpness(images: Tensor | np.ndarray) -> float:
    """Mean over images of :func:`laplacian_variance` (the WAE paper's sharpness; higher is sharper)."""
    return float(laplacian_variance(images).mean())
