"""Exercises of notebook 05: kNN accuracy on a held-out split, and the straight latent path.

References: :func:`gm_lib.metrics.knn_accuracy` and :func:`gm_lib.latent.interpolate_latent`.
"""

from __future__ import annotations

import numpy as np
import torch

from gm_lib.exercises.core import Exercise, Property, close, diagnose, register
from gm_lib.latent import interpolate_latent
from gm_lib.metrics import knn_accuracy

__all__ = ["KNN_ACCURACY", "INTERPOLATE"]

# ---------------------------------------------------------------- 05.1 kNN accuracy


def _codes(n: int, rng: np.random.Generator, noise: float = 0.3):
    """Three overlapping clusters in 2-D with 20 % of the labels flipped: no k reaches accuracy 1."""
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.8]])
    z = centres[y] + noise * rng.standard_normal((n, 2))
    flip = rng.random(n) < 0.2
    y = np.where(flip, rng.integers(0, 3, n), y)
    return z.astype(np.float32), y.astype(np.int64)


def _knn_fraction(answer) -> str | None:
    rng = np.random.default_rng(0)
    out = answer(*_codes(200, rng), *_codes(100, rng), 5)
    if not isinstance(out, float | np.floating) or not 0.0 <= out <= 1.0:
        if isinstance(out, float | int | np.number) and 1.0 < out <= 100.0:
            return "accuracy is a fraction in [0, 1], not a percentage"
        return f"return a float in [0, 1] (got {out!r}): the fraction of test codes classified correctly"
    return None


def _knn_held_out(answer) -> str | None:
    rng = np.random.default_rng(1)
    train, test = _codes(300, rng), _codes(150, rng)
    if close(answer(*train, *test, 1), 1.0):
        return ("accuracy 1 at k = 1 on labels with 20 % noise: each code is its own nearest neighbour; fit on "
                "the training codes and classify the held-out test codes, never the same set")
    return None


def _vote_bounds(train, test, k: int) -> tuple[float, float]:
    """The accuracy range over every rule for breaking vote ties: ``(low, high)``.

    A test code counts for ``low`` when its label wins the vote of its ``k`` nearest training codes (the
    neighbours of scikit-learn's search, which :func:`gm_lib.metrics.knn_accuracy` uses) outright, for ``high``
    when it is among the tied winners; any tie rule (smallest label, nearest neighbour, first seen) lies in
    between, and the reference itself is one of them.
    """
    from sklearn.neighbors import NearestNeighbors

    (z_train, y_train), (z_test, y_test) = train, test
    _, nearest = NearestNeighbors(n_neighbors=k).fit(z_train).kneighbors(z_test)  # (M, k) indices
    votes = np.stack([np.bincount(row, minlength=y_train.max() + 1) for row in y_train[nearest]])  # (M, classes)
    mine = votes[np.arange(len(y_test)), y_test]
    top = votes.max(1)
    winners = (votes == top[:, None]).sum(1)
    return float(np.mean((mine == top) & (winners == 1))), float(np.mean(mine == top))


def _knn_values(answer) -> str | None:
    rng = np.random.default_rng(2)
    train, test = _codes(400, rng), _codes(200, rng)
    for k in (1, 4, 5, 15):  # k = 4: many 2–2 votes, where tie rules differ
        low, high = _vote_bounds(train, test, k)
        out = answer(*train, *test, k)
        if low - 1e-9 <= out <= high + 1e-9:
            continue
        ref = knn_accuracy(*train, *test, k=k)
        known = {"that is the error rate: accuracy is the fraction of test codes whose predicted class is their "
                 "label": 1.0 - ref}
        if k != 5:
            known["the k given is ignored: classify by the k nearest training codes"] = knn_accuracy(*train, *test)
        hint = diagnose(out, ref, known, f"knn_accuracy at k = {k}", atol=1e-9)
        tie = f" (any tie rule gives {low:.4f} … {high:.4f})" if high > low else ""
        return (hint or "") + tie + (" (Euclidean distance, majority vote)" if "differ" in (hint or "") else "")
    return None


KNN_ACCURACY = register(Exercise(
    "knn_accuracy", "05.1", "kNN accuracy of test codes against training codes",
    "gm_lib.metrics.knn_accuracy",
    (Property("a fraction", _knn_fraction),
     Property("held out", _knn_held_out),
     Property("equals knn_accuracy", _knn_values)),
))

# ---------------------------------------------------------------- 05.2 latent interpolation


def _reference_path(z0, z1, steps):
    return interpolate_latent(lambda z: z, z0, z1, steps)  # decode = identity: the codes themselves


def _ip_shape(answer) -> str | None:
    out = answer(torch.zeros(4), torch.ones(4), 7)
    if not isinstance(out, torch.Tensor) or out.shape != (7, 4):
        return "return the codes along the path as rows, shape (steps, d)"
    return None


def _ip_ends(answer) -> str | None:
    z0, z1 = torch.randn(5), torch.randn(5)
    out = answer(z0, z1, 10)
    if close(out[0], z1) and close(out[-1], z0):
        return "reversed: row 0 must be z0 and the last row z1"
    if not (close(out[0], z0) and close(out[-1], z1)):
        return "the first and last rows must be z0 and z1 exactly: t runs over 0 … 1 inclusive (torch.linspace)"
    return None


def _ip_values(answer) -> str | None:
    z0, z1 = torch.randn(6), torch.randn(6)
    for steps in (2, 5, 10):
        hint = diagnose(answer(z0, z1, steps), _reference_path(z0, z1, steps), {},
                        f"interpolate_latent at steps = {steps}")
        if hint:
            return hint + ": interpolate linearly, (1 − t)·z0 + t·z1 with t = linspace(0, 1, steps)"
    return None


INTERPOLATE = register(Exercise(
    "interpolate", "05.2", "the straight path between two codes, (1 − t)·z0 + t·z1",
    "gm_lib.latent.interpolate_latent",
    (Property("(steps, d)", _ip_shape),
     Property("starts at z0, ends at z1", _ip_ends),
     Property("equals interpolate_latent", _ip_values)),
))
