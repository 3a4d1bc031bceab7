"""The report's experiments as plain configs, defined once.

Notebook 05 reuses the models trained by notebooks 01 and 04; both ask this module for the
runs, so the configs (and hence the load-or-train cache keys) are the same by construction.
A :class:`Run` is everything :func:`gm_lib.train.get_or_train` needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from gm_lib.data import DataSpec
from gm_lib.models import GANConfig, LatentCriticVAEConfig, VAEConfig, WAEConfig
from gm_lib.profiles import Profile
from gm_lib.progress import phase
from gm_lib.train import TrainConfig, get_or_train, load_snapshots, run_directory

__all__ = [
    "Run",
    "train_run",
    "snapshot_models",
    "vae_bmnist_run",
    "autoencoder_runs",
    "gan_runs",
    "IMAGE_SHAPES",
    "LATENT_DIMS",
]

IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "binarized_mnist": (1, 28, 28), "svhn": (3, 32, 32)}
# WAE paper: latent 8 on MNIST; the course's SVHN project used 32.
LATENT_DIMS = {"mnist": 8, "fashion_mnist": 8, "svhn": 32}


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


def train_run(run: Run, force: bool = False, progress: bool = True):
    """Load the run's model from the checkpoint cache, or train it. Returns ``(model, History)``."""
    budget = None if run.train.max_minutes is None else 60 * run.train.max_minutes
    with phase(f"training {run.name}", total=run.train.steps, budget_s=budget):  # shown by `make report`
        return get_or_train(run.name, run.model, run.data, run.train, val_data=run.val, force=force,
                            progress=progress)


def snapshot_models(run: Run) -> list[tuple[int, object]]:
    """``[(step, model), ...]`` from the run's weight snapshots (train it first with :func:`train_run`)."""
    return load_snapshots(run_directory(run.name, run.model, run.data, run.train, run.val), device=run.train.device)


def _train_config(profile: Profile, steps: int, seed: int, device: str, **extra) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=profile.batch_size,
        max_minutes=profile.max_minutes,
        seed=seed,
        checkpoint_every=max(1, steps // 4),
        eval_every=max(1, steps // 10),
        device=device,
        precision=profile.precision,
        **extra,
    )


def vae_bmnist_run(profile: Profile, seed: int = 0, device: str = "auto", latent_dim: int = 32) -> Run:
    """Notebook 01: conv VAE, Bernoulli decoder, statically binarized MNIST (Larochelle's split)."""
    return Run(
        name="vae_bmnist",
        model=VAEConfig(image_shape=(1, 28, 28), latent_dim=latent_dim, likelihood="bernoulli"),
        data=DataSpec("binarized_mnist", "train", n=profile.train_subset, binarize="static"),
        train=_train_config(profile, profile.vae_steps, seed, device),
        val=DataSpec("binarized_mnist", "valid", n=profile.eval_subset, binarize="static"),
    )


def autoencoder_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 04: VAE vs WAE-MMD (RBF, IMQ) vs WAE-GAN vs latent-critic VAE, same encoder and decoder."""
    shape, d = IMAGE_SHAPES[dataset], LATENT_DIMS[dataset]
    models = {
        "VAE": VAEConfig(image_shape=shape, latent_dim=d, likelihood="gaussian"),
        "WAE-MMD (RBF)": WAEConfig(image_shape=shape, latent_dim=d, penalty="mmd_rbf"),
        "WAE-MMD (IMQ)": WAEConfig(image_shape=shape, latent_dim=d, penalty="mmd_imq"),
        "WAE-GAN": WAEConfig(image_shape=shape, latent_dim=d, penalty="gan"),
        "Latent-critic VAE": LatentCriticVAEConfig(image_shape=shape, latent_dim=d),
    }
    train = _train_config(profile, profile.ae_steps, seed, device)
    data = DataSpec(dataset, "train", n=profile.train_subset)
    val = DataSpec(dataset, "test", n=profile.eval_subset)
    return {label: Run(_slug(f"ae_{dataset}_{label}"), cfg, data, train, val) for label, cfg in models.items()}


def gan_runs(dataset: str, profile: Profile, seed: int = 0, device: str = "auto") -> dict[str, Run]:
    """Notebook 03: DCGAN vs WGAN (clipping) vs WGAN-GP at equal nets and equal generator steps."""
    shape = IMAGE_SHAPES[dataset]
    data = DataSpec(dataset, "train", n=profile.train_subset)
    runs = {}
    for label, loss in [("DCGAN", "dcgan"), ("WGAN (clipping)", "wgan"), ("WGAN-GP", "wgan_gp")]:
        # Snapshots every `snapshot_every` generator steps feed the over-training curves.
        train = _train_config(profile, profile.gan_steps, seed, device, snapshot_every=profile.snapshot_every)
        runs[label] = Run(_slug(f"gan_{dataset}_{loss}"), GANConfig(image_shape=shape, loss=loss), data, train)
    return runs


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")
