"""Walking through latent spaces: interpolation, per-dimension perturbation, encoding a dataset, t-SNE.

Every function takes a ``decode`` callable ``z (B, d) -> x (B, C, H, W)`` in ``[0, 1]`` (an
autoencoder's ``decode`` or a GAN's ``decode``; not a GAN's ``generate``, whose tanh output is in
``[-1, 1]``), so one code path serves every family. Codes may live on any device: a gm_lib model's
``decode`` and ``embed`` move their inputs to the model's device and return results there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from gm_lib.data import ImageDataset
from gm_lib.progress import phase

__all__ = [
    "PERTURBATION_EPS",
    "interpolate_latent",
    "interpolate_pixels",
    "perturb_latent",
    "encode_dataset",
    "tsne_embedding",
]

Decode = Callable[[Tensor], Tensor]
# Offsets −5 … +5 in steps of 1: symmetric, so the unperturbed code (ε = 0) is the middle column of every grid.
PERTURBATION_EPS = torch.linspace(-5, 5, 11)


@torch.no_grad()
def interpolate_latent(decode: Decode, z0: Tensor, z1: Tensor, steps: int = 10) -> Tensor:
    """Decode the straight line from ``z0`` to ``z1`` (each ``(d,)``).

    Returns:
        ``(steps, C, H, W)`` in ``[0, 1]``; first and last rows decode ``z0`` and ``z1``.
    """
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)  # (steps, 1)
    return decode((1 - t) * z0 + t * z1.to(z0.device))


def interpolate_pixels(x0: Tensor, x1: Tensor, steps: int = 10) -> Tensor:
    """Blend two images in data space (the baseline latent interpolation is compared to).

    Args:
        x0, x1: ``(C, H, W)`` in ``[0, 1]``.

    Returns:
        ``(steps, C, H, W)`` in ``[0, 1]``.
    """
    t = torch.linspace(0, 1, steps, device=x0.device).view(-1, 1, 1, 1)
    return (1 - t) * x0 + t * x1


@torch.no_grad()
def perturb_latent(decode: Decode, z: Tensor, dims: list[int] | range, eps: Tensor | None = None) -> Tensor:
    """Move one latent coordinate at a time: ``z + ε·e_i`` for each ``i`` in ``dims`` and each ``ε``.

    Args:
        z: ``(d,)`` base code.
        dims: coordinates to perturb.
        eps: offsets (default :data:`PERTURBATION_EPS`, ``linspace(-5, 5, 11)``: 0 in the middle column).

    Returns:
        ``(len(dims), len(eps), C, H, W)`` in ``[0, 1]``: row i varies coordinate ``dims[i]``.
    """
    eps = PERTURBATION_EPS if eps is None else eps
    eps = eps.to(z.device)
    rows = []
    for i in dims:
        codes = z.repeat(len(eps), 1)  # (E, d)
        codes[:, i] += eps
        rows.append(decode(codes))
    return torch.stack(rows)


@torch.no_grad()
def encode_dataset(
    embed: Callable[[Tensor], Tensor],
    data: ImageDataset,
    batch_size: int = 500,
    device: str | torch.device | None = None,
):
    """Latent codes of a whole split.

    Args:
        embed: ``x (B, C, H, W) in [0, 1] -> (B, d)`` (e.g. a VAE's posterior mean).
        data: the split to encode, in stored order.
        device: where ``embed`` runs (default: the device of the module ``embed`` is a method of, e.g.
            ``model.embed``; the CPU for any other callable).

    Returns:
        ``(z, y)``: numpy arrays ``(N, d)`` float32 and ``(N,)`` int64.
    """
    device = torch.device(device) if device is not None else _bound_device(embed)
    codes, labels = [], []
    for x, y in data.batches(batch_size):
        codes.append(embed(x.to(device)).float().cpu())
        labels.append(y)
    return torch.cat(codes).numpy(), torch.cat(labels).numpy()


def _bound_device(function: Callable) -> torch.device:
    owner = getattr(function, "__self__", None)
    if isinstance(owner, torch.nn.Module):
        parameter = next(owner.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")
    return torch.device("cpu")


def tsne_embedding(z: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of codes ``(N, d)`` with scikit-learn (PCA init, so runs are reproducible).

    Returns:
        ``(N, 2)`` float array. Distances between clusters in t-SNE maps carry little meaning;
        use :func:`gm_lib.metrics.knn_accuracy` for a number.
    """
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    with phase(f"t-SNE of {len(z)} codes", kind="evaluation"):
        return tsne.fit_transform(np.asarray(z, dtype=np.float32))
