"""Fréchet Inception Distance and Kernel Inception Distance, computed the way pytorch-fid does.

FID (Heusel et al. 2017, eq. 6): ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between Gaussians
fitted to the 2048-d pool3 features of the TF Inception 2015-12-05 network (pytorch-fid's
``InceptionV3`` and ``calculate_frechet_distance``). KID (Bińkowski et al. 2018, eq. 4): the unbiased
MMD² with the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)^3`` on the same features, mean ± std
over random subsets.

Input contract: float images in ``[0, 1]`` or uint8, shape ``(N, C, H, W)``, ``C`` in {1, 3}. Floats are
quantized exactly as an image file would be (torchvision ``save_image``: ``x * 255 + 0.5`` clamped,
truncated), grey repeated to RGB, then fed as ``uint8 / 255`` to pytorch-fid's InceptionV3 with its
bilinear resize to 299x299 and its ``2x - 1`` scaling, as its ``ImagePathDataset`` does after
``ToTensor``. Values outside ``[0, 1]`` are an error, never clamped silently.

Reference statistics per ``(dataset, split, N)`` are computed once and cached; samples are scored from
memory. ``fid()`` refuses fewer than 2048 samples (the 2048x2048 covariance would be singular and the
estimate strongly biased) unless ``preview=True``, whose results are labelled as such.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gm_lib.metrics.inception import WEIGHTS_NAME, load_fid_inception
from gm_lib.paths import cache_dir, data_root

__all__ = [
    "MIN_FID_SAMPLES",
    "FIDResult",
    "ReferenceStatistics",
    "quantize_images",
    "inception_features",
    "feature_statistics",
    "frechet_distance",
    "kernel_inception_distance",
    "load_reference_images",
    "reference_statistics",
    "fid",
    "fid_floor",
    "score_features",
]

MIN_FID_SAMPLES = 2048
_FEATURE_DIM = 2048
_STATS_VERSION = "v1"  # bump when preprocessing changes: it names the cached statistics


# ---------------------------------------------------------------- input contract


def quantize_images(images: Tensor | np.ndarray) -> Tensor:
    """Images -> uint8 ``(N, 3, H, W)``, exactly as saving them as 8-bit image files would.

    Args:
        images: uint8, or float in ``[0, 1]``; ``(N, C, H, W)`` with ``C`` in {1, 3}.

    Raises:
        ValueError: wrong rank or channel count, or float values outside ``[0, 1]`` / NaN.
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in {{1, 3}}; got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        if not x.is_floating_point():
            raise ValueError(f"images must be uint8 or float in [0, 1]; got dtype {x.dtype}")
        _check_unit_range(x)
        # torchvision.utils.save_image's quantization: round half up, then truncate.
        x = x.detach().float().mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> RGB, as PIL .convert("RGB")


def _check_unit_range(x: Tensor) -> None:
    if x.numel() == 0:
        return
    if torch.isnan(x).any():
        raise ValueError("images contain NaN; FID needs finite float images in [0, 1]")
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 1:
        raise ValueError(
            f"images must be float in [0, 1] (or uint8); found range [{lo:.4g}, {hi:.4g}]: "
            "convert [-1, 1] images with (x + 1) / 2, and clamp decoder outputs that overshoot"
        )


# ---------------------------------------------------------------- features (network plumbing)

_MODELS: dict[str, torch.nn.Module] = {}


def _model(device: torch.device) -> torch.nn.Module:
    key = str(device)
    if key not in _MODELS:
        # channels_last: 1.5x faster than the default layout for this network on CPU (measured).
        _MODELS[key] = load_fid_inception(device).to(memory_format=torch.channels_last)
    return _MODELS[key]


def inception_features(
    images: Tensor | np.ndarray,
    batch_size: int = 50,
    device: str | torch.device | None = None,
    preview: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Pool3 features of pytorch-fid's FID Inception.

    Args:
        images: see :func:`quantize_images` (float in ``[0, 1]`` or uint8, ``(N, C, H, W)``).
        batch_size: images per forward pass.
        device: default CUDA if available, else CPU.
        preview: bf16 autocast (about 3x faster on CPU, features move ~1.7 %): smoke runs only,
            never for reported numbers.
        progress: show a tqdm bar.

    Returns:
        ``(N, 2048)`` float64 (computed in float32, like pytorch-fid).

    Raises:
        ValueError: bad images (see :func:`quantize_images`).
        FIDWeightsMissing: weights not prepared (run ``make setup``).
    """
    x = quantize_images(images)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = _model(device)
    out = np.empty((x.shape[0], _FEATURE_DIM), dtype=np.float64)
    starts = range(0, x.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="inception", unit="batch")
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=preview):
        for start in starts:
            batch = x[start : start + batch_size].to(device).float().div_(255)  # as ToTensor: uint8 / 255
            batch = batch.contiguous(memory_format=torch.channels_last)
            pool3 = model(batch)[0]  # (B, 2048, 1, 1)
            out[start : start + batch.shape[0]] = pool3.flatten(1).float().cpu().numpy()
    return out


# ---------------------------------------------------------------- maths on features


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of ``features (N, d)``, as pytorch-fid computes them."""
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (Heusel et al. 2017, eq. 6).

    pytorch-fid's ``calculate_frechet_distance``: it adds ``1e-6 I`` to both covariances when their
    product is singular. Returns a real float, in squared feature units.

    Raises:
        ValueError: shapes disagree, or the matrix square root has a significant imaginary part
            (a numerical failure, never reported as a score).
    """
    from pytorch_fid.fid_score import calculate_frechet_distance

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched shapes: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    try:
        value = calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
    except ValueError as error:  # pytorch-fid raises "Imaginary component ..." for a bad sqrtm
        raise ValueError(f"Fréchet distance is not real ({error}); use more samples (N >= 2048)") from None
    value = float(np.real(value))
    if not np.isfinite(value):
        raise ValueError("Fréchet distance is not finite; check the features for NaN/inf")
    return value


def _polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _unbiased_mmd2(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)  # off-diagonal terms only: the unbiased U-statistic
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / m**2)


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: unbiased MMD² with ``k(x, y) = (x·y/d + 1)^3`` (Bińkowski et al. 2018, eq. 4), mean ± std over subsets.

    Args:
        features1, features2: ``(N1, d)``, ``(N2, d)``.
        n_subsets: random subsets (drawn without replacement within a subset).
        subset_size: capped at ``min(N1, N2)``.

    Returns:
        ``(mean, std)`` over subsets; unitless, can be slightly negative (unbiased).

    Raises:
        ValueError: fewer than 2 samples or mismatched feature dimensions.
    """
    if features1.shape[1] != features2.shape[1]:
        raise ValueError(f"feature dims differ: {features1.shape[1]} vs {features2.shape[1]}")
    m = min(subset_size, len(features1), len(features2))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set; got {len(features1)} and {len(features2)}")
    rng = np.random.default_rng(seed)
    x, y = features1.astype(np.float64), features2.astype(np.float64)
    # For N up to ~4k the full kernel matrices cost less than 100 subset products; index into them.
    full = max(len(x), len(y)) <= 4096
    if full:
        k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    values = []
    for _ in range(n_subsets):
        i = rng.choice(len(x), m, replace=False)
        j = rng.choice(len(y), m, replace=False)
        if full:
            values.append(_unbiased_mmd2(k_xx[np.ix_(i, i)], k_yy[np.ix_(j, j)], k_xy[np.ix_(i, j)]))
        else:
            a, b = x[i], y[j]
            values.append(_unbiased_mmd2(_polynomial_kernel(a, a), _polynomial_kernel(b, b), _polynomial_kernel(a, b)))
    return float(np.mean(values)), float(np.std(values))


# ---------------------------------------------------------------- reference statistics (cached plumbing)


@dataclass(frozen=True)
class ReferenceStatistics:
    """Features and Gaussian statistics of the first ``n`` images of a dataset split.

    Attributes:
        spec: ``"<dataset>:<split>"``.
        n: number of images.
        mu: ``(2048,)``; sigma: ``(2048, 2048)``; features: ``(n, 2048)`` float32 (for KID).
    """

    spec: str
    n: int
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray


def _parse_spec(spec: str) -> tuple[str, str]:
    name, _, split = spec.partition(":")
    return name, split or "test"


def load_reference_images(spec: str, n: int | None = None) -> Tensor:
    """uint8 ``(n, C, H, W)``: the first ``n`` images of ``"<dataset>:<split>"`` (e.g. ``mnist:test``).

    Raises:
        ValueError: unknown dataset/split, or ``n`` larger than the split.
        DatasetUnavailable: files missing.
    """
    from gm_lib.data import load_dataset

    name, split = _parse_spec(spec)
    dataset = load_dataset(name, split)
    if n is not None and n > len(dataset):
        raise ValueError(f"{spec} has {len(dataset)} images; cannot take N={n} (use fewer samples)")
    return dataset.images[:n] if n is not None else dataset.images


def _stats_dir() -> Path:
    """Under the data root if writable (kept with the data), else ``cache_dir("fid_stats")``."""
    root = data_root() / "fid_stats"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass  # the shared mirror is read-only
    return cache_dir("fid_stats")


def reference_statistics(spec: str, n: int | None = None, preview: bool = False,
                         progress: bool = False) -> ReferenceStatistics:
    """Cached :class:`ReferenceStatistics` of ``spec`` (``"mnist:test"``) for its first ``n`` images."""
    name, split = _parse_spec(spec)
    images = load_reference_images(spec, n)
    n = images.shape[0]
    tag = f"{name}-{split}-n{n}-{WEIGHTS_NAME.removesuffix('.pth')}-{_STATS_VERSION}{'-preview' if preview else ''}"
    path = _stats_dir() / f"{tag}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return ReferenceStatistics(f"{name}:{split}", n, cached["mu"], cached["sigma"], cached["features"])
    features = inception_features(images, preview=preview, progress=progress)
    mu, sigma = feature_statistics(features)
    # Features from float32 activations: storing float32 loses nothing.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, mu=mu, sigma=sigma, features=features.astype(np.float32))
    os.replace(tmp, path)
    return ReferenceStatistics(f"{name}:{split}", n, mu, sigma, features.astype(np.float32))


# ---------------------------------------------------------------- the scores


@dataclass(frozen=True)
class FIDResult:
    """One FID (and KID) measurement.

    Attributes:
        fid: squared feature distance (lower is better).
        kid_mean, kid_std: KID over subsets (``None`` when not computed).
        n: images on each side (equal by construction).
        reference: what the samples were compared with, e.g. ``"mnist:test"``.
        preview: True for smoke-run numbers (small N or bf16) that must not be reported.
        source: what was scored (``"samples"`` or a dataset spec).
    """

    fid: float
    kid_mean: float | None
    kid_std: float | None
    n: int
    reference: str
    preview: bool = False
    source: str = ""

    def __str__(self) -> str:
        left = f"{self.source} N={self.n}" if self.source else f"N={self.n}"
        text = f"FID {self.fid:.2f} ({left} vs {self.reference} N={self.n})"
        if self.kid_mean is not None:
            text += f" KID {self.kid_mean:.4f} ± {self.kid_std:.4f}"
        return text + (" [PREVIEW: not comparable, do not report]" if self.preview else "")


def _check_n(n: int, preview: bool) -> None:
    if n < MIN_FID_SAMPLES and not preview:
        raise ValueError(
            f"FID needs at least {MIN_FID_SAMPLES} samples, got {n}: with fewer the 2048x2048 covariance is "
            "singular and the score is biased; generate more samples (or pass preview=True for a smoke run)"
        )


def score_features(features: np.ndarray, ref: ReferenceStatistics, kid: bool = True, preview: bool = False,
                   source: str = "") -> FIDResult:
    """FID (and KID) of ``features (N, 2048)`` against ``ref`` (same N by the callers' construction)."""
    mu, sigma = feature_statistics(features)
    value = frechet_distance(mu, sigma, ref.mu, ref.sigma)
    kid_mean = kid_std = None
    if kid:
        kid_mean, kid_std = kernel_inception_distance(features, ref.features)
    return FIDResult(value, kid_mean, kid_std, len(features), ref.spec, preview, source)


def fid(
    samples: Tensor | np.ndarray,
    reference: str = "mnist:test",
    n: int | None = None,
    *,
    kid: bool = True,
    preview: bool = False,
    progress: bool = False,
) -> FIDResult:
    """FID (and KID) of ``samples`` against the first ``N`` images of ``reference``, with the same ``N``.

    Args:
        samples: float in ``[0, 1]`` or uint8, ``(N, C, H, W)``; scored from memory.
        reference: ``"<dataset>:<split>"``, e.g. ``"mnist:test"``, ``"binarized_mnist:valid"``.
        n: use the first ``n`` samples (default: all of them).
        kid: also compute KID (same features).
        preview: allow ``N < 2048`` and use bf16: smoke runs only; the result says so.

    Raises:
        ValueError: fewer than 2048 samples (without ``preview``), out-of-range images, ``n`` too large.
    """
    n = len(samples) if n is None else n
    if n > len(samples):
        raise ValueError(f"n={n} but only {len(samples)} samples were given")
    _check_n(n, preview)
    features = inception_features(samples[:n], preview=preview, progress=progress)
    ref = reference_statistics(reference, n, preview=preview, progress=progress)
    return score_features(features, ref, kid, preview, "")


def fid_floor(dataset: str, n: int, preview: bool = False, kid: bool = True) -> FIDResult:
    """Real-vs-real floor: the first ``n`` training images against the first ``n`` test images.

    Any model's FID at the same ``N`` should be read against this value (FID is biased upwards at finite N).
    """
    _check_n(n, preview)
    train = reference_statistics(f"{dataset}:train", n, preview=preview)
    test = reference_statistics(f"{dataset}:test", n, preview=preview)
    return score_features(train.features.astype(np.float64), test, kid, preview, train.spec)
