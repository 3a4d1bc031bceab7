"""The report's experiments as plain configs, defined once: one registry module per chapter.

``vae_mnist`` (notebook 01), ``gans`` (03), ``autoencoders`` (04; 05 reuses 01's and 04's models), and
``base`` for what they share (:class:`Run`, :class:`ModelEntry`). Notebook 05 asks the same functions
as 01 and 04 for its runs, so the configs (and hence the load-or-train cache keys) are the same by
construction. A :class:`Run` is everything :func:`gm_lib.runs.get_or_train` needs.
"""

from gm_lib.experiments.autoencoders import (
    AUTOENCODER_MODELS,
    WAE_PAPER_CELEBA,
    WAEPaperSetting,
    autoencoder_runs,
    wae_paper_runs,
    wae_vs_vae_runs,
)
from gm_lib.experiments.base import (
    IMAGE_SHAPES,
    LATENT_DIMS,
    VALIDATION_HOLDOUT,
    ModelEntry,
    Run,
    budget_steps,
    load_run,
    models_table,
    snapshot_models,
    train_run,
)
from gm_lib.experiments.gans import GAN_MODELS, gan_runs
from gm_lib.experiments.vae_mnist import VAE_MNIST, vae_bmnist_run

__all__ = [
    "Run",
    "ModelEntry",
    "train_run",
    "load_run",
    "snapshot_models",
    "budget_steps",
    "models_table",
    "vae_bmnist_run",
    "VAE_MNIST",
    "autoencoder_runs",
    "AUTOENCODER_MODELS",
    "WAEPaperSetting",
    "WAE_PAPER_CELEBA",
    "wae_paper_runs",
    "wae_vs_vae_runs",
    "gan_runs",
    "GAN_MODELS",
    "IMAGE_SHAPES",
    "LATENT_DIMS",
    "VALIDATION_HOLDOUT",
]
