"""How long ``make pack`` and ``make unpack`` take on a cache shaped like the default profile's.

The cache is built cheaply, not trained: every run of notebooks 01, 03 (Fashion-MNIST) and 04 (MNIST) at the
default profile's configs, trained for ``--steps`` steps only (same networks and optimizers, so the same
checkpoint size; GAN runs keep eleven weight snapshots, as the default's ``steps // 10`` gives), four FID
reference statistics files of N = 2,048 (random values, the real shapes: features 2048 x 2048 float32, sigma
2048 x 2048 float64) with two floors, and the two domain classifiers (untrained weights). The run keys are not
the report's (fewer steps), which changes nothing in the sizes.

Usage (about a minute on 2 CPU cores):
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_share.py [--steps 11] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from gm_lib.cache import atomic_write, dump_npz
from gm_lib.experiments import Run, gan_runs, train_run, vae_bmnist_run, wae_vs_vae_runs
from gm_lib.metrics.classifiers import Classifier, ClassifierConfig
from gm_lib.profiles import get_profile

__all__ = ["build_cache", "main"]

FID_N, FEATURES = 2_048, 2_048


def _short(run: Run, steps: int) -> Run:
    snapshots = None if run.train.snapshot_every is None else max(1, steps // 10)
    train = replace(run.train, steps=steps, checkpoint_every=steps, eval_every=steps, snapshot_every=snapshots)
    return Run(run.name, run.model, run.data, train, run.val)


def build_cache(cache: Path, steps: int) -> None:
    """Fill ``cache`` (``GM_CACHE_DIR`` must point at it) as described in the module docstring."""
    profile = get_profile("default")
    runs = [vae_bmnist_run(profile, device="cpu"), *gan_runs("fashion_mnist", profile, device="cpu").values(),
            *wae_vs_vae_runs("mnist", profile, device="cpu").values()]
    for run in runs:
        train_run(_short(run, steps), progress=False)
    rng = np.random.default_rng(0)
    (cache / "fid_stats").mkdir(exist_ok=True)
    for dataset in ("mnist", "fashion_mnist"):
        for split in ("train", "test"):
            features = rng.standard_normal((FID_N, FEATURES), dtype=np.float32)
            stats = {"mu": features.mean(0).astype(np.float64), "sigma": np.cov(features, rowvar=False),
                     "features": features, "backend": np.array("openvino")}
            atomic_write(cache / "fid_stats" / f"{dataset}-{split}-n{FID_N}-0123456789ab.npz",
                         write=lambda handle, stats=stats: dump_npz(stats, handle))
        atomic_write(cache / "fid_stats" / f"{dataset}-floor-n{FID_N}-0123456789ab-kid.json",
                     json.dumps({"fid": 9.4, "kid": 0.001}).encode())
    (cache / "classifiers").mkdir(exist_ok=True)
    for dataset in ("mnist", "fashion_mnist"):
        config = ClassifierConfig(dataset=dataset)
        state = {"config": {}, "image_shape": [1, 28, 28], "test_accuracy": 0.99,
                 "state_dict": Classifier(config, (1, 28, 28)).state_dict()}
        atomic_write(cache / "classifiers" / f"{dataset}-{config.hash()}.pt", obj=state)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=11, help="training steps per run (the cache's shape, not time)")
    parser.add_argument("--keep", type=Path, help="build the caches and archive under this folder and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = args.keep or Path(temp)
        source, target, archive = root / "source", root / "target", root / "gm-lab-models.tar"
        source.mkdir(parents=True)
        target.mkdir()
        os.environ["GM_CACHE_DIR"] = str(source)
        start = time.perf_counter()
        build_cache(source, args.steps)
        print(f"built the cache in {time.perf_counter() - start:.1f} s: {_size(source) / 2**20:.1f} MiB")

        from gm_build.share import pack, unpack

        start = time.perf_counter()
        packed = pack(archive, profile="default")
        print(f"make pack:   {time.perf_counter() - start:5.1f} s  {len(packed.runs)} runs, {packed.n_files} files, "
              f"{packed.size / 2**20:.1f} MiB")
        os.environ["GM_CACHE_DIR"] = str(target)
        start = time.perf_counter()
        report = unpack(str(archive), progress=False)
        print(f"make unpack: {time.perf_counter() - start:5.1f} s  {len(report.cached)} runs cached, "
              f"{report.results_installed} FID statistics / classifier files, {_size(target) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
