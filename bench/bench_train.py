"""Training throughput of every model family through the real engine: fp32 vs bf16, NCHW vs channels_last.

Each family (default config, real MNIST batches) is stepped with the engine's own run state
(``gm_lib.train._Run``: device, autocast, memory format, data stream, optimizers) in four
variants side by side in the same process: fp32 / bf16 autocast x contiguous / channels_last.
The variants take one step each in rotation, so background load hits them alike; after
``--warmup`` rounds, throughput is images drawn per second (GANs and latent critics draw
``n_critic`` batches per step) from each variant's fastest step. Ratios are against fp32 +
contiguous. Checkpointing and logging are left out: they cost the same in every variant.

Whether bf16 keeps each family's final quality is ``bench/bench_precision.py``'s question; the
header line says whether this CPU has AMX, the hardware bf16 autocast needs to be faster here.

Usage (under a minute on 2 CPU cores with the defaults):
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_train.py [--steps 6] [--families 03_wgan/dcgan]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gm_lib.data import load_dataset
from gm_lib.experiments.registry import all_models
from gm_lib.precision import autocast, bf16_is_faster
from gm_lib.train import _Run, set_seed
from gm_lib.train_config import TrainConfig

__all__ = ["FAMILIES", "VARIANTS", "measure_throughput", "main"]

# Every registered model ("<notebook>/<key>"), on MNIST's 28x28 shape.
FAMILIES = {name: entry.config for name, entry in all_models().items()}
VARIANTS = [("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)]  # (precision, channels_last)


def _prepare(model_config, data, precision: str, channels_last: bool, batch_size: int, run_dir: Path):
    """The engine's own run state (device, autocast, optimizers, data stream) for one variant."""
    set_seed(0)
    config = TrainConfig(steps=1, batch_size=batch_size, device="cpu", precision=precision,
                         channels_last=channels_last)
    run = _Run(model_config.build(), data, config, run_dir, None, False)
    run.drawn = 0

    def next_batch():
        run.drawn += 1  # GANs and latent critics draw n_critic batches per step
        return run.next_batch()

    run.count_next_batch = next_batch
    return run


def _time_step(run) -> float:
    start = time.perf_counter()
    with autocast(run.device, run.config.precision):
        losses = run.model.training_step(run.count_next_batch, run.optimizers)
    float(losses["loss"])  # the engine reads the losses too (a device sync on GPU)
    return time.perf_counter() - start


def rotated_step_times(runs: list, steps: int, warmup: int) -> list[list[float]]:
    """Seconds of each of ``steps`` training steps per run, the runs taking one step each in rotation after
    ``warmup`` untimed rounds: rotating puts every run under the same background load."""
    times = [[] for _ in runs]
    for round_index in range(warmup + steps):
        for run, run_times in zip(runs, times, strict=True):
            elapsed = _time_step(run)
            if round_index >= warmup:
                run_times.append(elapsed)
    return times


def measure_throughput(model_config, data, steps: int, warmup: int, batch_size: int) -> list[float]:
    """Images per second of each of :data:`VARIANTS`, stepped in rotation, from each one's fastest step.

    The minimum (as ``timeit`` does) is the least disturbed measurement.
    """
    with tempfile.TemporaryDirectory() as run_dir:
        runs = [_prepare(model_config, data, p, cl, batch_size, Path(run_dir)) for p, cl in VARIANTS]
        times = rotated_step_times(runs, steps, warmup)
    return [run.drawn / (warmup + steps) * batch_size / min(t) for run, t in zip(runs, times, strict=True)]


def _throughput_table(families: list[str], data, args) -> None:
    print(f"{'family':<30} " + " ".join(f"{p + ('/CL' if cl else '/NCHW'):>11}" for p, cl in VARIANTS)
          + "   bf16/fp32  CL/NCHW  (images/s; ratios vs fp32/NCHW)")
    for name in families:
        rates = measure_throughput(FAMILIES[name], data, args.steps, args.warmup, args.batch_size)
        print(f"{name:<30} " + " ".join(f"{r:>11.0f}" for r in rates)
              + f"   {rates[1] / rates[0]:>9.2f}  {rates[2] / rates[0]:>7.2f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (>= 1)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma list of {list(FAMILIES)}")
    parser.add_argument("--n-train", type=int, default=10_000, help="MNIST training images to hold in memory")
    args = parser.parse_args(argv)
    families = args.families.split(",")
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown or args.warmup < 1:
        parser.error(f"unknown families {unknown} (choose from {list(FAMILIES)}) or --warmup < 1")
    data = load_dataset("mnist", "train", n=args.n_train)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, device cpu, "
          f"AMX {'yes' if bf16_is_faster(torch.device('cpu')) else 'no'} (bf16 is faster only with AMX)")
    print(f"{args.warmup} warm-up rounds + {args.steps} timed rounds, one step per variant per round")
    start = time.perf_counter()
    _throughput_table(families, data, args)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
