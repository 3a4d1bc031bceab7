"""Does bf16 autocast keep final quality? The report's runs trained in fp32 and in bf16 at equal steps.

Every model family the report trains (notebook 03's three GANs on Fashion-MNIST, notebook 04's
five autoencoders on MNIST, notebook 01's VAE on binarized MNIST) is trained at the profile's
budget, without its wall-time cap so both precisions take exactly the same steps, for
``--seeds`` seeds x {fp32, bf16}. Each trained model is then scored in fp32:

* ``fd``: Fréchet distance of ``--n`` samples to ``--n`` test images in the domain classifier's
  features (:func:`gm_lib.metrics.classifier_frechet_distance`): FID's role at a fraction of
  Inception's cost, so N can be 10,000 and sampling noise stays far below the seed-to-seed spread;
* the held-out loss the family is trained on, over the run's test images: the VAE's −ELBO (nats
  per image); the reconstruction term for WAEs (scaled squared L2) and the latent-critic VAE (nats).

Verdict per family: bf16 *keeps* quality when for every metric (lower is better)
``mean(bf16) - mean(fp32) <= max(2 s, 2 % of mean(fp32))``, with ``s`` the seed-to-seed standard
deviation pooled over both precisions (with two seeds each, also the standard error of the
difference of the means). Speed is a separate question (``bench/bench_train.py``): the engine's
``precision="auto"`` uses bf16 only for families that keep quality *and* on hardware where bf16 is
faster (see :func:`gm_lib.precision.resolve_precision`).

Runs go through the load-or-train cache (``checkpoints/runs``), so an interrupted bench resumes.

Usage (default profile, 2 seeds: about 80 minutes on 2 CPU cores; smoke: a few minutes):
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_precision.py [--profile smoke] [--families ae_mnist_vae]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
import warnings

import numpy as np
import torch
from scipy.linalg import LinAlgWarning

from gm_lib.data import DataSpec
from gm_lib.experiments import Run, autoencoder_runs, gan_runs, train_run, vae_bmnist_run
from gm_lib.metrics import classifier_frechet_distance, get_classifier
from gm_lib.models import VAEConfig
from gm_lib.profiles import PROFILES, Profile
from gm_lib.train import evaluate

__all__ = ["report_runs", "score", "verdict", "main"]

PRECISIONS = ("fp32", "bf16")
RELATIVE_FLOOR = 0.02  # differences below 2 % of the fp32 value count as equal however tight the seeds agree


def report_runs(profile: Profile) -> dict[str, Run]:
    """The report's trained runs by their run name (every chapter registry's models: 01, 03 on Fashion-MNIST,
    04 on MNIST), at ``profile``'s steps with no wall-time cap."""
    profile = dataclasses.replace(profile, guard_factor=None)
    runs = [vae_bmnist_run(profile), *gan_runs("fashion_mnist", profile).values(),
            *autoencoder_runs("mnist", profile).values()]
    return {run.name: run for run in runs}


def _variant(run: Run, precision: str, seed: int) -> Run:
    return dataclasses.replace(run, train=dataclasses.replace(run.train, precision=precision, seed=seed))


# Each test split and classifier is read once, not once per scored model.
_load = functools.cache(DataSpec.load)
_classifier = functools.cache(get_classifier)


def score(run: Run, model, n: int) -> dict[str, float]:
    """Quality of one trained model, computed in fp32 (lower is better for every entry)."""
    scores = {}
    if run.data.name != "binarized_mnist":  # Bernoulli means against {0, 1} images: no meaningful FD
        real = _load(DataSpec(run.data.name, "test", n=n)).images
        fake = model.sample(n, generator=torch.Generator(model.device).manual_seed(0)).cpu()
        scores["fd"] = classifier_frechet_distance(_classifier(run.data.name), real, fake)
    if run.val is not None:
        term = "loss" if type(run.model) is VAEConfig else "reconstruction"
        scores[term] = evaluate(model, _load(run.val), batch_size=500, precision="fp32")[term]
    return scores


def verdict(fp32: list[float], bf16: list[float]) -> tuple[float, float, bool]:
    """``(difference of means, tolerance, keeps)`` for one metric over seeds (lower is better)."""
    difference = float(np.mean(bf16) - np.mean(fp32))
    pooled_sd = float(np.sqrt((np.var(fp32, ddof=1) + np.var(bf16, ddof=1)) / 2)) if len(fp32) > 1 else 0.0
    tolerance = max(2 * pooled_sd, RELATIVE_FLOOR * abs(float(np.mean(fp32))))
    return difference, tolerance, difference <= tolerance


def _bench_family(family: str, run: Run, seeds: list[int], n: int) -> bool:
    results = {p: [] for p in PRECISIONS}
    for seed in seeds:
        for precision in PRECISIONS:
            model, history = train_run(_variant(run, precision, seed), progress=False)
            scores = score(run, model, n)
            results[precision].append(scores)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in scores.items())
            print(f"  {family:<18} seed {seed} {precision}: {shown}   (trained in {history.wall_time:.0f} s)",
                  flush=True)
    keeps = True
    for metric in results["fp32"][0]:
        fp32, bf16 = ([s[metric] for s in results[p]] for p in PRECISIONS)
        difference, tolerance, ok = verdict(fp32, bf16)
        keeps &= ok
        print(f"{family:<18} {metric:<15} fp32 {np.mean(fp32):>9.4f}  bf16 {np.mean(bf16):>9.4f}  "
              f"bf16-fp32 {difference:>+8.4f}  tolerance {tolerance:.4f}  {'keeps' if ok else 'WORSE'}", flush=True)
    return keeps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES))
    parser.add_argument("--families", default=None, help="comma list (default: every family the report trains)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per precision (>= 2 for a seed spread)")
    parser.add_argument("--n", type=int, default=10_000, help="samples and test images for the FD")
    args = parser.parse_args(argv)
    # Dead ReLU units of the classifier make feature covariances singular; pytorch-fid's sqrtm then adds
    # its eps offset (as it should) after warning once per FD, which would drown the table.
    warnings.filterwarnings("ignore", category=LinAlgWarning)
    runs = report_runs(PROFILES[args.profile])
    families = args.families.split(",") if args.families else list(runs)
    unknown = sorted(set(families) - set(runs))
    if unknown or args.seeds < 1:
        parser.error(f"unknown families {unknown} (choose from {list(runs)}) or --seeds < 1")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, profile {args.profile}, "
          f"seeds {args.seeds}, FD on {args.n} samples")
    start, keeps = time.perf_counter(), {}
    for family in families:
        keeps[family] = _bench_family(family, runs[family], list(range(args.seeds)), args.n)
    print("\nbf16 keeps quality: " + ", ".join(f for f, k in keeps.items() if k))
    print("bf16 worse:         " + ", ".join(f for f, k in keeps.items() if not k))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
