"""Notebook 03's models: GAN loss families and a VAE on the generator's network, at about equal CPU time.

:data:`GAN_MODELS` is the chapter's registry, the one list of its models (and the one wording of it, its labels):
the notebook, its tests, the benches and the generated tables and model lists (``make docs``) loop over it.
Adding a GAN family is its loss module (:mod:`gm_lib.models.gan_losses`), one entry here, its test, the
notebook's prose and ``make docs`` (README, *Change one thing*).
"""

from __future__ import annotations

from dataclasses import replace

from gm_lib.data import DataSpec
from gm_lib.experiments.base import IMAGE_SHAPES, ModelEntry, Run, budget_steps, make_train_config
from gm_lib.models.gan import GANConfig
from gm_lib.models.vae import VAEConfig
from gm_lib.profiles import Profile, get_profile

__all__ = ["NOTEBOOK", "REFERENCE_STEP_SECONDS", "GAN_MODELS", "gan_runs", "notebook_runs"]

NOTEBOOK = "03_wgan"  # the notebook whose runs notebook_runs gives (make report PLAN=1 reads it)

# Each family's paper algorithm on the width-32 nets; two learning rates chosen by bench/bench_report_runs.py
# (`make bench-recipes`: the report's own runs, seed 0; classifier-feature FD of 1,000 samples vs 1,000 test
# images, real train vs test 14.1; Inception FID of 2,048 samples vs test):
# - DCGAN at equal steps (5,600): Adam 2e-4 (the paper's) FD 297.9, FID 70.2; 4e-4 for both players FD 216.3,
#   FID 56.7 (56.4 in the cold report): recognisable garments in every column. A cosine decay of 2e-4 (FD 458.6)
#   and width 48 at equal CPU (3,800 steps, FD 488.5) were worse, and batch 32 at equal CPU (9,000 steps) equal
#   (FD 296.9).
# - WGAN-GP keeps the paper's algorithm (n_critic 5, λ = 10, no BatchNorm) at equal CPU (1,100 steps); Adam with
#   both players at lr 1e-4 (the paper's) FD 766.9, blobs; 2e-4 618.7; 3e-4 490.4; 1e-3 280.8 (β1 = 0 as Alg. 1
#   lists: 279.2); 2e-3 242.4, garments in most samples; 4e-3 251.9. The one-critic-step TTUR variant (Heusel et
#   al. 2017: critic 3e-4, generator 1e-4) at equal CPU (4,900 steps) reached FD 453.2 (its weight average 502.7,
#   FID 109.6): no longer worth a row of its own.
# - WGAN (clipping) keeps its paper's RMSprop 5e-5, c = 0.01 and n_critic 5; nothing tried sharpened its
#   speckled shapes at 2,150 steps: FD 834.8; a weight average of the generator (0.999) 838.9; BatchNorm in the
#   critic, as the paper's reference code (critic_norm="batch") 900.2.
# Earlier (bench/bench_gan_recipes.py, equal CPU): the InfoGAN-size nets (width 64, FC 1024) collapsed (FD 3,239).
# Step costs (make bench-step-cost; batch 64, one thread, in rotation, relative to DCGAN; Sapphire Rapids):
# WGAN 2.61 and WGAN-GP 5.18 (n_critic 5), the VAE 0.51; re-measured on an AMD EPYC Zen 5 (AVX-512, 2026-11-30):
# 2.75, 4.86, 0.50, within 6 % (the registered costs stay: they set the steps of the published numbers).
# bf16 (make bench-precision, Fashion-MNIST, 2 seeds,
# classifier FD of 10,000 samples, fp32 vs bf16 (tolerance)): DCGAN 386.2 vs 394.3 (10.1) and WGAN 515.5 vs 511.8
# (27.9) keep the quality; WGAN-GP loses it, 406.8 vs 429.2 (8.1); the Gaussian VAE loses it (see 04's registry).
# Seconds per DCGAN step on the reference machine (2 idle Sapphire Rapids cores, batch 64): 5,600 steps took 5.4 min
# in the cold default report of 2026-11-23; a model's is this times its step cost (the time guard's base).
REFERENCE_STEP_SECONDS = 0.058
GAN_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("DCGAN", "dcgan", GANConfig(loss="dcgan", lr=4e-4), step_cost=1.0, bf16_keeps_quality=True),
    ModelEntry("WGAN (clipping)", "wgan", GANConfig(loss="wgan"), step_cost=2.61, bf16_keeps_quality=True),
    ModelEntry("WGAN-GP", "wgan_gp", GANConfig(loss="wgan_gp", lr=2e-3), step_cost=5.18),
    # The VAE's decoder is the generator's network (same latent_dim, width, hidden as GANConfig's defaults).
    ModelEntry("VAE", "vae", VAEConfig(latent_dim=64, width=32, hidden=0, likelihood="gaussian"), step_cost=0.51),
)


def gan_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 03's runs by label: every :data:`GAN_MODELS` entry at about equal CPU time.

    Each trains ``budget_steps(profile.gan_budget, entry.step_cost, profile.step_quantum)`` steps (generator
    steps for the GANs) at ``profile.gan_batch_size``; GANs keep about ten weight snapshots for the curves
    over training.
    """
    shape = IMAGE_SHAPES[dataset]
    data = DataSpec(dataset, "train", n=profile.train_subset)
    runs = {}
    for entry in GAN_MODELS:
        steps = budget_steps(profile.gan_budget, entry.step_cost, profile.step_quantum)
        extra = {"batch_size": profile.gan_batch_size}
        if isinstance(entry.config, GANConfig):  # snapshots feed the over-training curves: about ten of them
            extra["snapshot_every"] = max(profile.snapshot_every, steps // 10)
        train = make_train_config(profile, steps, seed, device, step_seconds=REFERENCE_STEP_SECONDS * entry.step_cost,
                                  **extra)
        runs[entry.label] = Run(f"gan_{dataset}_{entry.key}", replace(entry.config, image_shape=shape), data, train,
                                bf16_keeps_quality=entry.bf16_keeps_quality)
    return runs


def notebook_runs(profile: str, seed: int = 0, device: str = "auto", precision: str = "auto",
                  dataset: str = "fashion_mnist", steps: int | None = None, **_) -> tuple[Profile, dict[str, Run]]:
    """Notebook 03's profile and runs from its papermill parameters (the notebook and ``make report PLAN=1`` both
    call this). ``steps`` overrides the CPU budget ``gan_budget`` (in DCGAN steps; the others train fewer)."""
    P = get_profile(profile, gan_budget=steps, precision=precision)
    return P, gan_runs(dataset, P, seed=seed, device=device)
