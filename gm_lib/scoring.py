"""Score trained runs into table rows, recording every number under one name: ``<metric>/<run name>``.

The notebooks' score cells are calls to these functions: each scores one trained model, records its
metrics on the notebook's :class:`gm_lib.results.Recorder` and returns one table row (a dict, column ->
value), so a cell only stacks the rows into a table (``pd.DataFrame(rows)``) and shows it.

Metric names: ``fid/``, ``kid/``, ``sharpness/``, ``mse/`` and ``knn/`` followed by the run's cache name
(``fid/gan_mnist_dcgan``); the real-data floor is ``fid/real`` and ``sharpness/real``. Each metric's meta
holds the model's label (``model``), ``dataset``, ``n`` and ``split`` (and ``preview`` for sample scores),
which the report's summary and published-score tables read. The expensive parts are cached per run by
:mod:`gm_lib.evaluation`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from gm_lib.data import ImageDataset, load_dataset
from gm_lib.evaluation import score_run
from gm_lib.experiments import Run, snapshot_models
from gm_lib.latent import encode_dataset
from gm_lib.metrics import class_coverage, classifier_frechet_distance, fid_floor, knn_accuracy, sharpness
from gm_lib.progress import phase
from gm_lib.results import Recorder

__all__ = ["score_row", "floor_row", "ranking_note", "reconstruction_errors", "snapshot_curve", "knn_row"]

# Codes of this many training images are the kNN classifier's neighbours when the profile keeps every image.
KNN_TRAIN_N = 10_000


def score_row(rec: Recorder, label: str, run: Run, model, history, profile, *, seed: int, classifier=None,
              errors: np.ndarray | None = None) -> dict:
    """Sample scores of one trained model as a table row; records ``fid/``, ``kid/``, ``sharpness/<run name>``.

    The model's ``profile.fid_n`` samples (seeded by ``seed``) are drawn once for every score and the
    scores cached beside the checkpoint (:func:`gm_lib.evaluation.score_run`); FID/KID are against the
    test split of the run's training dataset.

    Args:
        label: the model's name in the table and in each metric's meta (``"WGAN-GP"``).
        history: the run's :class:`gm_lib.train.History` (its wall time is the ``train min`` column).
        profile: a :class:`gm_lib.profiles.Profile` (``fid_n``, ``fid_preview``).
        classifier: a domain classifier: adds ``classes covered`` and ``KL to uniform`` (nats).
        errors: per-image test reconstruction errors ``(N,)`` (:func:`reconstruction_errors`): adds
            ``test MSE``, their mean, and records ``mse/<run name>``.

    Returns:
        ``{"model", "FID", "KID", "KID std", "sharpness", ["classes covered", "KL to uniform"], ["test MSE"],
        "N", "train min"}``.
    """
    dataset = run.data.name
    scores = score_run(run, model, profile.fid_n, reference=f"{dataset}:test", preview=profile.fid_preview,
                       seed=seed, classifier=classifier)
    score = scores.fid
    row = {"model": label, "FID": score.fid, "KID": score.kid_mean, "KID std": score.kid_std,
           "sharpness": scores.sharpness}
    if classifier is not None:
        row |= {"classes covered": scores.classes_covered, "KL to uniform": scores.kl_to_uniform}
    if errors is not None:
        row["test MSE"] = float(np.mean(errors))
    row |= {"N": score.n, "train min": history.wall_time / 60}
    meta = dict(n=score.n, split=score.reference, preview=score.preview, model=label, dataset=dataset)
    rec.metric(f"fid/{run.name}", score.fid, backend=score.backend, **meta)
    rec.metric(f"kid/{run.name}", score.kid_mean, std=score.kid_std, **meta)
    rec.metric(f"sharpness/{run.name}", scores.sharpness, **meta | {"split": "samples"})
    if errors is not None:
        rec.metric(f"mse/{run.name}", row["test MSE"], n=len(errors), split="test", model=label, dataset=dataset)
    return row


def floor_row(rec: Recorder, dataset: str, profile, real: Tensor) -> dict:
    """The real-data row of a score table; records ``fid/real`` and ``sharpness/real``.

    Args:
        dataset: FID floor of its first ``profile.fid_n`` training vs test images
            (:func:`gm_lib.metrics.fid_floor`, cached): a noisy estimate of the distance between two real samples
            of that N, not a bound (a model can score below it).
        real: test images ``(M, C, H, W)`` in ``[0, 1]`` whose sharpness is the data's own.

    Returns:
        ``{"model", "FID", "KID", "KID std", "sharpness", "N"}``; ``N`` is the FID's, and ``model`` is
        ``"real (train vs test)"``, or, when ``M`` differs from it, ``"real (FID: train vs test; sharpness: M test
        images)"``, so the row says what its sharpness is over.
    """
    floor = fid_floor(dataset, profile.fid_n, preview=profile.fid_preview)
    real_sharpness = sharpness(real)
    rec.metric("fid/real", floor.fid, n=floor.n, split=f"{dataset}:train vs test", preview=floor.preview,
               model="real", dataset=dataset, backend=floor.backend)
    rec.metric("sharpness/real", real_sharpness, n=len(real), split="test", model="real", dataset=dataset)
    label = ("real (train vs test)" if len(real) == floor.n else
             f"real (FID: train vs test; sharpness: {len(real):,} test images)")
    return {"model": label, "FID": floor.fid, "KID": floor.kid_mean, "KID std": floor.kid_std,
            "sharpness": real_sharpness, "N": floor.n}


def ranking_note(rows: list[dict], floor: dict, figures: dict[str, str]) -> str:
    """The score table's finding as one markdown paragraph, every number read from ``rows``.

    Args:
        rows: :func:`score_row` rows (``model``, ``FID``, ``sharpness``, optional ``classes covered``).
        floor: the :func:`floor_row` row (FID and sharpness of real images).
        figures: model label -> the figure file that shows its samples (named in the sentence).

    Returns:
        ``"Ranking by FID (N = …; real-vs-real floor …): A 55.1 (samples: x.png) < B … . Sharpness …"``.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("ranking_note needs at least one score row")
    ranked = sorted(rows, key=lambda r: r["FID"])
    order = " < ".join(f"{r['model']} {r['FID']:.1f}" + (f" (samples: {figures[r['model']]})" if r["model"] in
                                                          figures else "") for r in ranked)
    sharpest = max(rows, key=lambda r: r["sharpness"])
    bluntest = min(rows, key=lambda r: r["sharpness"])
    text = (f"Ranking by FID (N = {floor['N']:,}; real-vs-real floor {floor['FID']:.1f}): {order}. "
            f"Sharpness (variance of the Laplacian; real images {floor['sharpness']:.3f}) is highest for "
            f"{sharpest['model']} ({sharpest['sharpness']:.3f}) and lowest for {bluntest['model']} "
            f"({bluntest['sharpness']:.3f}).")
    if any("classes covered" in r for r in rows):
        partial = [f"{r['model']} ({r['classes covered']})" for r in rows if r.get("classes covered", 10) < 10]
        text += (f" Classes covered below 10: {', '.join(partial)}." if partial else
                 " Every model covers all 10 classes (the coverage figure shows them over training).")
    return text


@torch.no_grad()
def reconstruction_errors(model, data: ImageDataset, batch_size: int = 500) -> np.ndarray:
    """Per-image squared error ``||x - x_hat||^2`` (sum over pixels, ``[0, 1]`` scale) of ``model.reconstruct``.

    Returns:
        float array ``(N,)``, in ``data``'s stored order; 0 for a perfect reconstruction.
    """
    errors = []
    with phase(f"reconstruction errors of {len(data)} images", kind="evaluation"):
        for x, _ in data.batches(batch_size):
            x_hat = model.reconstruct(x.to(model.device)).float().cpu()
            errors.append((x_hat - x).pow(2).flatten(1).sum(1))
    return torch.cat(errors).numpy()


@torch.no_grad()
def snapshot_curve(run: Run, classifier, real: Tensor, z: Tensor, n: int = 1000, seed: int = 0,
                   grid_rows: int = 6):
    """Class coverage and classifier Fréchet distance of ``n`` samples at each weight snapshot of ``run``.

    Mode collapse shows as few classes covered and a large KL(class histogram || uniform); the Fréchet
    distance of the classifier's features is a cheap stand-in for FID, affordable at every snapshot.

    Args:
        classifier: the domain classifier (:func:`gm_lib.metrics.get_classifier`).
        real: real images ``(M, C, H, W)`` in ``[0, 1]`` for the Fréchet distance.
        z: fixed latent codes ``(K, d)`` decoded at every snapshot.
        seed: seeds each snapshot's ``n`` samples (the same noise at every step).
        grid_rows: how many snapshots (evenly spaced, first and last included) get an image row: ten rows of
            28×28 images shrink to unreadable stamps on a report page.

    Returns:
        ``(curve, grids)``: a DataFrame with columns ``step``, ``classes covered``, ``KL to uniform`` (nats)
        and ``classifier FD``, one row per snapshot; and ``{"step <s>": decoded z (K, C, H, W)}`` for
        at most ``grid_rows`` of them.
    """
    rows, grids = [], {}
    snapshots = snapshot_models(run)
    shown = set(np.linspace(0, len(snapshots) - 1, min(grid_rows, len(snapshots))).round().astype(int).tolist())
    with phase(f"snapshots of {run.name}", kind="evaluation"):
        for i, (step, snapshot) in enumerate(snapshots):
            fake = snapshot.sample(n, generator=torch.Generator().manual_seed(seed))
            coverage = class_coverage(classifier, fake)
            rows.append({"step": step, "classes covered": coverage.n_covered,
                         "KL to uniform": coverage.kl_to_uniform,
                         "classifier FD": classifier_frechet_distance(classifier, real, fake)})
            if i in shown:
                grids[f"step {step}"] = snapshot.decode(z).cpu()  # decode moves z to the snapshot's device
    return pd.DataFrame(rows), grids


def knn_row(rec: Recorder, label: str, run: Run, model, profile, k: int = 5):
    """kNN accuracy of test codes classified by their ``k`` nearest training codes; records ``knn/<run name>``.

    Codes are ``model.embed`` of the run's training dataset: ``profile.train_subset`` (else
    :data:`KNN_TRAIN_N`) training images and the first ``profile.tsne_n`` test images. No label was
    seen in training, so a high accuracy means classes are neighbours in the latent space.

    Returns:
        ``(row, z_test, y_test)``: the row ``{"model", "latent dim", "kNN accuracy (k=5)", "train codes",
        "test codes"}``, test codes ``(N, d)`` float32 and their labels ``(N,)`` int64.
    """
    name = run.data.name
    with phase(f"kNN accuracy of {run.name}", kind="evaluation"):
        train = load_dataset(name, "train", n=profile.train_subset or KNN_TRAIN_N)
        z_train, y_train = encode_dataset(model.embed, train)
        z_test, y_test = encode_dataset(model.embed, load_dataset(name, "test", n=profile.tsne_n))
        accuracy = knn_accuracy(z_train, y_train, z_test, y_test, k=k)
    rec.metric(f"knn/{run.name}", accuracy, n=len(z_test), split="test", k=k, model=label)
    row = {"model": label, "latent dim": z_test.shape[1], f"kNN accuracy (k={k})": accuracy,
           "train codes": len(z_train), "test codes": len(z_test)}
    return row, z_test, y_test
