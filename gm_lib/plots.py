"""Figures the notebooks share: image grids, training curves, estimates with error bars, latents.

Every function returns a matplotlib ``Figure`` (so a notebook can hand it to
:class:`gm_lib.results.Recorder`) and labels its axes. Images are ``(N, C, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import norm
from torch import Tensor
from torchvision.utils import make_grid

__all__ = [
    "image_grid",
    "image_rows",
    "image_matrix",
    "plot_perturbation",
    "IMAGE_INCHES",
    "plot_curves",
    "plot_estimates",
    "plot_latent_histograms",
    "plot_distributions",
    "plot_embedding",
]


def _grid_array(x: Tensor, nrow: int) -> np.ndarray:
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"images must be in [0, 1], got [{x.min():.3g}, {x.max():.3g}]; convert [-1, 1] with (x+1)/2")
    grid = make_grid(x.detach().float().cpu(), nrow=nrow, padding=2, pad_value=1.0)  # (3, H', W')
    return grid.permute(1, 2, 0).numpy()


# Inches per image: at the report's 120 dpi a 28-pixel image is drawn ~100 pixels wide, enough to tell
# a shirt from a pullover (0.45 in, the old size, made Fashion-MNIST samples unreadable in the PDF).
IMAGE_INCHES = 0.8


def image_grid(
    x: Tensor, nrow: int = 8, title: str | None = None, scale: float = IMAGE_INCHES, xlabel: str | None = None
) -> Figure:
    """A grid of images ``(N, C, H, W)`` in ``[0, 1]``, ``nrow`` per row, ``scale`` inches per image.

    ``xlabel`` says what the cells are (e.g. "independent prior samples"); without it the axes are hidden.
    """
    rows = int(np.ceil(len(x) / nrow))
    fig, ax = plt.subplots(figsize=(max(3.0, nrow * scale), max(1.5, rows * scale) + 0.4))
    ax.imshow(_grid_array(x, nrow), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if xlabel:
        ax.set_xlabel(xlabel)
    else:
        ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_rows(rows: Mapping[str, Tensor], scale: float = IMAGE_INCHES, xlabel: str | None = None) -> Figure:
    """One labelled row per entry: ``{label: (n, C, H, W)}`` (e.g. latent vs pixel interpolation).

    ``xlabel`` names what changes along a row (e.g. "interpolation step t = 0 … 1"), under the last row.
    """
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), 1, figsize=(n * scale + 1.8, len(rows) * scale * 1.1 + 0.4), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items(), strict=True):
        ax.imshow(_grid_array(images, nrow=len(images)), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if xlabel:
        axes[-1, 0].set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def image_matrix(
    images: Tensor,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    xlabel: str,
    ylabel: str,
    scale: float = IMAGE_INCHES,
) -> Figure:
    """Images ``(R, K, C, H, W)`` in ``[0, 1]`` as an R×K grid with every row and column labelled.

    Used for latent perturbation (rows: coordinate, columns: offset ε) and similar two-factor grids.

    Raises:
        ValueError: the label counts do not match the grid's rows and columns.
    """
    n_rows, n_cols, _, height, width = images.shape
    if len(row_labels) != n_rows or len(col_labels) != n_cols:
        raise ValueError(f"{n_rows}×{n_cols} images need {n_rows} row and {n_cols} column labels, "
                         f"got {len(row_labels)} and {len(col_labels)}")
    pad = 2  # make_grid's padding
    fig, ax = plt.subplots(figsize=(n_cols * scale + 1.6, n_rows * scale + 1.0))
    ax.imshow(_grid_array(images.flatten(0, 1), nrow=n_cols), interpolation="nearest")
    ax.set_xticks([pad + (width + pad) * j + width / 2 for j in range(n_cols)], list(col_labels), fontsize=8)
    ax.set_yticks([pad + (height + pad) * i + height / 2 for i in range(n_rows)], list(row_labels), fontsize=8)
    ax.tick_params(length=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


def plot_perturbation(grid: Tensor, dims: Sequence[int], eps: Tensor | Sequence[float]) -> Figure:
    """The output of :func:`gm_lib.latent.perturb_latent` ``(len(dims), len(eps), C, H, W)``, labelled.

    Row ``i`` is labelled ``z[dims[i]]``, column ``j`` with its offset ``ε_j``.
    """
    eps = [float(e) for e in eps]
    return image_matrix(grid, [f"z[{d}]" for d in dims], [f"{e:+.1f}" for e in eps],
                        xlabel="offset ε added to the coordinate", ylabel="latent coordinate moved")


def plot_curves(
    frames: Mapping[str, pd.DataFrame],
    columns: Sequence[str],
    x: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    smooth: int = 1,
    logy: bool = False,
    zoom_after: float = 0.0,
) -> Figure:
    """Training curves: one panel per column, one line per frame (e.g. ``{"train": ..., "valid": ...}``).

    Args:
        frames: label -> DataFrame holding ``x`` and the ``columns`` (missing columns are skipped).
        smooth: rolling-mean window (1 = raw).
        zoom_after: fraction of the x range (0 to 1) left out when the y limits are set: the first steps'
            fall (e.g. a VAE's 540 → 100 nats) then runs off the top of the panel, and the late differences
            (train vs validation, a few nats) become visible. 0 shows everything.

    Raises:
        ValueError: ``zoom_after`` outside [0, 1).
    """
    if not 0.0 <= zoom_after < 1.0:
        raise ValueError(f"zoom_after={zoom_after} must be in [0, 1), e.g. 0.05 to leave out the first 5% of steps")
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.2), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        shown = []
        for label, frame in frames.items():
            if column in frame and len(frame):
                y = frame[column].rolling(smooth, min_periods=1).mean()
                ax.plot(frame[x], y, label=label, marker="o" if len(frame) < 30 else None, ms=3)
                shown.append((frame[x], y))
        ax.set_xlabel(x)
        ax.set_ylabel(f"{column} ({ylabel})" if ylabel else column)
        ax.set_title(column)
        if logy:
            ax.set_yscale("log")
        if zoom_after and shown:
            _zoom_y(ax, shown, zoom_after)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _zoom_y(ax, curves: list[tuple[pd.Series, pd.Series]], zoom_after: float) -> None:
    """Y limits spanning the curves' points past the first ``zoom_after`` of the x range, with a 5% margin."""
    xs = pd.concat([x for x, _ in curves])
    start = xs.min() + zoom_after * (xs.max() - xs.min())
    late = pd.concat([y[x >= start] for x, y in curves]).dropna()
    if late.empty:
        return
    low, high = float(late.min()), float(late.max())
    margin = 0.05 * (high - low) or 0.05 * abs(high) or 1.0
    ax.set_ylim(low - margin, high + margin)


def plot_estimates(
    thetas: Sequence[float],
    estimates: Mapping[str, Sequence],
    truths: Mapping[str, np.ndarray],
    xlabel: str = "θ",
    ylabel: str = "distance",
) -> Figure:
    """Estimates with ±2 standard errors against ground-truth curves.

    Args:
        estimates: label -> sequence of objects with ``.value`` and ``.stderr`` (one per theta).
        truths: label -> values on a dense grid ``np.linspace(min(thetas), max(thetas), 401)``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    dense = np.linspace(min(thetas), max(thetas), 401)
    for (label, est), color in zip(estimates.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False):
        values = np.array([e.value for e in est])
        errors = np.array([2 * e.stderr for e in est])
        ax.errorbar(
            thetas, values, yerr=errors, fmt="o", ms=4, capsize=3, color=color, label=f"{label} (estimate ±2 se)"
        )
        if label in truths:
            ax.plot(dense, truths[label], color=color, lw=1.2, alpha=0.7, label=f"{label} (ground truth)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_latent_histograms(codes: Mapping[str, np.ndarray], dims: int = 4, bins: int = 50) -> Figure:
    """Histograms of the first ``dims`` latent coordinates of each model against the N(0, 1) prior."""
    fig, axes = plt.subplots(len(codes), dims, figsize=(2.6 * dims, 2.0 * len(codes)), squeeze=False)
    grid = np.linspace(-4, 4, 200)
    for row, (label, z) in zip(axes, codes.items(), strict=True):
        for i, ax in enumerate(row):
            ax.hist(z[:, i], bins=bins, range=(-4, 4), density=True, alpha=0.7)
            ax.plot(grid, norm.pdf(grid), "k", lw=1)
            ax.set_title(f"{label}: z[{i}]", fontsize=8)
            ax.set_yticks([])
        row[0].set_ylabel("density")
    fig.supxlabel("latent value (black: prior N(0, 1) density)")
    fig.tight_layout()
    return fig


def plot_distributions(values: Mapping[str, np.ndarray], xlabel: str, bins: int = 60) -> Figure:
    """Overlaid histograms, e.g. per-image reconstruction error of each model."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    upper = float(np.percentile(np.concatenate([np.asarray(v) for v in values.values()]), 99.5))
    for label, v in values.items():
        ax.hist(np.asarray(v), bins=bins, range=(0, upper), histtype="step", lw=1.5, label=label, density=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_embedding(points: Mapping[str, np.ndarray], labels: np.ndarray, class_names: Sequence[str] | None = None):
    """2-D scatter per model (e.g. t-SNE), coloured by class."""
    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 4.2), squeeze=False)
    for ax, (title, p) in zip(axes[0], points.items(), strict=True):
        scatter = ax.scatter(p[:, 0], p[:, 1], c=labels, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    cbar = fig.colorbar(scatter, ax=axes[0].tolist(), ticks=range(10), fraction=0.02)
    if class_names:
        cbar.ax.set_yticklabels(class_names, fontsize=7)
    return fig
