"""Notebook 01's model: a conv VAE with a Bernoulli decoder on statically binarized MNIST."""

from __future__ import annotations

from dataclasses import replace

from gm_lib.data import DataSpec
from gm_lib.experiments.base import ModelEntry, Run, make_train_config
from gm_lib.models.vae import VAEConfig
from gm_lib.profiles import Profile, get_profile

__all__ = ["NOTEBOOK", "REFERENCE_STEP_SECONDS", "VAE_MNIST", "vae_bmnist_run", "notebook_runs"]

NOTEBOOK = "01_vae_binarized_mnist"  # the notebook whose runs notebook_runs gives (make report PLAN=1 reads it)

# bf16 (make bench-precision, default profile, 2 seeds, fp32 vs bf16 (tolerance)): the Bernoulli VAE keeps its
# quality, test −ELBO 100.96 vs 100.91 nats (2.02).
# Seconds per step on the reference machine (2 idle Sapphire Rapids cores, batch 100): 20,000 steps took 17.6 min
# in the cold default report of 2026-11-23. The time guard is a multiple of it (Profile.guard_factor).
REFERENCE_STEP_SECONDS = 0.053
VAE_MNIST = ModelEntry("VAE", "vae", VAEConfig(image_shape=(1, 28, 28), latent_dim=32, likelihood="bernoulli"),
                       bf16_keeps_quality=True)


def vae_bmnist_run(profile: Profile, seed: int = 0, device: str = "auto", latent_dim: int = 32) -> Run:
    """Notebook 01: conv VAE, Bernoulli decoder, statically binarized MNIST (Larochelle's split).

    Cosine learning-rate decay: measured here (width 32, batch 100, seed 0; NLL with K = 200 on the first 500
    test images), 4,000 constant-lr steps gave 91.34 nats and 8,000 cosine steps 90.33 (−ELBO 97.60 → 96.03).
    Steps vs width (bench/bench_report_runs.py, K = 1,000, first 500 test images): 8,000 steps 89.74, width 48
    89.39 (1.8× the step cost), 16,000 steps 88.13; 20,000 steps (the default profile) 88.49 on the first 1,000
    (the notebook's images; 8,000 steps gave 90.69 there), under the 89 nats the report aims for.
    """
    return Run(
        name="vae_bmnist",
        model=replace(VAE_MNIST.config, latent_dim=latent_dim),
        data=DataSpec("binarized_mnist", "train", n=profile.train_subset, binarize="static"),
        train=make_train_config(profile, profile.vae_steps, seed, device, lr_schedule="cosine",
                                step_seconds=REFERENCE_STEP_SECONDS * VAE_MNIST.step_cost),
        val=DataSpec("binarized_mnist", "valid", n=profile.eval_subset, binarize="static"),
        bf16_keeps_quality=VAE_MNIST.bf16_keeps_quality,
    )


def notebook_runs(profile: str, seed: int = 0, device: str = "auto", precision: str = "auto", latent_dim: int = 32,
                  steps: int | None = None, **_) -> tuple[Profile, dict[str, Run]]:
    """Notebook 01's profile and runs from its papermill parameters (the notebook and ``make report PLAN=1`` both
    call this, so the plan names exactly the models the notebook trains). ``steps`` overrides ``vae_steps``."""
    P = get_profile(profile, vae_steps=steps, precision=precision)
    return P, {"VAE": vae_bmnist_run(P, seed=seed, device=device, latent_dim=latent_dim)}
