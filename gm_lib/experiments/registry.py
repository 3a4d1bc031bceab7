"""Every chapter's registry in one view, for the tools that loop over all models (tests, benches, tables).

Notebooks import their own chapter module, never this one: it imports every family, and a notebook's
cache stamp covers what it imports (:mod:`gm_lib.code_graph`).
"""

from __future__ import annotations

from gm_lib.experiments.autoencoders import AUTOENCODER_MODELS
from gm_lib.experiments.base import ModelEntry
from gm_lib.experiments.gans import GAN_MODELS
from gm_lib.experiments.vae_mnist import VAE_MNIST

__all__ = ["CHAPTER_MODELS", "all_models", "models_table"]

# notebook -> its models, in the order of its tables
CHAPTER_MODELS: dict[str, tuple[ModelEntry, ...]] = {
    "01_vae_binarized_mnist": (VAE_MNIST,),
    "03_wgan": GAN_MODELS,
    "04_wae_vs_vae": AUTOENCODER_MODELS,
}


def all_models() -> dict[str, ModelEntry]:
    """``{"<notebook>/<key>": entry}`` over every chapter (keys are unique within a chapter)."""
    return {f"{notebook}/{entry.key}": entry for notebook, entries in CHAPTER_MODELS.items() for entry in entries}


def models_table(notebook: str, steps: dict[str, int] | None = None) -> str:
    """A Markdown table of a chapter's models: label, key, family (config class and loss), step cost, bf16 verdict,
    and the ``steps`` each trains when given (``{label: steps}``)."""
    head = "| model | key | config | step cost | bf16 keeps quality |" + (" steps |" if steps else "")
    rule = "|---|---|---|---|---|" + ("---|" if steps else "")
    lines = [head, rule]
    for entry in CHAPTER_MODELS[notebook]:
        family = type(entry.config).__name__
        detail = getattr(entry.config, "loss", None) or getattr(entry.config, "penalty", None) or getattr(
            entry.config, "likelihood", "")
        row = (f"| {entry.label} | `{entry.key}` | {family} ({detail}) | {entry.step_cost:g} | "
               f"{'yes' if entry.bf16_keeps_quality else 'no'} |")
        lines.append(row + (f" {steps[entry.label]:,} |" if steps else ""))
    return "\n".join(lines)
