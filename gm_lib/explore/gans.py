"""Notebook 03's explorer: a GAN's samples and class histogram over its weight snapshots, and a latent line."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gm_lib.explore.core import Control, Explorer
from gm_lib.explore.drawing import compose_rows, encode_png, format_table

__all__ = ["gan_explorer", "CLASS_NAMES"]

CLASS_NAMES = {"fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                                 "Bag", "Ankle boot")}


def gan_explorer(runs: Mapping[str, Any], z: Tensor, classifier, dataset: str, n: int = 256,
                 seed: int = 0) -> Explorer:
    """Notebook 03: model menu, training-step slider over the weight snapshots, interpolation slider.

    Shows, for the chosen model at the chosen snapshot, the decoded fixed codes ``z``, the class histogram
    of ``n`` samples under the domain classifier (bars, as a share of samples) and the decoded point at
    ``t`` on the line from ``z[0]`` to ``z[1]``. Snapshots are loaded here; before the widgets show, every
    snapshot's codes and histogram are computed (~0.1 s each on 2 cores), so a move only decodes the 3 line points.

    Args:
        runs: label -> :class:`gm_lib.experiments.Run` trained with snapshots (notebook 03's GANs).
        z: fixed codes ``(K, d)``, the notebook's ``z_fixed`` (moved to each model's device).
        classifier: :func:`gm_lib.metrics.get_classifier` of ``dataset``.
    """
    from gm_lib.experiments import snapshot_models
    from gm_lib.metrics import class_coverage

    names = CLASS_NAMES.get(dataset, tuple(str(c) for c in range(10)))
    snapshots = cache(lambda label: snapshot_models(runs[label]))
    count = max(len(snapshots(label)) for label in runs)

    @cache
    def at(label: str, position: int):
        models = snapshots(label)
        step, model = models[round(position * (len(models) - 1) / max(1, count - 1))]
        with torch.no_grad():
            fake = model.sample(n, generator=torch.Generator().manual_seed(seed))
            grid = model.decode(z.to(model.device))
        return step, model, grid, class_coverage(classifier, fake).histogram

    def draw(values):
        step, model, grid, histogram = at(values["model"], values["position"])
        t = values["t"]
        ends = z[:2].to(model.device)
        with torch.no_grad():
            line = model.decode(torch.stack([ends[0], (1 - t) * ends[0] + t * ends[1], ends[1]]))
        image = compose_rows([(f"{len(z)} fixed codes", grid), (f"z0, t = {t:g}, z1", line)])
        bars = "".join(f"<tr><td>{name}</td><td><div style='background:#4c72b0;height:10px;"
                       f"width:{200 * share:.0f}px'></div></td><td>{share:.1%}</td></tr>"
                       for name, share in zip(names, histogram, strict=True))
        text = (format_table([("model", values["model"]), ("generator step", f"{step:,}")])
                + f"<div>classes of {n} samples</div><table style='font-size:11px'>{bars}</table>")
        return encode_png(image), text

    labels = list(runs)
    controls = [Control("model", "model", labels, labels[0], "menu"),
                Control("position", "snapshot", list(range(count)), count - 1),
                Control("t", "interpolation t", [round(v, 1) for v in np.linspace(0, 1, 11)], 0.5)]
    warm = lambda: [at(label, position) for label in labels for position in range(count)]  # ~0.1 s a snapshot
    return Explorer("GAN explorer: samples and class histogram over training, and a latent interpolation",
                    controls, draw, warm=warm)
