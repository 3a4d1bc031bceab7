"""Notebook 04's models (and 05's): VAE vs WAE-MMD (RBF, IMQ) vs WAE-GAN vs latent-critic VAE, same nets.

:data:`AUTOENCODER_MODELS` is the chapter's registry, the one list of its models. Unlike notebook 03 the
models train equal *steps* (``Profile.ae_steps``), as the WAE paper compares them at equal epochs; their
step costs are recorded for the time estimates. On CelebA the chapter runs the WAE paper's own setting
(:data:`WAE_PAPER_CELEBA`): its three models at its λ and latent size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from gm_lib.data import DATASETS, DataSpec
from gm_lib.experiments.base import (
    IMAGE_SHAPES,
    LATENT_DIMS,
    VALIDATION_HOLDOUT,
    ModelEntry,
    Run,
    make_train_config,
    slug,
)
from gm_lib.models.latent_critic import LatentCriticVAEConfig
from gm_lib.models.vae import VAEConfig
from gm_lib.models.wae import WAEConfig
from gm_lib.profiles import Profile, get_profile

__all__ = ["NOTEBOOK", "REFERENCE_STEP_SECONDS", "AUTOENCODER_MODELS", "autoencoder_runs", "WAEPaperSetting",
           "WAE_PAPER_CELEBA", "wae_paper_runs", "wae_vs_vae_runs", "notebook_runs"]

NOTEBOOK = "04_wae_vs_vae"  # the notebook whose runs notebook_runs gives (make report PLAN=1 reads it)

# The two VAEs share the decoder likelihood (Gaussian, learned σ), so they differ only in the regulariser.
# bf16 (make bench-precision, default profile, MNIST, 4,000 steps, 2 seeds, fp32 vs bf16 (tolerance)): both MMD
# penalties keep the quality; WAE-GAN loses it (test reconstruction 0.98 vs 1.07); the Gaussian VAE loses it
# (classifier FD of 10,000 samples 763.0 vs 781.7 (16.6), worse in both seeds); the latent-critic VAE with a
# Gaussian decoder was not measured, so fp32 (with a Bernoulli decoder bf16 was better: FD 465.7 vs 285.3).
# Step costs: make bench-step-cost (batch 100, one thread, in rotation, relative to the VAE; AMD EPYC Zen 5,
# AVX-512 + AVX512-BF16, 2026-11-30): WAE-MMD RBF 1.11, IMQ 1.03, WAE-GAN 1.33, latent-critic VAE 1.90.
# Seconds per VAE step on the reference machine (2 idle Sapphire Rapids cores, batch 100): the five models' 4,000
# steps each took 16.6 min of training in the cold default report of 2026-11-23, 0.039 s per VAE step at the step
# costs below; a model's is this times its step cost (the time guard's base). CelebA 64x64: a VAE step of batch 100
# took 3-4 s on these 2 cores (CELEBA_STEP_SECONDS).
REFERENCE_STEP_SECONDS = 0.039
CELEBA_STEP_SECONDS = 3.5
AUTOENCODER_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("VAE", "vae", VAEConfig(likelihood="gaussian"), step_cost=1.0),
    ModelEntry("WAE-MMD (RBF)", "wae_mmd_rbf", WAEConfig(penalty="mmd_rbf"), step_cost=1.1, bf16_keeps_quality=True),
    ModelEntry("WAE-MMD (IMQ)", "wae_mmd_imq", WAEConfig(penalty="mmd_imq"), step_cost=1.0, bf16_keeps_quality=True),
    ModelEntry("WAE-GAN", "wae_gan", WAEConfig(penalty="gan"), step_cost=1.3),
    ModelEntry("Latent-critic VAE", "latent_critic_vae", LatentCriticVAEConfig(likelihood="gaussian"), step_cost=1.9),
)


def _entry(key: str) -> ModelEntry:
    return next(entry for entry in AUTOENCODER_MODELS if entry.key == key)


def autoencoder_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 04's runs by label: every :data:`AUTOENCODER_MODELS` entry, ``profile.ae_steps`` steps each.

    All train on the training split minus its last :data:`VALIDATION_HOLDOUT` images (the profile's
    ``eval_subset`` when smaller, so small training files keep most of their images), which are the
    validation data during training; the test split is left for the final scores.
    """
    shape, d = IMAGE_SHAPES[dataset], LATENT_DIMS[dataset]
    holdout = min(VALIDATION_HOLDOUT, profile.eval_subset or VALIDATION_HOLDOUT)
    data = DataSpec(dataset, "train", n=profile.train_subset, holdout=holdout)
    val = DataSpec(dataset, "valid", n=profile.eval_subset, holdout=holdout)
    runs = {}
    for entry in AUTOENCODER_MODELS:
        train = make_train_config(profile, profile.ae_steps, seed, device,
                                  step_seconds=REFERENCE_STEP_SECONDS * entry.step_cost)
        runs[entry.label] = Run(f"ae_{dataset}_{entry.key}", replace(entry.config, image_shape=shape, latent_dim=d),
                                data, train, val, bf16_keeps_quality=entry.bf16_keeps_quality)
    return runs


@dataclass(frozen=True)
class WAEPaperSetting:
    """One dataset's hyperparameters from Tolstikhin et al. (2018), *Wasserstein Auto-Encoders*, Sec. 4.

    Attributes:
        dataset: a :data:`gm_lib.data.DATASETS` name.
        latent_dim: d of the codes and of the N(0, I) prior.
        lambda_mmd: λ of WAE-MMD (eq. 4).
        lambda_gan: λ of WAE-GAN (eq. 4).
        mmd_penalty: the WAE-MMD kernel (the paper's choice: inverse multiquadratics).
    """

    dataset: str
    latent_dim: int
    lambda_mmd: float
    lambda_gan: float
    mmd_penalty: Literal["mmd_imq", "mmd_rbf"] = "mmd_imq"


# CelebA 64×64, the paper's Table 1 setting: d = 64, λ = 100 (WAE-MMD) and λ = 1 (WAE-GAN). The paper's
# nets are 4× wider (width 128) and train far longer; ours keep the shared width and the profile's steps.
WAE_PAPER_CELEBA = WAEPaperSetting(dataset="celeba", latent_dim=64, lambda_mmd=100.0, lambda_gan=1.0)


def wae_paper_runs(setting: WAEPaperSetting, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """The WAE paper's comparison at its own setting: VAE vs WAE-MMD vs WAE-GAN, same encoder and decoder.

    Validation on the dataset's ``valid`` split when it has one (CelebA's official partition), else ``test``.
    """
    shape, d = IMAGE_SHAPES[setting.dataset], setting.latent_dim
    kernel = setting.mmd_penalty.removeprefix("mmd_").upper()
    models = {
        "VAE": VAEConfig(image_shape=shape, latent_dim=d, likelihood="gaussian"),
        f"WAE-MMD ({kernel})": WAEConfig(image_shape=shape, latent_dim=d, penalty=setting.mmd_penalty,
                                         lambda_reg=setting.lambda_mmd),
        "WAE-GAN": WAEConfig(image_shape=shape, latent_dim=d, penalty="gan", lambda_reg=setting.lambda_gan),
    }
    entries = {"VAE": _entry("vae"), "WAE-GAN": _entry("wae_gan")}  # the MMD one: the entry of its kernel
    data = DataSpec(setting.dataset, "train", n=profile.train_subset)
    val_split = "valid" if "valid" in DATASETS[setting.dataset] else "test"
    val = DataSpec(setting.dataset, val_split, n=profile.eval_subset)
    runs = {}
    for label, config in models.items():
        entry = entries.get(label, _entry(f"wae_{setting.mmd_penalty}"))
        train = make_train_config(profile, profile.ae_steps, seed, device,
                                  step_seconds=CELEBA_STEP_SECONDS * entry.step_cost)
        runs[label] = Run(slug(f"ae_{setting.dataset}_{label}"), config, data, train, val,
                          bf16_keeps_quality=entry.bf16_keeps_quality)
    return runs


def wae_vs_vae_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 04's models: the WAE paper's three at its setting on CelebA, else :func:`autoencoder_runs`' five."""
    if dataset == WAE_PAPER_CELEBA.dataset:
        return wae_paper_runs(WAE_PAPER_CELEBA, profile, seed, device)
    return autoencoder_runs(dataset, profile, seed, device)


def notebook_runs(profile: str, seed: int = 0, device: str = "auto", precision: str = "auto", dataset: str = "mnist",
                  steps: int | None = None, **_) -> tuple[Profile, dict[str, Run]]:
    """Notebook 04's profile and runs from its papermill parameters (the notebook and ``make report PLAN=1`` both
    call this). ``steps`` overrides ``ae_steps``; CelebA runs the WAE paper's three models."""
    P = get_profile(profile, ae_steps=steps, precision=precision)
    return P, wae_vs_vae_runs(dataset, P, seed=seed, device=device)
