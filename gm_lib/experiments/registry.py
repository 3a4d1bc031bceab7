"""Every chapter's registry in one view, for the tools that loop over all models (tests, benches, `make docs`).

Notebooks import their own chapter module, never this one: it imports every family, and a notebook's
cache stamp covers what it imports (:mod:`gm_lib.code_graph`).
"""

from __future__ import annotations

import re

from gm_lib.experiments.autoencoders import AUTOENCODER_MODELS
from gm_lib.experiments.base import ModelEntry, models_table
from gm_lib.experiments.gans import GAN_MODELS, gan_runs
from gm_lib.experiments.vae_mnist import VAE_MNIST
from gm_lib.profiles import get_profile

__all__ = ["CHAPTER_MODELS", "all_models", "model_list", "update_generated"]

# notebook -> its models, in the order of its tables
CHAPTER_MODELS: dict[str, tuple[ModelEntry, ...]] = {
    "01_vae_binarized_mnist": (VAE_MNIST,),
    "03_wgan": GAN_MODELS,
    "04_wae_vs_vae": AUTOENCODER_MODELS,
}


def all_models() -> dict[str, ModelEntry]:
    """``{"<notebook>/<key>": entry}`` over every chapter (keys are unique within a chapter)."""
    return {f"{notebook}/{entry.key}": entry for notebook, entries in CHAPTER_MODELS.items() for entry in entries}


_TABLE = re.compile(r"<!-- models:(\S+) -->.*?<!-- /models -->", flags=re.DOTALL)
_LIST = re.compile(r"<!-- model-list:(\S+) -->.*?<!-- /model-list -->")  # within one line: a heading, a table cell


def _chapter(notebook: str, marker: str) -> tuple[ModelEntry, ...]:
    if notebook not in CHAPTER_MODELS:
        raise ValueError(f"<!-- {marker}:{notebook} -->: no such chapter; use one of {list(CHAPTER_MODELS)}")
    return CHAPTER_MODELS[notebook]


def model_list(notebook: str) -> str:
    """The chapter's models as prose names them: its registry labels in order, joined by ``" vs "``
    (``"DCGAN vs WGAN (clipping) vs …"``), the one wording of the list wherever it is written.

    Raises:
        ValueError: ``notebook`` is no chapter of :data:`CHAPTER_MODELS`.
    """
    return " vs ".join(entry.label for entry in _chapter(notebook, "model-list"))


def update_generated(text: str) -> str:
    """``text`` (Markdown) with what the registries generate rewritten; everything else left as it is.

    * each block between ``<!-- models:<notebook> -->`` and ``<!-- /models -->`` becomes that chapter's
      :func:`gm_lib.experiments.models_table` (the default profile's steps for notebook 03);
    * each span between ``<!-- model-list:<notebook> -->`` and ``<!-- /model-list -->`` (on one line) becomes
      :func:`model_list`.

    Raises:
        ValueError: a marker names no chapter of :data:`CHAPTER_MODELS`.
    """
    steps = {"03_wgan": {label: run.train.steps for label, run in gan_runs("fashion_mnist", get_profile("default"),
                                                                           device="cpu").items()}}

    def table(match: re.Match) -> str:
        notebook = match.group(1)
        body = models_table(_chapter(notebook, "models"), steps.get(notebook))
        return f"<!-- models:{notebook} -->\n{body}\n<!-- /models -->"

    def names(match: re.Match) -> str:
        return f"<!-- model-list:{match.group(1)} -->{model_list(match.group(1))}<!-- /model-list -->"

    return _LIST.sub(names, _TABLE.sub(table, text))
