"""Run profiles: every budget a notebook reads (steps, subsets, sample counts) lives here.

Three profiles, chosen by ``make report PROFILE=...`` and passed to each notebook as the
papermill parameter ``profile``:

    smoke    the whole report in <= 5 min on a 2-core CPU (CI runs it); tiny N, previews only
    default  best quality on a 2-core CPU (goal: cold <= 100 min on idle Sapphire Rapids; measured 96.8 min, see README)
             (Inception FID costs ~63 ms per image there, so fid_n = 2048 is the floor)
    full     paper-scale settings, meant for a GPU

A notebook's explicit parameter wins over the profile; ``None`` means "use the profile", so a
papermill ``parameters`` cell can default every override to ``None``.

Example (one line):
    p = get_profile("default", vae_steps=None, fid_n=4096)   # p.vae_steps from the profile, p.fid_n = 4096
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from gm_lib.precision import Precision, check_precision

__all__ = ["ProfileName", "Precision", "Profile", "PROFILES", "get_profile"]

ProfileName = Literal["smoke", "default", "full"]


@dataclass(frozen=True)
class Profile:
    """Budgets for one report run. Counts are images/samples, steps are optimizer steps.

    Attributes:
        name: which profile this is (after overrides the name stays, overrides are recorded by the caller).
        train_subset: training images used (None = the whole training split).
        eval_subset: evaluation images used (None = the whole test split).
        vae_steps: VAE training steps in notebook 01 (default: 20,000, 15 min here, for NLL <= 89 nats; see
            :func:`gm_lib.experiments.vae_bmnist_run`).
        ae_steps: steps for each WAE/VAE comparison model in notebook 04 (equal steps, as the WAE paper).
        gan_budget: CPU budget of each model of notebook 03, in steps of its reference model (DCGAN, step cost
            1): each :data:`gm_lib.experiments.GAN_MODELS` entry trains ``gan_budget / step_cost`` steps, so the
            models get about the same CPU time (generator steps for the GANs).
        step_quantum: budgeted step counts are rounded to a multiple of this (round numbers in tables).
        batch_size: minibatch size for training.
        gan_batch_size: minibatch size of notebook 03's models (64, as WGAN and WGAN-GP's papers).
        guard_factor: the time guard of each trained model and call, in multiples of its expected time on the
            reference machine (its steps × registered step cost × the chapter's reference seconds per step, see
            :func:`gm_lib.experiments.make_train_config`; at least 5 minutes); None = no guard. Budgets are steps:
            a run the guard stops is reported as truncated and resumed by the next run, and ``make report``'s
            progress line warns as soon as the measured rate says the guard will bind.
        nll_k: importance samples per test image for the NLL estimate (>= 1000 in reported numbers).
        nll_n: test images scored for the NLL.
        fid_n: generated samples (and real images) for FID/KID.
        fid_preview: True when fid_n is too small for a reportable FID (the report labels it a preview).
        toy_thetas: offsets theta of the parallel-lines toy.
        toy_steps: critic/estimator steps per theta in notebook 02.
        toy_eval_batches: batches averaged for each toy estimate.
        tsne_n: points embedded by t-SNE in notebook 05.
        snapshot_every: generator steps between saved GAN sample grids.
        precision: "auto" (each family in bf16 only where that keeps its quality and is faster on the
            device, see :func:`gm_lib.precision.resolve_precision`), or "fp32" / "bf16" for every run.
        seeds: how many seeds ``make report`` runs each notebook with unless ``SEEDS=`` says otherwise (the
            manifest's seed and the next ones); the report shows mean ± sd over them. Not read by notebooks.
    """

    name: ProfileName
    train_subset: int | None
    eval_subset: int | None
    vae_steps: int
    ae_steps: int
    gan_budget: int
    step_quantum: int
    batch_size: int
    gan_batch_size: int
    guard_factor: float | None
    nll_k: int
    nll_n: int
    fid_n: int
    fid_preview: bool
    toy_thetas: tuple[float, ...]
    toy_steps: int
    toy_eval_batches: int
    tsne_n: int
    snapshot_every: int
    precision: Precision
    seeds: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        values = asdict(self)
        values["toy_thetas"] = list(self.toy_thetas)
        return values


_THETAS_COARSE = (-1.0, -0.5, 0.0, 0.5, 1.0)
_THETAS_FINE = tuple(round(-1.0 + 0.1 * i, 1) for i in range(21))  # -1.0, -0.9, ..., 1.0

# Notebook 03 at about equal CPU time per model (~4.5 min each on 2 idle cores): 5,600 DCGAN steps, and at the
# registry's step costs (gm_lib.experiments.GAN_MODELS) WGAN 2,150, WGAN-GP 1,100 and the VAE 11,000 steps.

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", train_subset=2_000, eval_subset=500, vae_steps=100, ae_steps=60,
        gan_budget=30, step_quantum=1, batch_size=32,
        gan_batch_size=32, guard_factor=4.0,
        nll_k=20, nll_n=50, fid_n=64, fid_preview=True,
        toy_thetas=_THETAS_COARSE, toy_steps=100, toy_eval_batches=2, tsne_n=300, snapshot_every=20,
        precision="auto", seeds=1,
    ),
    # Measured here (2 idle cores, before the OpenVINO FID backend, which is 1.4-2.2x faster): Inception features
    # 60 ms/image plus ~15 s of sqrtm per FID (now ~1 s: eigenvalues), the importance-sampled NLL 8 images/s at
    # K=1000; 100 training steps take ~4 s (VAE of 01 and 04), ~2.5 s (WAE), ~5 s (latent-critic VAE). Notebook 03's
    # models get ~4.5 min each (see gan_budget). The guard, 4x a run's expected time, is above any run's need: an
    # idle AVX2-only EPYC is ~1.4-1.9x slower than the reference Sapphire Rapids, a shared one slower still.
    "default": Profile(
        name="default", train_subset=None, eval_subset=10_000, vae_steps=20_000, ae_steps=4_000,
        gan_budget=5_600, step_quantum=50, batch_size=100, gan_batch_size=64,
        guard_factor=4.0, nll_k=1_000, nll_n=1_000, fid_n=2_048, fid_preview=False,
        toy_thetas=_THETAS_FINE, toy_steps=500, toy_eval_batches=10, tsne_n=2_000, snapshot_every=100,
        precision="auto", seeds=1,
    ),
    "full": Profile(
        name="full", train_subset=None, eval_subset=None, vae_steps=300_000, ae_steps=60_000,
        gan_budget=100_000, step_quantum=1_000, batch_size=100,
        gan_batch_size=64, guard_factor=None, nll_k=5_000, nll_n=10_000, fid_n=10_000, fid_preview=False,
        toy_thetas=_THETAS_FINE, toy_steps=2_000, toy_eval_batches=50, tsne_n=10_000, snapshot_every=5_000,
        precision="auto", seeds=3,
    ),
}


def get_profile(name: ProfileName, **overrides: Any) -> Profile:
    """The profile ``name`` with explicit overrides applied (``None`` overrides are ignored).

    Raises:
        ValueError: unknown profile name, unknown field, or a bad ``precision``.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: use one of {sorted(PROFILES)} (e.g. make report PROFILE=smoke)")
    known = {f.name for f in fields(Profile)} - {"name"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown profile field(s) {unknown}: valid fields are {sorted(known)}")
    given = {key: value for key, value in overrides.items() if value is not None}
    if "toy_thetas" in given:
        given["toy_thetas"] = tuple(float(t) for t in given["toy_thetas"])
    check_precision(given.get("precision", "auto"))
    return replace(PROFILES[name], **given)
