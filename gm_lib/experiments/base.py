"""What every chapter's experiments share: a :class:`Run` (what load-or-train needs), a registry entry
(:class:`ModelEntry`) and the training config a profile gives them.

Each chapter defines its runs in a module of its own (``vae_mnist``: notebook 01, ``gans``: 03,
``autoencoders``: 04 and 05), so that a notebook's cache stamp covers the chapters it imports and not
the others (:mod:`gm_lib.code_graph`). This module imports no model family.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gm_lib.checkpoint import CHECKPOINT_NAME
from gm_lib.precision import select_device
from gm_lib.profiles import Profile
from gm_lib.progress import phase
from gm_lib.runs import get_or_train, load_finished, load_snapshots, run_directory
from gm_lib.saved_configs import allow_config_class
from gm_lib.train_config import TrainConfig
from gm_lib.versions import record_run_versions

__all__ = ["Run", "ModelEntry", "models_table", "train_run", "load_run", "snapshot_models", "make_train_config",
           "budget_steps", "GUARD_FLOOR_MINUTES", "slug", "IMAGE_SHAPES", "LATENT_DIMS", "VALIDATION_HOLDOUT"]

IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "binarized_mnist": (1, 28, 28), "svhn": (3, 32, 32),
                "celeba": (3, 64, 64)}
# WAE paper: latent 8 on MNIST; the course's SVHN project used 32.
LATENT_DIMS = {"mnist": 8, "fashion_mnist": 8, "svhn": 32}
# Training images set aside as validation data in notebook 04 (the last 10k, as Larochelle's MNIST split).
VALIDATION_HOLDOUT = 10_000


@dataclass(frozen=True)
class ModelEntry:
    """One model of a chapter's registry: everything the notebook, tests, benches and tables need to know.

    Attributes:
        label: the name people read (tables, legends, figure titles), e.g. ``"WGAN-GP"``.
        key: the name code uses (run name ``<chapter>_<dataset>_<key>``, metric and figure names), e.g. ``"wgan_gp"``.
        config: the model config (a frozen dataclass with ``build()``); the chapter fills in the image shape. Making
            the entry lets saved configs name its class (:func:`gm_lib.saved_configs.allow_config_class`).
        step_cost: seconds of one training step relative to the chapter's first entry, measured by
            ``make bench-step-cost`` (one thread, the chapter's batch size, families in rotation).
        bf16_keeps_quality: ``make bench-precision``'s verdict: bf16 autocast kept the final quality (False: lost,
            or not measured). ``precision="auto"`` trains in bf16 only where this holds and bf16 is faster.
    """

    label: str
    key: str
    config: object
    step_cost: float = 1.0
    bf16_keeps_quality: bool = False

    def __post_init__(self):
        # The registries' configs are the classes a saved config (config.json, a checkpoint, an archive) may name.
        allow_config_class(type(self.config))


@dataclass(frozen=True)
class Run:
    """One trainable experiment: a cache name, a model config, data and a training config.

    ``precision="auto"`` is resolved on creation (with ``bf16_keeps_quality``, the registry's verdict), so what a
    notebook records is what the run trains at. ``trained_by`` names the notebook that trains the run when another
    one only loads it (:func:`load_run`; 05 loads 01's and 04's models); None for a notebook's own runs.
    """

    name: str
    model: object
    data: object  # gm_lib.data.DataSpec
    train: TrainConfig
    val: object | None = None
    bf16_keeps_quality: bool = False
    trained_by: str | None = None

    def __post_init__(self):
        resolved = self.train.resolve(self.bf16_keeps_quality)
        object.__setattr__(self, "train", resolved)  # frozen: set once, here

    @property
    def directory(self) -> Path:
        """The run's cache folder ``cache_dir("runs")/<name>-<hash12>`` (checkpoint, history, cached metrics)."""
        return run_directory(self.name, self.model, self.data, self.train, self.val)


def models_table(entries: tuple[ModelEntry, ...], steps: dict[str, int] | None = None) -> str:
    """A Markdown table of a chapter's registry: label, key, config family, step cost, bf16 verdict, and the
    ``steps`` each model trains when given (``{label: steps}``; entries without steps, not run here, are left out).
    The README's and notebooks' tables of models come from here."""
    head = "| model | key | config | step cost | bf16 keeps quality |" + (" steps |" if steps else "")
    lines = [head, "|---|---|---|---|---|" + ("---|" if steps else "")]
    for entry in (e for e in entries if steps is None or e.label in steps):
        config = entry.config
        detail = getattr(config, "loss", None) or getattr(config, "penalty", None) or getattr(config, "likelihood", "")
        row = (f"| {entry.label} | `{entry.key}` | {type(config).__name__} ({detail}) | {entry.step_cost:g} | "
               f"{'yes' if entry.bf16_keeps_quality else 'no'} |")
        lines.append(row + (f" {steps[entry.label]:,} |" if steps else ""))
    return "\n".join(lines)


def train_run(run: Run, force: bool = False, progress: bool = True):
    """Load the run's model from the checkpoint cache, or train it. Returns ``(model, History)``.

    A call that trained (or resumed) the run records this environment's package versions beside it
    (:func:`gm_lib.versions.record_run_versions`; ``make report PLAN=1`` compares them).

    Raises:
        ValueError: ``run.trained_by`` names another notebook: load it with :func:`load_run`, never train it here.
    """
    if run.trained_by is not None:
        raise ValueError(f"run {run.name} is trained by notebook {run.trained_by}: load it with load_run(run)")
    budget = None if run.train.max_minutes is None else 60 * run.train.max_minutes
    before = _checkpoint_identity(run.directory)
    # The phase is shown by `make report`, and its time is counted as training there.
    with phase(f"training {run.name}", total=run.train.steps, budget_s=budget, kind="training"):
        trained = get_or_train(run.name, run.model, run.data, run.train, val_data=run.val, force=force,
                               progress=progress)
    if _checkpoint_identity(run.directory) != before:  # training ends with a checkpoint; loading writes none
        record_run_versions(run.directory)
    return trained


def _checkpoint_identity(run_dir: Path) -> tuple[int, int] | None:
    try:
        stat = (run_dir / CHECKPOINT_NAME).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def load_run(run: Run):
    """Load the finished model of a run that another notebook trains (``run.trained_by``); never train it.

    Returns ``(model, History)``. Raises :class:`gm_lib.runs.RunNotFinished` naming that notebook when the run is
    absent or was stopped by the time guard: the notebook that trains it resumes it on the next ``make report``.
    """
    return load_finished(run.name, run.model, run.data, run.train, val_data=run.val,
                         trained_by=run.trained_by or "the one that trains it")


def snapshot_models(run: Run) -> list[tuple[int, object]]:
    """``[(step, model), ...]`` from the run's weight snapshots (train it first with :func:`train_run`)."""
    return load_snapshots(run.directory, device=run.train.device)


GUARD_FLOOR_MINUTES = 5.0  # start-up (data, first steps) costs the same at any size: no guard below this


def make_train_config(profile: Profile, steps: int, seed: int, device: str, step_seconds: float | None = None,
                      **extra) -> TrainConfig:
    """The profile's training config for a run of ``steps`` steps (4 checkpoints, 10 evaluations).

    ``step_seconds``: the run's expected seconds per step on the reference machine (the chapter's reference
    seconds × the entry's step cost); the time guard is ``profile.guard_factor`` times the expected time, at
    least :data:`GUARD_FLOOR_MINUTES` (no guard when either is None).
    """
    extra.setdefault("batch_size", profile.batch_size)
    guard = None
    if profile.guard_factor is not None and step_seconds is not None:
        guard = max(GUARD_FLOOR_MINUTES, round(profile.guard_factor * steps * step_seconds / 60, 1))
    return TrainConfig(
        steps=steps,
        max_minutes=guard,
        seed=seed,
        checkpoint_every=max(1, steps // 4),
        eval_every=max(1, steps // 10),
        # The device is part of the run's cache key and `make report` passes it resolved ("cpu"/"cuda"): resolving
        # "auto" here too lets a notebook run in JupyterLab with its default device="auto" load those models.
        device=select_device(device).type,
        precision=profile.precision,
        **extra,
    )


def budget_steps(budget: int, step_cost: float, quantum: int = 1) -> int:
    """Steps that fit a CPU ``budget`` (in steps of cost 1) at ``step_cost``: ``budget / step_cost`` rounded to a
    multiple of ``quantum`` (at least one step), so each model of a chapter gets about the same CPU time.

    Example: ``budget_steps(5600, 5.18, 50) == 1100`` (WGAN-GP beside 5,600 DCGAN steps).
    """
    return max(1, round(budget / step_cost / quantum) * quantum)


def slug(text: str) -> str:
    """``"WAE-MMD (RBF)"`` → ``"wae_mmd_rbf"``: lower case, runs of other characters as one underscore."""
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")
