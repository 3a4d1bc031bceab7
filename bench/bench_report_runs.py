"""Variants of the report's own runs, side by side: which settings buy notebook 01 and 03 the most per CPU-minute?

Each variant is one of the report's runs (``gm_lib.experiments``) with a few fields replaced, trained through
the same load-or-train cache (so a variant that becomes the default is already trained) and scored on the
same images as the notebook:

- ``vae``: notebook 01's VAE on statically binarized MNIST; importance-sampled NLL (K = 1,000, the first
  ``--nll-n`` test images, seed 0) and −ELBO on the same images, in nats.
- ``gan``: notebook 03's GANs on Fashion-MNIST; the classifier-feature Fréchet distance (1,000 samples vs the
  first 1,000 test images; real train vs test: 14.1) and, with ``--fid``, Inception FID of 2,048 samples vs test.

Printed per variant: steps, training minutes (wall clock of this run: compare minutes only within one
invocation, on a quiet machine; a cached run shows its loading time) and the scores. Variants are
``field=value`` lists: ``steps`` sets the profile's budget, ``batch_size`` and ``lr_schedule`` go to the
training config, other fields to the model config.

Usage (`make bench-recipes` runs the comparisons behind today's defaults; one thread each, so two
invocations can run side by side on 2 cores):
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_report_runs.py vae "steps=8000" "steps=8000 width=48" ""
    GM_DATA_DIR=../shared/data .venv/bin/python bench/bench_report_runs.py gan --family DCGAN "lr=2e-4" "" --fid

Measured here on 2026-11-23 (seed 0; minutes are 1-thread wall clock with the other core busy), against the
defaults of that day (8,000 VAE steps; DCGAN at the paper's 2e-4), which the variants below are relative to:

  vae (NLL on the first 500 test images; the default's 8,000 steps: NLL 89.74)
    width=48                      8,000 steps 14.7 min  NLL 89.39  -ELBO 95.92
    steps=16000                  16,000 steps 13.3 min  NLL 88.13  -ELBO 94.38
    steps=20000 (--nll-n 1000)   20,000 steps 23.9 min  NLL 88.49  -ELBO 94.54  (8,000 steps: 90.69)
  gan, DCGAN (the paper's lr 2e-4, 5,600 steps: FD 297.9, FID 70.2)
    lr_schedule=cosine ema_decay=0.999      5,600 steps  7.2 min  FD 458.6 (average 459.4)
    width=48 lr_schedule=cosine (equal CPU) 3,800 steps  7.9 min  FD 488.5
    batch_size=32 (equal CPU)               9,000 steps  5.8 min  FD 296.9
    lr=4e-4 critic_lr=4e-4                  5,600 steps  6.8 min  FD 216.3  FID 56.7
  gan, WGAN-GP (the paper's n_critic 5 and lr 1e-4, 1,100 steps: FD 766.9)
    n_critic=1 critic_lr=3e-4 ema_decay=0.999 (TTUR, equal CPU)  4,900 steps  8.3 min  FD 453.2
        (its weight average: FD 502.7, FID 109.6)
    lr=2e-4 critic_lr=2e-4        1,100 steps  8.5 min  FD 618.7
    lr=3e-4 critic_lr=3e-4        1,100 steps  8.6 min  FD 490.4
    lr=1e-3 critic_lr=1e-3        1,100 steps  7.7 min  FD 280.8   (betas=0,0.9, Alg. 1's β1: FD 279.2)
    lr=2e-3 critic_lr=2e-3        1,100 steps  8.3 min  FD 242.4   (the new default)
    lr=4e-3 critic_lr=4e-3        1,100 steps  8.6 min  FD 251.9
  gan, WGAN (clipping) (the paper's RMSprop 5e-5, c = 0.01, n_critic 5; 2,150 steps: FD 834.8)
    ema_decay=0.999               2,150 steps  9.9 min  FD 838.9 (the weight average)
    critic_norm=batch             2,150 steps 10.2 min  FD 900.2 (BatchNorm in the critic, as the paper's code)
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from gm_lib.data import load_dataset
from gm_lib.evaluation import run_nll
from gm_lib.experiments import GAN_MODELS, Run, gan_runs, train_run, vae_bmnist_run
from gm_lib.metrics import classifier_frechet_distance, fid, get_classifier
from gm_lib.profiles import get_profile

TRAIN_FIELDS = {"batch_size", "lr_schedule"}


def parse_variant(text: str) -> dict[str, object]:
    """``"width=48 lr=4e-4 betas=0,0.9"`` -> ``{"width": 48, "lr": 0.0004, "betas": (0.0, 0.9)}`` (ints, floats,
    comma-separated float tuples, else strings)."""
    fields = {}
    for item in text.split():
        name, _, value = item.partition("=")
        if not value:
            raise ValueError(f"variant item {item!r}: write field=value, e.g. lr=4e-4")
        if "," in value:
            fields[name] = tuple(float(v) for v in value.split(","))
            continue
        for kind in (int, float):
            try:
                fields[name] = kind(value)
                break
            except ValueError:
                continue
        else:
            fields[name] = value
    return fields


def variant_run(chapter: str, family: str, fields: dict[str, object]) -> Run:
    """The report's run with ``fields`` applied: ``steps`` through the profile (so checkpoint and evaluation
    cadences follow, as in the report), :data:`TRAIN_FIELDS` to the training config, the rest to the model."""
    fields = dict(fields)
    steps = fields.pop("steps", None)
    if chapter == "vae":
        run = vae_bmnist_run(get_profile("default", vae_steps=steps), device="cpu")
    elif steps is None:
        run = gan_runs("fashion_mnist", get_profile("default"), device="cpu")[family]
    else:  # the CPU budget that gives this family `steps` steps
        cost = next(entry.step_cost for entry in GAN_MODELS if entry.label == family)
        profile = get_profile("default", gan_budget=round(steps * cost), step_quantum=1)
        run = gan_runs("fashion_mnist", profile, device="cpu")[family]
        if run.train.steps != steps:
            raise ValueError(f"steps={steps} cannot be budgeted for {family} (step cost {cost}); try a multiple of 10")
    model = {k: v for k, v in fields.items() if k not in TRAIN_FIELDS}
    train = {k: v for k, v in fields.items() if k in TRAIN_FIELDS}
    return dataclasses.replace(run, model=dataclasses.replace(run.model, **model),
                               train=dataclasses.replace(run.train, **train))


def score_vae(run: Run, model, nll_n: int) -> str:
    x = load_dataset("binarized_mnist", "test", binarize="static").tensors()[0][:nll_n]
    nll = run_nll(run, model, x, k=1000)
    model.eval()
    with torch.no_grad():
        elbo = sum(float(model.evaluation_losses(x[i:i + 100])["loss"]) * len(x[i:i + 100])
                   for i in range(0, nll_n, 100)) / nll_n
    return f"NLL {-nll.mean:.2f} ± {nll.stderr:.2f}  -ELBO {elbo:.2f}"


def score_gan(model, with_fid: bool) -> str:
    classifier = get_classifier("fashion_mnist")
    real = load_dataset("fashion_mnist", "test").tensors()[0][:1000]
    model.eval()
    fake = model.sample(2048, generator=torch.Generator().manual_seed(1))  # notebook 03's score seed
    text = f"FD {classifier_frechet_distance(classifier, real, fake[:1000]):.1f}"
    if with_fid:
        text += f"  FID {fid(fake, 'fashion_mnist:test', 2048).fid:.1f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", choices=["vae", "gan"])
    parser.add_argument("variants", nargs="+", help='field=value lists; "" is the default run')
    parser.add_argument("--family", default="DCGAN", help="notebook 03's model label (gan only)")
    parser.add_argument("--nll-n", type=int, default=500, help="test images for the NLL (vae only)")
    parser.add_argument("--fid", action="store_true", help="also Inception FID, 2,048 samples (gan only)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for text in args.variants:
        run = variant_run(args.chapter, args.family, parse_variant(text))
        start = time.perf_counter()
        model, _ = train_run(run, progress=False)
        minutes = (time.perf_counter() - start) / 60
        score = score_vae(run, model, args.nll_n) if args.chapter == "vae" else score_gan(model, args.fid)
        print(f"{text or '(default)':40s} {run.train.steps:7,d} steps {minutes:5.1f} min  {score}", flush=True)


if __name__ == "__main__":
    main()
