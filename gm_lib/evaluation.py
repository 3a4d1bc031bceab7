"""Evaluation results cached beside each run's checkpoint, so re-running a notebook is cheap.

An Inception FID of 2,048 samples costs ~2.5 minutes on a 2-core CPU and the importance-sampled
NLL of 1,000 images ~2 minutes; both are deterministic given the trained weights, the settings and
the metric code. They are stored as JSON in ``<run dir>/metrics/`` under a key that hashes those
three: a digest of the weights scored (so a run stopped by the time guard and finished later is
scored again), the settings (for sample scores, the FID backend and feature device class too), and
the code of this module's import closure (the metrics, the data readers; :mod:`gm_lib.code_graph`),
so a changed metric implementation (or profile) recomputes, and nothing else does.

:func:`score_run` scores one model's samples for every sample metric at once (FID/KID, sharpness,
class coverage): the samples are drawn once, and not at all when the scores are cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from gm_lib.cache import key_digest, load_or_compute
from gm_lib.metrics import (
    FIDResult,
    LikelihoodResult,
    class_coverage,
    fid,
    importance_sampled_log_likelihood,
    sharpness,
)
from gm_lib.metrics.fid import feature_backend, feature_device_class
from gm_lib.progress import phase
from gm_lib.saved_configs import decode_fields

if TYPE_CHECKING:  # annotations only: scores do not depend on how runs are defined
    from gm_lib.experiments import Run

__all__ = ["SampleScores", "weights_digest", "cached", "draw_samples", "score_samples", "score_run", "run_nll"]

# The code a cached score depends on: this module's import closure (the metrics and the data readers).
SCORES_CODE = (__name__,)


def weights_digest(model: torch.nn.Module) -> str:
    """16 hex digits of ``model``'s parameters and buffers (names, dtypes, shapes, values), on any device."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def cached(run: Run, key: dict, compute: Callable[[], dict], model: torch.nn.Module | None = None) -> dict:
    """``compute()`` once per (run, weights, key, metric code); later calls read ``<run dir>/metrics/<digest>.json``.

    Args:
        key: JSON-able settings that determine the result (metric name, N, K, seed, ...).
        compute: returns a JSON-able dict.
        model: the model scored; the digest of its weights is part of the key (:func:`weights_digest`), so a
            run trained further (resumed after the time guard stopped it) is scored again.
    """
    if isinstance(model, torch.nn.Module):
        key = {**key, "weights": weights_digest(model)}
    path = run.directory / "metrics" / f"{key_digest(key, SCORES_CODE)}.json"
    return load_or_compute(path, lambda: {"key": key, "value": compute()}, code=SCORES_CODE)["value"]


def draw_samples(model, n: int, seed: int) -> Tensor:
    """``n`` samples of ``model`` (generator seeded with ``seed``): float ``(n, C, H, W)`` in ``[0, 1]``, on CPU."""
    with torch.no_grad():
        return model.sample(n, generator=torch.Generator().manual_seed(seed)).cpu()


@dataclasses.dataclass(frozen=True)
class SampleScores:
    """Every sample metric of one set of ``N`` samples.

    Attributes:
        fid: FID/KID against the reference (see :class:`gm_lib.metrics.FIDResult`; records its backend).
        sharpness: mean variance of the Laplacian (WAE paper's sharpness, ``[0, 1]`` intensity², higher = sharper).
        classes_covered, kl_to_uniform: class coverage by the domain classifier (``None`` without one).
    """

    fid: FIDResult
    sharpness: float
    classes_covered: int | None = None
    kl_to_uniform: float | None = None


def score_samples(samples: Tensor, reference: str, *, kid: bool = True, preview: bool = False,
                  classifier=None) -> SampleScores:
    """FID/KID, sharpness and (given a domain ``classifier``) class coverage of ``samples``, all from one draw.

    Args:
        samples: float ``(N, C, H, W)`` in ``[0, 1]``.
        reference: ``"<dataset>:<split>"`` for FID, compared at the same ``N``.

    Raises:
        ValueError: see :func:`gm_lib.metrics.fid` (N < 2048 without ``preview``, out-of-range images).
    """
    coverage = class_coverage(classifier, samples) if classifier is not None else None
    return SampleScores(fid(samples, reference=reference, kid=kid, preview=preview), sharpness(samples),
                        coverage.n_covered if coverage else None, coverage.kl_to_uniform if coverage else None)


def score_run(run: Run, model, n: int, *, reference: str, preview: bool = False, seed: int = 0, kid: bool = True,
              classifier=None, samples: Tensor | None = None) -> SampleScores:
    """:func:`score_samples` of ``n`` samples of ``model``, cached per run: drawn once, and only on a cache miss.

    Args:
        samples: the caller's own draw to score instead (identified by a checksum); by default
            :func:`draw_samples` ``(model, n, seed)``, identified by ``seed``.
        classifier: a :class:`gm_lib.metrics.Classifier` for class coverage (its config hash is in the key).

    The key also holds the FID feature backend (``$GM_FID_BACKEND``: torch or openvino) and the device class its
    features run on (cpu / cuda / mps), as the reference statistics' file names do: a score computed with one
    backend is never served for another.
    """
    backend = feature_backend()  # the reference statistics are kept per backend and device class: so are the scores
    key = {"metric": "samples", "n": n, "reference": reference, "preview": preview, "seed": seed, "kid": kid,
           "classifier": classifier.config.hash() if classifier is not None else None,
           "fid_backend": backend, "fid_device": feature_device_class(backend)}
    if samples is not None:
        if len(samples) != n:
            raise ValueError(f"score_run got {len(samples)} samples for n={n}: pass exactly n samples")
        key["samples"] = hashlib.sha256(samples.detach().cpu().numpy().tobytes()).hexdigest()[:16]

    def compute() -> dict:
        with phase(f"FID {run.name} (N={n})", kind="evaluation"):  # shown by `make report`
            drawn = samples.detach().cpu() if samples is not None else draw_samples(model, n, seed)
            return dataclasses.asdict(score_samples(drawn, reference, kid=kid, preview=preview,
                                                    classifier=classifier))

    value = cached(run, key, compute, model=model)
    return decode_fields(SampleScores, value, plain=True)  # a cached file's fields, each of its kind


def run_nll(run: Run, model, x: Tensor, k: int, seed: int = 0) -> LikelihoodResult:
    """Importance-sampled log-likelihood (nats) of images ``x`` under ``model``, cached per run.

    ``x`` is identified by its shape and a checksum of its values, so another subset recomputes.
    """

    def compute() -> dict:
        with phase(f"NLL {run.name} (N={len(x)}, K={k})", kind="evaluation"):
            result = importance_sampled_log_likelihood(
                model, x.to(model.device), k=k, generator=torch.Generator().manual_seed(seed)
            )
        return {"per_image": result.per_image.tolist(), "mean": result.mean, "stderr": result.stderr, "k": result.k}

    checksum = hashlib.sha256(x.detach().cpu().numpy().tobytes()).hexdigest()[:16]
    value = cached(run, {"metric": "nll", "k": k, "seed": seed, "x": [list(x.shape), checksum]}, compute, model=model)
    return LikelihoodResult(torch.tensor(value["per_image"]), value["mean"], value["stderr"], value["k"])
