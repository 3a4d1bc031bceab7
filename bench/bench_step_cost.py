"""Relative step cost of every registered model: the numbers behind notebook 03's equal-CPU budgets.

For each chapter of :data:`gm_lib.experiments.registry.CHAPTER_MODELS`, every model takes one training
step in rotation (so background load hits them alike) through the engine's own run state, on one
thread, at the chapter's batch size; after ``--warmup`` rounds each model's time per step is its
fastest step (as ``timeit``). Costs are relative to the chapter's first model and printed beside the
costs registered in the chapter's ``ModelEntry.step_cost``, with their ratio: a ratio far from 1
means the registry (and hence the steps each model gets) should be updated.

Usage (~2 min on 2 CPU cores with the defaults; ``make bench-step-cost``):
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_step_cost.py [--steps 8] [--chapters 03_wgan]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from bench_train import _prepare, rotated_step_times  # the engine's run state, shared with the throughput bench

from gm_lib.data import load_dataset
from gm_lib.experiments.registry import CHAPTER_MODELS
from gm_lib.profiles import get_profile

# The chapter's batch size in the default profile (notebook 03 trains at gan_batch_size).
_BATCH = {"03_wgan": "gan_batch_size"}


def measure_step_costs(entries, data, batch_size: int, steps: int, warmup: int) -> list[float]:
    """Seconds per training step of each entry's model (its fastest of ``steps`` rotated steps)."""
    with tempfile.TemporaryDirectory() as run_dir:
        runs = [_prepare(replace(e.config, image_shape=(1, 28, 28)), data, "fp32", False, batch_size, Path(run_dir))
                for e in entries]
        return [min(t) for t in rotated_step_times(runs, steps, warmup)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed rounds (one step per model each)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument("--chapters", default=",".join(c for c, e in CHAPTER_MODELS.items() if len(e) > 1))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    profile = get_profile("default")
    data = load_dataset("mnist", "train", n=5_000)
    print(f"torch {torch.__version__}, 1 thread, {platform.processor() or platform.machine()}, "
          f"{args.warmup} warm-up + {args.steps} timed rounds")
    start = time.perf_counter()
    for chapter in args.chapters.split(","):
        entries = CHAPTER_MODELS[chapter]
        batch = getattr(profile, _BATCH.get(chapter, "batch_size"))
        seconds = measure_step_costs(entries, data, batch, args.steps, args.warmup)
        print(f"\n{chapter} (batch {batch}); cost relative to {entries[0].label}")
        print(f"{'model':<20} {'ms/step':>8} {'measured':>9} {'registered':>11} {'ratio':>6}")
        for entry, s in zip(entries, seconds, strict=True):
            measured = s / seconds[0]
            print(f"{entry.label:<20} {1e3 * s:>8.1f} {measured:>9.2f} {entry.step_cost:>11.2f} "
                  f"{measured / entry.step_cost:>6.2f}", flush=True)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
