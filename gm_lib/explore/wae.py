"""Notebook 04's explorer: one latent code, from the chosen model's encoder, decoded by every model side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import torch
from PIL import Image, ImageDraw
from torch import Tensor

from gm_lib.explore.core import Control, Explorer
from gm_lib.explore.drawing import encode_png, format_table, load_font, slider_offsets, tile_images

__all__ = ["autoencoder_explorer"]


def autoencoder_explorer(models: Mapping[str, Any], x: Tensor, dims: int = 8, images: int = 20) -> Explorer:
    """Notebook 04: the code of a test image under the chosen model's encoder, moved by sliders, decoded by all.

    Every model of notebook 04 shares the latent size and the N(0, I) prior, so one code can be decoded by
    each: where the decoders agree the latent spaces are alike, where they differ each model has its own.

    Args:
        models: label -> trained autoencoder (``embed``, ``decode``), all with the same ``latent_dim``.
        x: test images ``(N, C, H, W)`` in ``[0, 1]``; the first ``images`` can be chosen.
        dims: latent coordinates with a slider (offset ε in [−4, 4]).
    """
    labels = list(models)
    dims = min(dims, min(m.latent_dim for m in models.values()))

    @cache
    def code(label: str, index: int) -> Tensor:
        model = models[label]
        return model.embed(x[index : index + 1].to(model.device)).float().cpu()  # (1, d)

    def draw(values):
        z = code(values["source"], values["index"]).clone()
        z[0, :dims] += torch.tensor([values[f"z{i}"] for i in range(dims)])
        with torch.no_grad():
            decoded = [m.decode(z.to(m.device)).cpu() for m in models.values()]
        rows = [("test image", x[values["index"] : values["index"] + 1])]
        rows += [(label + (" (encoder)" if label == values["source"] else ""), d) for label, d in zip(labels, decoded,
                                                                                                      strict=True)]
        moved = ", ".join(f"z[{i}] {values[f'z{i}']:+g}" for i in range(dims) if values[f"z{i}"]) or "none"
        text = format_table([("code", f"{values['source']} encoder of test image {values['index']}"),
                             ("offsets", moved)])
        return encode_png(_side_by_side(rows)), text

    controls = [Control("source", "encode with", labels, labels[0], "menu"),
                Control("index", "test image", list(range(min(images, len(x)))), 0)]
    controls += [Control(f"z{i}", f"offset on z[{i}]", slider_offsets(), 0.0) for i in range(dims)]
    return Explorer("Autoencoder explorer: one latent code decoded by every model", controls, draw)


def _side_by_side(columns: Sequence[tuple[str, Tensor]], width: int = 120) -> Image.Image:
    """One image per column ``(label, (1, C, H, W))`` with its label underneath, wrapped to ``width`` pixels."""
    tiles = [tile_images(image) for _, image in columns]
    width = max(width, *(tile.width + 8 for tile in tiles))  # 64×64 CelebA images are drawn 204 px wide
    canvas = Image.new("RGB", (width * len(columns), max(tile.height for tile in tiles) + 40), "white")
    draw = ImageDraw.Draw(canvas)
    for i, ((label, _), tile) in enumerate(zip(columns, tiles, strict=True)):
        canvas.paste(tile, (i * width + (width - tile.width) // 2, 0))
        words = label.replace(" (", "\n(")
        draw.multiline_text((i * width + width // 2, tile.height + 2), words, fill="black", font=load_font(11),
                            anchor="ma", align="center")
    return canvas
