"""FID throughput and agreement: gm_lib.metrics vs the pytorch-fid command line, same images, same weights.

Writes the first N MNIST test and train images as PNGs, runs ``python -m pytorch_fid A B`` on them
(weights found through ``TORCH_HOME/hub/checkpoints/<pytorch-fid's file name>``) and scores the
same images from memory with :func:`gm_lib.metrics.fid.inception_features`. Prints images/s of
each (2N images: both sides, network load included), their ratio, and |ΔFID| (must be < 0.01).

    .venv/bin/python bench/bench_fid.py --n 10000
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gm_lib.data import load_dataset
from gm_lib.metrics.fid import feature_statistics, frechet_distance, inception_features
from gm_lib.metrics.inception import WEIGHTS_NAME, find_fid_weights

# The module, not the function gm_lib.metrics.fid that the package re-exports under the same name.
fid_module = importlib.import_module("gm_lib.metrics.fid")


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


def run_ours(a: np.ndarray, b: np.ndarray, batch_size: int) -> tuple[float, float]:
    fid_module._MODELS.clear()  # include loading the network, as the CLI does
    start = time.perf_counter()
    stats = [feature_statistics(inception_features(x, batch_size=batch_size)) for x in (a, b)]
    value = frechet_distance(*stats[0], *stats[1])
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images per side (default 10000)")
    parser.add_argument("--batch-size", type=int, default=50, help="both tools (pytorch-fid's default: 50)")
    args = parser.parse_args()
    a = load_dataset("mnist", "test", n=args.n).images.numpy()
    b = load_dataset("mnist", "train", n=args.n).images.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoints = tmp / "torch" / "hub" / "checkpoints"
        checkpoints.mkdir(parents=True)
        (checkpoints / WEIGHTS_NAME).symlink_to(find_fid_weights())
        write_pngs(a, tmp / "a")
        write_pngs(b, tmp / "b")
        fid_ours, t_ours = run_ours(a, b, args.batch_size)
        fid_cli, t_cli = run_cli(tmp / "a", tmp / "b", tmp / "torch", args.batch_size)
    images = 2 * args.n
    print(f"N = {args.n} per side (mnist:test vs mnist:train), batch {args.batch_size}, {os.cpu_count()} CPUs")
    print(f"pytorch-fid CLI : FID {fid_cli:.4f}  {images / t_cli:7.2f} images/s ({t_cli:.1f} s)")
    print(f"gm_lib.metrics  : FID {fid_ours:.4f}  {images / t_ours:7.2f} images/s ({t_ours:.1f} s)")
    print(f"speed-up {t_cli / t_ours:.2f}x   |ΔFID| = {abs(fid_ours - fid_cli):.2e} (must be < 0.01)")


if __name__ == "__main__":
    main()
