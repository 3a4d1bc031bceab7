"""Notebook 05's explorer: a model's t-SNE map; a click on a point shows its test image and label."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from torch import Tensor

from gm_lib.explore.core import Control, Explorer
from gm_lib.explore.drawing import encode_png, figure_to_png, format_table, load_font, tile_images

__all__ = ["tsne_explorer"]


def tsne_explorer(points: Mapping[str, np.ndarray], data: Mapping[str, tuple[Tensor, Any]],
                  class_names: Sequence[str] | None = None) -> Explorer:
    """Notebook 05: model menu and the t-SNE map; clicking a point shows its test image and label.

    Args:
        points: label -> t-SNE coordinates ``(N, 2)`` of that model's test codes.
        data: label -> ``(x (N, C, H, W) in [0, 1], y (N,))``, the test images the codes came from, same order.
        class_names: names of the classes (default: the digits 0–9).
    """
    names = class_names or [str(c) for c in range(10)]

    @cache
    def scatter(label: str):
        """The map as a PIL image and every point's pixel position on it."""
        import matplotlib.pyplot as plt

        p, y = np.asarray(points[label]), np.asarray(data[label][1])
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        ax.scatter(p[:, 0], p[:, 1], c=y, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label}: click a point", fontsize=9)
        fig.tight_layout()
        fig.canvas.draw()
        pixels = ax.transData.transform(p) * 80 / fig.dpi  # (N, 2), origin bottom left, at the PNG's 80 dpi
        image = Image.open(io.BytesIO(figure_to_png(fig))).convert("RGB")
        pixels[:, 1] = image.height - pixels[:, 1]
        return image, pixels

    def draw(values):
        label, index = values["model"], min(values["point"], len(points[values["model"]]) - 1)
        base, pixels = scatter(label)
        x, y = data[label]
        canvas = Image.new("RGB", (base.width + 200, base.height), "white")
        canvas.paste(base, (0, 0))
        marker = ImageDraw.Draw(canvas)
        cx, cy = pixels[index]
        marker.ellipse((cx - 7, cy - 7, cx + 7, cy + 7), outline="black", width=3)
        tile = tile_images(x[index : index + 1], scale=6)
        canvas.paste(tile, (base.width + (200 - tile.width) // 2, 40))
        name = names[int(y[index])]
        marker.text((base.width + 100, 50 + tile.height), f"label: {name}", fill="black", font=load_font(16),
                    anchor="ma")
        text = format_table([("model", label), ("test point", index), ("label", name)])
        return encode_png(canvas), text

    def clicked(values, fx, fy):
        base, pixels = scatter(values["model"])
        width = base.width + 200
        distance = np.hypot(pixels[:, 0] - fx * width, pixels[:, 1] - fy * base.height)
        return {"point": int(distance.argmin())} if fx * width < base.width else None  # nearest point on the map

    labels = list(points)
    n = max(len(p) for p in points.values())
    controls = [Control("model", "model", labels, labels[0], "menu"), Control("point", "point", list(range(n)), 0)]
    return Explorer("t-SNE explorer: click a point to see its test image and label", controls, draw, on_click=clicked)
