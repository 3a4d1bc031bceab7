"""Every chapter's registry in one view, for the tools that loop over all models (tests, benches, tables).

Notebooks import their own chapter module, never this one: it imports every family, and a notebook's
cache stamp covers what it imports (:mod:`gm_lib.code_graph`).
"""

from __future__ import annotations

from gm_lib.experiments.autoencoders import AUTOENCODER_MODELS
from gm_lib.experiments.base import ModelEntry
from gm_lib.experiments.gans import GAN_MODELS
from gm_lib.experiments.vae_mnist import VAE_MNIST

__all__ = ["CHAPTER_MODELS", "all_models"]

# notebook -> its models, in the order of its tables
CHAPTER_MODELS: dict[str, tuple[ModelEntry, ...]] = {
    "01_vae_binarized_mnist": (VAE_MNIST,),
    "03_wgan": GAN_MODELS,
    "04_wae_vs_vae": AUTOENCODER_MODELS,
}


def all_models() -> dict[str, ModelEntry]:
    """``{"<notebook>/<key>": entry}`` over every chapter (keys are unique within a chapter)."""
    return {f"{notebook}/{entry.key}": entry for notebook, entries in CHAPTER_MODELS.items() for entry in entries}
