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

The network runs on the backend :mod:`gm_lib.metrics.inception_backends` picks (``GM_FID_BACKEND``:
OpenVINO f32 on CPUs, torch on GPUs); every :class:`FIDResult` records it. The Fréchet distance and KID
are pure NumPy in :mod:`gm_lib.metrics.feature_distances`.

Reference statistics per ``(dataset, split, N)`` and the real-vs-real floor per ``(dataset, N)`` are
computed once per feature backend and device class and cached; samples are scored from memory. ``fid()``
refuses fewer than 2048 samples (pytorch-fid's recommended minimum: FID's upward bias grows as N shrinks, and
the 2048x2048 covariance of N samples has rank at most N - 1, so it is singular at every N <= 2048 and the
more so below) unless ``preview=True``, whose results are labelled as such.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gm_lib.cache import dump_npz, key_digest, load_npz, load_or_compute
from gm_lib.metrics.feature_distances import (
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    trace_sqrt_product,
)
from gm_lib.metrics.inception import WEIGHTS_NAME
from gm_lib.metrics.inception_backends import feature_extractor, resolve_backend
from gm_lib.paths import cache_dir
from gm_lib.precision import select_device
from gm_lib.progress import phase
from gm_lib.saved_configs import decode_fields

__all__ = [
    "MIN_FID_SAMPLES",
    "FIDResult",
    "ReferenceStatistics",
    "quantize_images",
    "inception_features",
    "feature_backend",
    "feature_device_class",
    "feature_statistics",
    "frechet_distance",
    "trace_sqrt_product",
    "kernel_inception_distance",
    "load_reference_images",
    "reference_statistics",
    "fid",
    "fid_floor",
    "score_features",
]

MIN_FID_SAMPLES = 2048
_FEATURE_DIM = 2048
# The code cached statistics and floors depend on (see gm_lib.cache.key_digest): this module's import closure, i.e.
# the preprocessing, the network and its backends, the Fréchet distance and KID maths, and the data readers
# (gm_lib.data, imported where the reference images are loaded), so a change of how a dataset is read recomputes.
_STATS_CODE = (__name__,)
_FLOOR_CODE = _STATS_CODE


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


def inception_features(
    images: Tensor | np.ndarray,
    batch_size: int = 50,
    device: str | torch.device | None = None,
    preview: bool = False,
    progress: bool = False,
    backend: str | None = None,
) -> np.ndarray:
    """Pool3 features of pytorch-fid's FID Inception.

    Args:
        images: see :func:`quantize_images` (float in ``[0, 1]`` or uint8, ``(N, C, H, W)``).
        batch_size: images per forward pass.
        device: default :func:`gm_lib.precision.select_device` ``("auto")``: CUDA, then MPS, then the CPU.
        preview: bf16 autocast on the torch backend (smoke runs only, never for reported numbers);
            OpenVINO stays f32.
        progress: show a tqdm bar.
        backend: ``"torch"`` or ``"openvino"``; default :func:`feature_backend` (``$GM_FID_BACKEND``).

    Returns:
        ``(N, 2048)`` float64 (computed in float32, like pytorch-fid).

    Raises:
        ValueError: bad images (see :func:`quantize_images`) or an unusable backend.
        FIDWeightsMissing: weights not prepared (run ``make setup``).
    """
    x = quantize_images(images)
    device = torch.device(device) if device is not None else select_device("auto")
    backend = backend or resolve_backend(device)
    extract = feature_extractor(backend, device, tuple(x.shape[2:]), preview)
    out = np.empty((x.shape[0], _FEATURE_DIM), dtype=np.float64)
    starts = range(0, x.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"inception ({backend})", unit="batch")
    for start in starts:
        batch = x[start : start + batch_size].float().div_(255)  # as ToTensor: uint8 / 255
        out[start : start + batch.shape[0]] = extract(batch)
    return out


def feature_backend(device: str | torch.device | None = None) -> str:
    """The backend :func:`inception_features` uses for ``device`` (see ``gm_lib.metrics.inception_backends``)."""
    return resolve_backend(torch.device(device) if device is not None else select_device("auto"))


def feature_device_class(backend: str, device: str | torch.device | None = None) -> str:
    """``cpu``, ``cuda`` or ``mps``: the kind of device ``backend`` computes the features on (OpenVINO: the CPU)."""
    if backend == "openvino":
        return "cpu"
    return (torch.device(device) if device is not None else select_device("auto")).type


# ---------------------------------------------------------------- reference statistics (cached plumbing)


@dataclass(frozen=True)
class ReferenceStatistics:
    """Features and Gaussian statistics of the first ``n`` images of a dataset split.

    Attributes:
        spec: ``"<dataset>:<split>"``.
        n: number of images.
        mu: ``(2048,)``; sigma: ``(2048, 2048)``; features: ``(n, 2048)`` float32 (for KID).
        backend: the feature backend that computed them (files cached before backends existed: torch).
    """

    spec: str
    n: int
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray
    backend: str = "torch"


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
    """``cache_dir("fid_stats")``: with the other cached results, so ``make pack`` carries them."""
    return cache_dir("fid_stats")


def _stats_path(name: str, split: str, n: int, preview: bool, code: tuple[str, ...], suffix: str,
                backend: str) -> Path:
    """``<stats dir>/<name>-<split>-n<N>-<backend>-<device class>[-preview]-<digest><suffix>``.

    The backend (``torch``/``openvino``) and the device class its features come from (``cpu``/``cuda``/``mps``,
    :func:`feature_device_class`) are in the name, so statistics computed on one machine's kind of device are
    never read as another's; the digest keys the weights, ``code``, backend and device class.
    """
    device = feature_device_class(backend)
    digest = key_digest({"weights": WEIGHTS_NAME, "backend": backend, "device": device}, code, length=12)
    return _stats_dir() / f"{name}-{split}-n{n}-{backend}-{device}{'-preview' if preview else ''}-{digest}{suffix}"


def reference_statistics(spec: str, n: int | None = None, preview: bool = False,
                         progress: bool = False) -> ReferenceStatistics:
    """Cached :class:`ReferenceStatistics` of ``spec`` (``"mnist:test"``) for its first ``n`` images.

    Computed once per (dataset, split, N, backend, device class) and shared by every notebook (the cache file
    names the backend and the device class, see :func:`_stats_path`); the file also records the backend.
    ``preview`` on the torch backend (bf16 autocast) gets files of its own, tagged ``-preview``.
    """
    name, split = _parse_spec(spec)
    images = load_reference_images(spec, n)
    n = images.shape[0]
    backend = feature_backend()
    bf16 = preview and backend == "torch"  # OpenVINO's preview features are its f32 ones
    path = _stats_path(name, split, n, bf16, _STATS_CODE, ".npz", backend)

    def compute() -> dict:
        features = inception_features(images, preview=preview, progress=progress, backend=backend)
        mu, sigma = feature_statistics(features)
        # Features from float32 activations: storing float32 loses nothing.
        return {"mu": mu, "sigma": sigma, "features": features.astype(np.float32), "backend": np.array(backend)}

    stats = load_or_compute(path, compute, load=load_npz, dump=dump_npz, code=_STATS_CODE)
    return ReferenceStatistics(f"{name}:{split}", n, stats["mu"], stats["sigma"], stats["features"].astype(np.float32),
                               str(stats["backend"]))


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
        backend: what computed the scored side's Inception features (``"torch"`` or ``"openvino"``).
    """

    fid: float
    kid_mean: float | None
    kid_std: float | None
    n: int
    reference: str
    preview: bool = False
    source: str = ""
    backend: str = ""

    def __str__(self) -> str:
        left = f"{self.source} N={self.n}" if self.source else f"N={self.n}"
        text = f"FID {self.fid:.2f} ({left} vs {self.reference} N={self.n})"
        if self.kid_mean is not None:
            text += f" KID {self.kid_mean:.4f} ± {self.kid_std:.4f}"
        return text + (" [PREVIEW: not comparable, do not report]" if self.preview else "")


def _check_n(n: int, preview: bool) -> None:
    if n < MIN_FID_SAMPLES and not preview:
        raise ValueError(
            f"FID needs at least {MIN_FID_SAMPLES} samples, got {n}: with fewer its upward bias grows (the 2048x2048 "
            "covariance has rank <= N - 1); generate more samples (or pass preview=True for a smoke run)"
        )


def score_features(features: np.ndarray, ref: ReferenceStatistics, kid: bool = True, preview: bool = False,
                   source: str = "", backend: str = "") -> FIDResult:
    """FID (and KID) of ``features (N, 2048)`` against ``ref`` (same N by the callers' construction)."""
    mu, sigma = feature_statistics(features)
    value = frechet_distance(mu, sigma, ref.mu, ref.sigma)
    kid_mean = kid_std = None
    if kid:
        kid_mean, kid_std = kernel_inception_distance(features, ref.features)
    return FIDResult(value, kid_mean, kid_std, len(features), ref.spec, preview, source, backend)


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
        preview: allow ``N < 2048`` (and bf16 on the torch backend): smoke runs only; the result says so.

    Raises:
        ValueError: fewer than 2048 samples (without ``preview``), out-of-range images, ``n`` too large.
    """
    n = len(samples) if n is None else n
    if n > len(samples):
        raise ValueError(f"n={n} but only {len(samples)} samples were given")
    _check_n(n, preview)
    backend = feature_backend()
    features = inception_features(samples[:n], preview=preview, progress=progress, backend=backend)
    ref = reference_statistics(reference, n, preview=preview, progress=progress)
    return score_features(features, ref, kid, preview, "", backend)


def fid_floor(dataset: str, n: int, preview: bool = False, kid: bool = True) -> FIDResult:
    """Real-vs-real floor: the first ``n`` training images against the first ``n`` test images.

    Any model's FID at the same ``N`` should be read against this value (FID is biased upwards at finite N). It is
    a noisy estimate of the distance between two real samples, not a bound: a model's FID can go below it.
    Computed once per (dataset, N, preview, kid) and cached as JSON beside the reference statistics, so
    notebooks that share a dataset share it.
    """
    _check_n(n, preview)
    path = _stats_path(dataset, "floor", n, preview, _FLOOR_CODE, "-kid.json" if kid else ".json", feature_backend())

    def compute() -> dict:
        with phase(f"FID floor {dataset} (N={n})", kind="evaluation"):  # shown by `make report`
            train = reference_statistics(f"{dataset}:train", n, preview=preview)
            test = reference_statistics(f"{dataset}:test", n, preview=preview)
            features = train.features.astype(np.float64)
            return dataclasses.asdict(score_features(features, test, kid, preview, train.spec, train.backend))

    return decode_fields(FIDResult, load_or_compute(path, compute, code=_FLOOR_CODE), plain=True)  # typed fields
