"""GAN recipes at equal CPU time: which width, weight average and learning rates draw garments soonest?

Every candidate trains on Fashion-MNIST for the same CPU time on this machine. The cost of one
generator step is measured first, all candidates stepping in rotation in one process (so background
load hits them alike, and only the ratios are used); the anchor candidate trains ``--anchor-steps``
steps and every other one ``anchor_steps × cost(anchor) / cost(candidate)``, through the real engine
(steps, not minutes, so the runs themselves are reproducible and a loaded machine only runs slower).
Every family keeps its paper's algorithm (DCGAN: non-saturating BCE; WGAN: clipping, RMSprop 5e-5, n_critic 5; WGAN-GP:
two-sided penalty λ = 10, no BatchNorm, n_critic 5); the one-critic-step TTUR variant of WGAN-GP
(Heusel et al. 2017) is labelled as such.

Each run carries an exponential moving average of its generator (Yazıcı et al. 2019), which does not
change training, so one run scores both the trained generator ("live") and the average ("EMA").
Over training: the domain classifier's Fréchet distance (1,000 samples vs 1,000 test images) at six
snapshots. At the end: Inception FID/KID (``--fid-n`` samples vs the test split) for the best
candidate of each family and its baseline, live and EMA. Printed: FID per CPU-minute side by side.

A re-run reuses the cached runs (and their step counts); `--recalibrate` times the steps afresh.

Usage (about 45 min with the defaults on 2 idle cores; `--anchor-steps 100 --fid-n 256` for a quick look):
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_gan_recipes.py [--anchor-steps 1000] [--fid-n 2048]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from gm_lib.data import load_dataset
from gm_lib.metrics import classifier_frechet_distance, fid, get_classifier
from gm_lib.models import GANConfig
from gm_lib.paths import cache_dir
from gm_lib.runs import load_model, load_snapshots
from gm_lib.saved_configs import allow_config_class
from gm_lib.train import _Run, set_seed, train
from gm_lib.train_config import TrainConfig

allow_config_class(GANConfig)  # its runs are trained here without a registry entry; their checkpoints name it

BATCH = 64
EMA = 0.999


@dataclass(frozen=True)
class Candidate:
    family: str
    label: str
    config: GANConfig
    baseline: bool = False


def _gan(loss: str, **kw) -> GANConfig:
    return GANConfig(loss=loss, ema_decay=EMA, **kw)


INFOGAN = dict(width=64, hidden=1024)  # generator FC 1024 → 128·7·7 → 64 → 1; critic 64 → 128 → FC 1024 → 1

CANDIDATES = [
    Candidate("DCGAN", "width 32 (before)", _gan("dcgan"), baseline=True),
    Candidate("DCGAN", "InfoGAN nets", _gan("dcgan", **INFOGAN)),
    Candidate("WGAN (clipping)", "InfoGAN nets", _gan("wgan", **INFOGAN)),
    Candidate("WGAN-GP", "InfoGAN nets", _gan("wgan_gp", **INFOGAN)),
    Candidate("WGAN-GP", "InfoGAN nets, TTUR: n_critic 1, lr 3e-4 / 1e-4",
              _gan("wgan_gp", n_critic=1, critic_lr=3e-4, **INFOGAN)),
]
ANCHOR = "DCGAN: InfoGAN nets"


def step_seconds(candidates: list[Candidate], rounds: int = 6, steps: int = 2) -> dict[str, float]:
    """Seconds per generator step of each candidate: fastest of ``rounds`` timed in rotation (first round warms up)."""
    times: dict[str, list[float]] = {key(c): [] for c in candidates}
    data = load_dataset("fashion_mnist", "train", n=2_000)
    scratch, config = Path(tempfile.mkdtemp()), TrainConfig(steps=1, batch_size=BATCH, device="cpu", precision="fp32")
    runs = {key(c): _Run(c.config.build(), data, config, scratch, None, False) for c in candidates}
    for r in range(rounds):
        for c in candidates:
            run, start = runs[key(c)], time.perf_counter()
            for _ in range(steps):
                run.model.training_step(run.next_batch, run.optimizers)
            if r:
                times[key(c)].append((time.perf_counter() - start) / steps)
    return {k: min(v) for k, v in times.items()}


def key(c: Candidate) -> str:
    return f"{c.family}: {c.label}"


def train_config(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=BATCH, device="cpu", precision="fp32", max_minutes=None,
                       checkpoint_every=max(1, steps // 2), snapshot_every=max(1, steps // 6))


@torch.no_grad()
def samples(model, n: int, ema: bool, seed: int = 1) -> torch.Tensor:
    """``n`` samples in [0, 1] from the trained generator (``ema=False``) or its weight average."""
    net = model.generator_ema if ema else model.generator
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return (torch.tanh(net(z)) + 1) / 2


def _slug(c: Candidate) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key(c).lower())


def run_dir(c: Candidate, steps: int) -> Path:
    """Where the candidate's run lives (resumed if present; delete the folder to retrain)."""
    return cache_dir("bench_gan_recipes") / f"{_slug(c)}-{steps}"


def earlier_steps(c: Candidate) -> int | None:
    """Steps of an earlier run of this candidate in the cache, so a re-run scores it instead of retraining."""
    found = sorted(cache_dir("bench_gan_recipes").glob(f"{_slug(c)}-*"))
    return int(found[-1].name.rsplit("-", 1)[1]) if found else None


def curve(c: Candidate, steps: int, data, classifier, real) -> pd.DataFrame:
    """Train the candidate (seed 0), then the classifier FD of live and EMA samples at every snapshot."""
    set_seed(0)
    train(c.config.build(), data, train_config(steps), run_dir(c, steps), progress=False)
    rows = []
    for step, model in load_snapshots(run_dir(c, steps), device="cpu"):
        rows.append({"candidate": key(c), "step": step, "share of budget": step / steps,
                     "FD live": classifier_frechet_distance(classifier, real, samples(model, 1000, False)),
                     "FD EMA": classifier_frechet_distance(classifier, real, samples(model, 1000, True))})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-steps", type=int, default=1000, help=f"steps of {ANCHOR!r}; others at equal CPU")
    parser.add_argument("--fid-n", type=int, default=2048, help="samples for the final FID (>= 2048)")
    parser.add_argument("--only", default="", help="comma-separated families to run (default: all)")
    parser.add_argument("--fid-baseline", action="store_true", help="also score each family's baseline by FID")
    parser.add_argument("--recalibrate", action="store_true", help="re-time steps even where earlier runs exist")
    args = parser.parse_args()
    candidates = [c for c in CANDIDATES if not args.only or c.family in args.only.split(",")]
    earlier = {key(c): earlier_steps(c) for c in candidates}
    if args.recalibrate or None in earlier.values():
        cost = step_seconds(candidates)
    else:  # the earlier runs' steps were set from a calibration: read the ratios back from them
        cost = {k: 1.0 / steps for k, steps in earlier.items()}
    budget = args.anchor_steps * cost[ANCHOR]  # seconds (in this calibration's time) each candidate gets
    print("calibration, ms per generator step (ratios matter):",
          ", ".join(f"{k} {1000 * v:.0f}" for k, v in cost.items()), flush=True)
    classifier = get_classifier("fashion_mnist")
    real = load_dataset("fashion_mnist", "test").tensors()[0][:1000]
    data = load_dataset("fashion_mnist", "train")
    curves = []
    for c in candidates:
        steps = max(6, round(budget / cost[key(c)]))
        start = time.perf_counter()
        curves.append(curve(c, steps, data, classifier, real))
        print(f"{key(c)}: {cost[key(c)] * 1000:.0f} ms/step, {steps} steps, trained+scored in "
              f"{(time.perf_counter() - start) / 60:.1f} min; final FD live {curves[-1]['FD live'].iloc[-1]:.1f} "
              f"EMA {curves[-1]['FD EMA'].iloc[-1]:.1f}", flush=True)
    table = pd.concat(curves)
    pd.set_option("display.width", 200)
    print("\nClassifier-feature FD over training (1,000 samples vs 1,000 test images; lower is better):")
    print(table.round(1).to_string(index=False))
    print(f"\nInception FID/KID, {args.fid_n} samples vs fashion_mnist:test, at equal CPU time:")
    finals = table.groupby("candidate").last()
    rows = []
    for family in dict.fromkeys(c.family for c in candidates):
        members = [c for c in candidates if c.family == family]
        best = min(members, key=lambda c: finals.loc[key(c), ["FD live", "FD EMA"]].min())
        for c in dict.fromkeys([m for m in members if m.baseline and args.fid_baseline] + [best]):
            steps = max(6, round(budget / cost[key(c)]))
            model, _ = load_model(run_dir(c, steps), device="cpu")
            for ema in (False, True):
                score = fid(samples(model, args.fid_n, ema), reference="fashion_mnist:test", n=args.fid_n,
                            preview=args.fid_n < 2048)
                rows.append({"candidate": key(c), "generator": "EMA" if ema else "live", "steps": steps,
                             "FID": score.fid, "KID": score.kid_mean})
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
