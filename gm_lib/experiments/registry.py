"""Every chapter's registry in one view, for the tools that loop over all models (tests, benches, tables).

Notebooks import their own chapter module, never this one: it imports every family, and a notebook's
cache stamp covers what it imports (:mod:`gm_lib.code_graph`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gm_lib.experiments.autoencoders import AUTOENCODER_MODELS
from gm_lib.experiments.base import ModelEntry
from gm_lib.experiments.gans import GAN_MODELS
from gm_lib.experiments.vae_mnist import VAE_MNIST

__all__ = ["CHAPTER_MODELS", "all_models", "update_tables"]

# notebook -> its models, in the order of its tables
CHAPTER_MODELS: dict[str, tuple[ModelEntry, ...]] = {
    "01_vae_binarized_mnist": (VAE_MNIST,),
    "03_wgan": GAN_MODELS,
    "04_wae_vs_vae": AUTOENCODER_MODELS,
}


def all_models() -> dict[str, ModelEntry]:
    """``{"<notebook>/<key>": entry}`` over every chapter (keys are unique within a chapter)."""
    return {f"{notebook}/{entry.key}": entry for notebook, entries in CHAPTER_MODELS.items() for entry in entries}


def update_tables(text: str) -> str:
    """``text`` (Markdown) with each block between ``<!-- models:<notebook> -->`` and ``<!-- /models -->`` replaced
    by that chapter's :func:`gm_lib.experiments.models_table` (the default profile's steps for notebook 03).

    Raises:
        ValueError: a marker names no chapter of :data:`CHAPTER_MODELS`.
    """
    from gm_lib.experiments.base import models_table
    from gm_lib.experiments.gans import gan_runs
    from gm_lib.profiles import get_profile

    steps = {"03_wgan": {label: run.train.steps for label, run in gan_runs("fashion_mnist", get_profile("default"),
                                                                           device="cpu").items()}}

    def table(match: re.Match) -> str:
        notebook = match.group(1)
        if notebook not in CHAPTER_MODELS:
            raise ValueError(f"<!-- models:{notebook} -->: no such chapter; use one of {list(CHAPTER_MODELS)}")
        body = models_table(CHAPTER_MODELS[notebook], steps.get(notebook))
        return f"<!-- models:{notebook} -->\n{body}\n<!-- /models -->"

    return re.sub(r"<!-- models:(\S+) -->.*?<!-- /models -->", table, text, flags=re.DOTALL)


if __name__ == "__main__":  # python -m gm_lib.experiments.registry README.md: regenerate its model tables
    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(update_tables(path.read_text()))
