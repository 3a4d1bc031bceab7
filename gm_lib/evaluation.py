"""Evaluation results cached beside each run's checkpoint, so re-running a notebook is cheap.

An Inception FID of 2,048 samples costs ~2.5 minutes on a 2-core CPU and the importance-sampled
NLL of 1,000 images ~2 minutes; both are deterministic given the trained weights, the settings and
the metric code. They are stored as JSON in ``<run dir>/metrics/`` under a key that hashes those
three, so a changed metric implementation (or profile) recomputes, and nothing else does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

import gm_lib
from gm_lib.checkpoint import atomic_write
from gm_lib.experiments import Run
from gm_lib.metrics import FIDResult, LikelihoodResult, fid, importance_sampled_log_likelihood
from gm_lib.progress import phase
from gm_lib.train import run_directory

__all__ = ["cached", "run_fid", "run_nll"]


def _metrics_code_hash() -> str:
    package = Path(gm_lib.__file__).parent / "metrics"
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cached(run: Run, key: dict, compute: Callable[[], dict]) -> dict:
    """``compute()`` once per (run, key, metric code); later calls read ``<run dir>/metrics/<hash>.json``.

    Args:
        key: JSON-able settings that determine the result (metric name, N, K, seed, ...).
        compute: returns a JSON-able dict.
    """
    digest = hashlib.sha256(json.dumps([key, _metrics_code_hash()], sort_keys=True).encode()).hexdigest()[:16]
    path = run_directory(run.name, run.model, run.data, run.train, run.val) / "metrics" / f"{digest}.json"
    if path.is_file():
        return json.loads(path.read_text())["value"]
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"key": key, "value": value}, indent=1).encode())
    return value


def run_fid(run: Run, model, n: int, *, reference: str, preview: bool = False, seed: int = 0) -> FIDResult:
    """FID/KID of ``n`` samples of ``model`` (drawn with ``torch.Generator().manual_seed(seed)``) vs ``reference``.

    See :func:`gm_lib.metrics.fid` for the protocol and errors; the result is cached per run.
    """

    def compute() -> dict:
        with phase(f"FID {run.name} (N={n})"):
            samples = model.sample(n, generator=torch.Generator().manual_seed(seed))
            return dataclasses.asdict(fid(samples, reference=reference, n=n, preview=preview))

    key = {"metric": "fid", "n": n, "reference": reference, "preview": preview, "seed": seed}
    return FIDResult(**cached(run, key, compute))


def run_nll(run: Run, model, x: Tensor, k: int, seed: int = 0) -> LikelihoodResult:
    """Importance-sampled log-likelihood (nats) of images ``x`` under ``model``, cached per run.

    ``x`` is identified by its shape and a checksum of its values, so another subset recomputes.
    """

    def compute() -> dict:
        result = importance_sampled_log_likelihood(
            model, x.to(model.device), k=k, generator=torch.Generator().manual_seed(seed)
        )
        return {"per_image": result.per_image.tolist(), "mean": result.mean, "stderr": result.stderr, "k": result.k}

    checksum = hashlib.sha256(x.detach().cpu().numpy().tobytes()).hexdigest()[:16]
    value = cached(run, {"metric": "nll", "k": k, "seed": seed, "x": [list(x.shape), checksum]}, compute)
    return LikelihoodResult(torch.tensor(value["per_image"]), value["mean"], value["stderr"], value["k"])
