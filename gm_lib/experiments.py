"""The report's experiments as plain configs, defined once.

Notebook 05 reuses the models trained by notebooks 01 and 04; both ask this module for the
runs, so the configs (and hence the load-or-train cache keys) are the same by construction.
A :class:`Run` is everything :func:`gm_lib.train.get_or_train` needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from gm_lib.data import DATASETS, DataSpec
from gm_lib.models import GANConfig, LatentCriticVAEConfig, VAEConfig, WAEConfig
from gm_lib.precision import select_device
from gm_lib.profiles import Profile
from gm_lib.progress import phase
from gm_lib.runs import get_or_train, load_snapshots, run_directory
from gm_lib.train_config import TrainConfig

__all__ = [
    "Run",
    "train_run",
    "snapshot_models",
    "vae_bmnist_run",
    "autoencoder_runs",
    "WAEPaperSetting",
    "WAE_PAPER_CELEBA",
    "wae_paper_runs",
    "wae_vs_vae_runs",
    "gan_runs",
    "GANRecipe",
    "GAN_RECIPES",
    "IMAGE_SHAPES",
    "LATENT_DIMS",
    "VALIDATION_HOLDOUT",
]

IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "binarized_mnist": (1, 28, 28), "svhn": (3, 32, 32),
                "celeba": (3, 64, 64)}
# WAE paper: latent 8 on MNIST; the course's SVHN project used 32.
LATENT_DIMS = {"mnist": 8, "fashion_mnist": 8, "svhn": 32}
# Training images set aside as validation data in notebook 04 (the last 10k, as Larochelle's MNIST split).
VALIDATION_HOLDOUT = 10_000


@dataclass(frozen=True)
class Run:
    """One trainable experiment: a cache name, a model config, data and a training config.

    ``precision="auto"`` is resolved on creation, so what a notebook records is what the run trains at.
    """

    name: str
    model: object
    data: DataSpec
    train: TrainConfig
    val: DataSpec | None = None

    def __post_init__(self):
        object.__setattr__(self, "train", self.train.resolve(self.model))  # frozen: set once, here

    @property
    def directory(self) -> Path:
        """The run's cache folder ``cache_dir("runs")/<name>-<hash12>`` (checkpoint, history, cached metrics)."""
        return run_directory(self.name, self.model, self.data, self.train, self.val)


def train_run(run: Run, force: bool = False, progress: bool = True):
    """Load the run's model from the checkpoint cache, or train it. Returns ``(model, History)``."""
    budget = None if run.train.max_minutes is None else 60 * run.train.max_minutes
    # The phase is shown by `make report`, and its time is counted as training there.
    with phase(f"training {run.name}", total=run.train.steps, budget_s=budget, kind="training"):
        return get_or_train(run.name, run.model, run.data, run.train, val_data=run.val, force=force,
                            progress=progress)


def snapshot_models(run: Run) -> list[tuple[int, object]]:
    """``[(step, model), ...]`` from the run's weight snapshots (train it first with :func:`train_run`)."""
    return load_snapshots(run.directory, device=run.train.device)


def _train_config(profile: Profile, steps: int, seed: int, device: str, **extra) -> TrainConfig:
    extra.setdefault("batch_size", profile.batch_size)
    return TrainConfig(
        steps=steps,
        max_minutes=profile.max_minutes,
        seed=seed,
        checkpoint_every=max(1, steps // 4),
        eval_every=max(1, steps // 10),
        # The device is part of the run's cache key and `make report` passes it resolved ("cpu"/"cuda"): resolving
        # "auto" here too lets a notebook run in JupyterLab with its default device="auto" load those models.
        device=select_device(device).type,
        precision=profile.precision,
        **extra,
    )


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
        model=VAEConfig(image_shape=(1, 28, 28), latent_dim=latent_dim, likelihood="bernoulli"),
        data=DataSpec("binarized_mnist", "train", n=profile.train_subset, binarize="static"),
        train=_train_config(profile, profile.vae_steps, seed, device, lr_schedule="cosine"),
        val=DataSpec("binarized_mnist", "valid", n=profile.eval_subset, binarize="static"),
    )


def autoencoder_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 04: VAE vs WAE-MMD (RBF, IMQ) vs WAE-GAN vs latent-critic VAE, same encoder and decoder.

    The two VAEs share the decoder likelihood (Gaussian, learned σ), so they differ only in the regulariser.
    All train on the training split minus its last :data:`VALIDATION_HOLDOUT` images (the profile's
    ``eval_subset`` when smaller, so small training files keep most of their images), which are the
    validation data during training; the test split is left for the final scores.
    """
    shape, d = IMAGE_SHAPES[dataset], LATENT_DIMS[dataset]
    vae = VAEConfig(image_shape=shape, latent_dim=d, likelihood="gaussian")
    models = {
        "VAE": vae,
        "WAE-MMD (RBF)": WAEConfig(image_shape=shape, latent_dim=d, penalty="mmd_rbf"),
        "WAE-MMD (IMQ)": WAEConfig(image_shape=shape, latent_dim=d, penalty="mmd_imq"),
        "WAE-GAN": WAEConfig(image_shape=shape, latent_dim=d, penalty="gan"),
        "Latent-critic VAE": LatentCriticVAEConfig(
            image_shape=shape, latent_dim=d, likelihood=vae.likelihood, sigma=vae.sigma, log_sigma=vae.log_sigma
        ),
    }
    train = _train_config(profile, profile.ae_steps, seed, device)
    holdout = min(VALIDATION_HOLDOUT, profile.eval_subset or VALIDATION_HOLDOUT)
    data = DataSpec(dataset, "train", n=profile.train_subset, holdout=holdout)
    val = DataSpec(dataset, "valid", n=profile.eval_subset, holdout=holdout)
    return {label: Run(_slug(f"ae_{dataset}_{label}"), cfg, data, train, val) for label, cfg in models.items()}


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
    train = _train_config(profile, profile.ae_steps, seed, device)
    data = DataSpec(setting.dataset, "train", n=profile.train_subset)
    val_split = "valid" if "valid" in DATASETS[setting.dataset] else "test"
    val = DataSpec(setting.dataset, val_split, n=profile.eval_subset)
    return {label: Run(_slug(f"ae_{setting.dataset}_{label}"), cfg, data, train, val) for label, cfg in models.items()}


def wae_vs_vae_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 04's models: the WAE paper's three at its setting on CelebA, else :func:`autoencoder_runs`' five."""
    if dataset == WAE_PAPER_CELEBA.dataset:
        return wae_paper_runs(WAE_PAPER_CELEBA, profile, seed, device)
    return autoencoder_runs(dataset, profile, seed, device)


@dataclass(frozen=True)
class GANRecipe:
    """One GAN of notebook 03: its config and the key that names its run and its ``Profile.gan_steps`` budget."""

    key: str
    config: GANConfig


# Notebook 03's recipes: each family's paper algorithm on the width-32 nets, chosen by bench/bench_report_runs.py
# (the report's own runs, seed 0; classifier-feature FD of 1,000 samples vs 1,000 test images, real train vs test
# 14.1; Inception FID of 2,048 samples vs test):
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
GAN_RECIPES: dict[str, GANRecipe] = {
    "DCGAN": GANRecipe("dcgan", GANConfig(loss="dcgan", lr=4e-4)),
    "WGAN (clipping)": GANRecipe("wgan", GANConfig(loss="wgan")),
    "WGAN-GP": GANRecipe("wgan_gp", GANConfig(loss="wgan_gp", lr=2e-3)),
}


def gan_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 03: DCGAN vs WGAN (clipping) vs WGAN-GP, and a VAE whose decoder is the generator's network.

    Each family trains ``profile.gan_steps[loss]`` generator steps (set so the families get about the same
    CPU time), the VAE ``profile.gan_steps["vae"]``; all at ``profile.gan_batch_size``.
    """
    shape = IMAGE_SHAPES[dataset]
    data = DataSpec(dataset, "train", n=profile.train_subset)
    runs = {}
    for label, recipe in GAN_RECIPES.items():
        config = replace(recipe.config, image_shape=shape)
        # Snapshots every `snapshot_every` generator steps feed the over-training curves.
        steps = profile.gan_steps[recipe.key]  # about ten snapshots, whatever the budget
        train = _train_config(profile, steps, seed, device, snapshot_every=max(profile.snapshot_every, steps // 10),
                              batch_size=profile.gan_batch_size)
        runs[label] = Run(f"gan_{dataset}_{recipe.key}", config, data, train)
    generator = GAN_RECIPES["DCGAN"].config
    vae = VAEConfig(image_shape=shape, latent_dim=generator.latent_dim, width=generator.width,
                    hidden=generator.hidden, likelihood="gaussian")
    train = _train_config(profile, profile.gan_steps["vae"], seed, device, batch_size=profile.gan_batch_size)
    runs["VAE"] = Run(_slug(f"gan_{dataset}_vae"), vae, data, train)
    return runs


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")
