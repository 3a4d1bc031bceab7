"""Notebook 05's runs: the models notebooks 01 and 04 trained, loaded from the cache (same configs, same keys).

Each run names the notebook that trains it (``Run.trained_by``): 05 loads them with
:func:`gm_lib.experiments.load_run` and never trains or finishes one itself.
"""

from __future__ import annotations

from dataclasses import replace

from gm_lib.experiments.autoencoders import NOTEBOOK as NOTEBOOK_04
from gm_lib.experiments.autoencoders import autoencoder_runs
from gm_lib.experiments.base import Run
from gm_lib.experiments.vae_mnist import NOTEBOOK as NOTEBOOK_01
from gm_lib.experiments.vae_mnist import vae_bmnist_run
from gm_lib.profiles import Profile, get_profile

__all__ = ["NOTEBOOK", "notebook_runs"]

NOTEBOOK = "05_tsne_latents"  # the notebook whose runs notebook_runs gives (make report PLAN=1 reads it)


def notebook_runs(profile: str, seed: int = 0, device: str = "auto", precision: str = "auto", dataset: str = "mnist",
                  **_) -> tuple[Profile, dict[str, Run]]:
    """Notebook 05's profile and runs by label: 01's VAE and 04's models on ``dataset`` (the notebook and
    ``make report PLAN=1`` both call this)."""
    P = get_profile(profile, precision=precision)
    vae = vae_bmnist_run(P, seed=seed, device=device)
    runs = {"VAE (binarized MNIST, 01)": replace(vae, trained_by=NOTEBOOK_01)}
    for label, run in autoencoder_runs(dataset, P, seed=seed, device=device).items():
        runs[f"{label} (04)"] = replace(run, trained_by=NOTEBOOK_04)
    return P, runs
