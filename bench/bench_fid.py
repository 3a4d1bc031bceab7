"""FID throughput and agreement: each gm_lib feature backend vs the pytorch-fid command line, same images.

Writes the first N MNIST test and train images as PNGs, runs ``python -m pytorch_fid A B`` on them
(weights found through ``TORCH_HOME/hub/checkpoints/<pytorch-fid's file name>``) and scores the
same images from memory with :func:`gm_lib.metrics.fid.inception_features` on every installed backend
(torch, OpenVINO), in one process, one after the other. Prints per backend the features' images/s
(2N images, network load/compile included, as the CLI includes its own) and the end-to-end images/s
(features + Fréchet distance), the CLI's end-to-end images/s, |ΔFID| to the CLI (must be < 0.01), and
the Fréchet distance timed on the same statistics: ours (eigenvalues of a symmetric form) vs
pytorch-fid's ``calculate_frechet_distance`` (scipy ``sqrtm``).

    .venv/bin/python bench/bench_fid.py            # N = 2048 per side
    .venv/bin/python bench/bench_fid.py --n 512    # a quicker look
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gm_lib.data import load_dataset
from gm_lib.metrics.fid import feature_statistics, frechet_distance, inception_features
from gm_lib.metrics.inception import WEIGHTS_NAME, find_fid_weights
from gm_lib.metrics.inception_backends import clear_extractors, ensure_openvino_model, openvino_available


def write_pngs(images: np.ndarray, folder: Path) -> None:
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"{i:05d}.png")  # grey, as a generator's saved samples


def run_cli(a: Path, b: Path, torch_home: Path, batch_size: int) -> tuple[float, float]:
    env = dict(os.environ, TORCH_HOME=str(torch_home))
    cmd = [sys.executable, "-m", "pytorch_fid", str(a), str(b), "--device", "cpu", "--batch-size", str(batch_size)]
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    match = re.search(r"FID:\s+([0-9.eE+-]+)", result.stdout)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"pytorch-fid failed: {result.stderr.strip()[-500:]}")
    return float(match.group(1)), seconds


def run_backend(backend: str, a: np.ndarray, b: np.ndarray, batch_size: int) -> dict:
    """FID of ``a`` vs ``b`` on one backend, timing the features (network load included) and the distance."""
    clear_extractors()  # include loading/compiling the network, as the CLI does
    start = time.perf_counter()
    features = [inception_features(x, batch_size=batch_size, device="cpu", backend=backend) for x in (a, b)]
    stats = [feature_statistics(f) for f in features]
    features_s = time.perf_counter() - start
    start = time.perf_counter()
    value = frechet_distance(*stats[0], *stats[1])
    return {"fid": value, "features_s": features_s, "frechet_s": time.perf_counter() - start, "stats": stats,
            "features": features}


def frechet_from_features(x1: np.ndarray, x2: np.ndarray) -> float:
    """An independent reference for equal N: ``Tr((S1 S2)^½) = Σ σ(X1c X2cᵀ) / (N - 1)``, an N x N SVD.

    With ``S = Xcᵀ Xc / (N - 1)``, the nonzero eigenvalues of ``S1 S2`` are the squared singular values of
    ``X1c X2cᵀ / (N - 1)``: no square root of a singular matrix is ever taken.
    """
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    n = len(x1)
    tr_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / (n - 1)
    diff = x1.mean(0) - x2.mean(0)
    return float(diff @ diff + (c1 * c1).sum() / (n - 1) + (c2 * c2).sum() / (n - 1) - 2 * tr_sqrt)


def time_frechet(stats: list) -> tuple[float, float, float, float]:
    """(ours s, pytorch-fid s, ours value, pytorch-fid value) on the same statistics."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    start = time.perf_counter()
    ours = frechet_distance(*stats[0], *stats[1])
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's notice for the singular covariances of N < 2048
        theirs = float(calculate_frechet_distance(*stats[0], *stats[1]))
    return t_ours, time.perf_counter() - start, ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048, help="images per side (default 2048, the report's N)")
    parser.add_argument("--batch-size", type=int, default=50, help="both tools (pytorch-fid's default: 50)")
    args = parser.parse_args()
    backends = ["torch"] + (["openvino"] if openvino_available() else [])
    if "openvino" in backends:
        ensure_openvino_model()  # the one-time conversion is `make setup`'s, not part of the timing
    a = load_dataset("mnist", "test", n=args.n).images.numpy()
    b = load_dataset("mnist", "train", n=args.n).images.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoints = tmp / "torch" / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        (checkpoints / WEIGHTS_NAME).symlink_to(find_fid_weights())
        write_pngs(a, tmp / "a")
        write_pngs(b, tmp / "b")
        results = {backend: run_backend(backend, a, b, args.batch_size) for backend in backends}
        fid_cli, t_cli = run_cli(tmp / "a", tmp / "b", tmp / "torch", args.batch_size)
    t_ours, t_scipy, fd_ours, fd_scipy = time_frechet(results["torch"]["stats"])
    fd_exact = frechet_from_features(*results["torch"]["features"])
    images = 2 * args.n
    print(f"N = {args.n} per side (mnist:test vs mnist:train), batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    print(f"{'':16s} {'FID':>10s} {'|ΔFID| vs CLI':>14s} {'features img/s':>15s} {'end-to-end img/s':>17s}")
    print(f"{'pytorch-fid CLI':16s} {fid_cli:10.4f} {'':>14s} {'':>15s} {images / t_cli:17.2f}")
    for backend, r in results.items():
        total = r["features_s"] + r["frechet_s"]
        print(f"{backend:16s} {r['fid']:10.4f} {abs(r['fid'] - fid_cli):14.2e} {images / r['features_s']:15.2f} "
              f"{images / total:17.2f}")
    if "openvino" in results:
        ratio = results["torch"]["features_s"] / results["openvino"]["features_s"]
        print(f"openvino / torch features: {ratio:.2f}x")
    best = min(results.values(), key=lambda r: r["features_s"] + r["frechet_s"])
    print(f"fastest backend / CLI end-to-end: {t_cli / (best['features_s'] + best['frechet_s']):.2f}x")
    print(f"Fréchet distance: ours {t_ours:.2f} s vs scipy sqrtm (pytorch-fid) {t_scipy:.2f} s = "
          f"{t_scipy / t_ours:.1f}x, relative difference {abs(fd_ours - fd_scipy) / abs(fd_scipy):.1e}")
    print(f"  vs the N x N SVD of the features ({fd_exact:.6f}): ours {abs(fd_ours - fd_exact) / abs(fd_exact):.1e}, "
          f"scipy sqrtm {abs(fd_scipy - fd_exact) / abs(fd_exact):.1e} relative")


if __name__ == "__main__":
    main()
