"""What the explorers draw with: image tiles and labelled rows (PIL, so a move costs milliseconds), a matplotlib
figure as PNG bytes, and the HTML table of numbers shown beside a picture."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torchvision.utils import make_grid

__all__ = ["SCALE", "encode_png", "tile_images", "load_font", "compose_rows", "figure_to_png", "format_table",
           "slider_offsets"]

SCALE = 3  # screen pixels per image pixel: a 28×28 digit is drawn 84 px wide


def encode_png(image: Image.Image) -> bytes:
    """``image`` as PNG bytes (fast compression: a redraw's PNG costs milliseconds)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def tile_images(x: Tensor, scale: int = SCALE) -> Image.Image:
    """Images ``(N, C, H, W)`` in ``[0, 1]`` side by side, ``scale`` screen pixels per pixel."""
    grid = make_grid(x.detach().float().cpu().clamp(0, 1), nrow=len(x), padding=2, pad_value=1.0)  # (3, H', W')
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(array)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


@cache
def load_font(size: int = 13) -> ImageFont.ImageFont:
    """PIL's default font at ``size`` pixels (loaded once per size)."""
    return ImageFont.load_default(size=size)


def compose_rows(rows: Sequence[tuple[str, Tensor]], label_width: int = 150) -> Image.Image:
    """One labelled row per ``(label, images (n, C, H, W))``, stacked; white background."""
    tiles = [(label, tile_images(x)) for label, x in rows]
    width = label_width + max(t.width for _, t in tiles)
    canvas = Image.new("RGB", (width, sum(t.height + 4 for _, t in tiles)), "white")
    draw, top = ImageDraw.Draw(canvas), 0
    for label, tile in tiles:
        canvas.paste(tile, (label_width, top))
        draw.multiline_text((4, top + tile.height // 2), label, fill="black", font=load_font(), anchor="lm")
        top += tile.height + 4
    return canvas


def figure_to_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes at 80 dpi; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def format_table(rows: Sequence[tuple[str, str]]) -> str:
    """``(name, value)`` pairs as a two-column HTML table, values in bold."""
    cells = "".join(f"<tr><td style='padding-right:1em'>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def slider_offsets(low: float = -4.0, high: float = 4.0, step: float = 0.5) -> list[float]:
    """A latent slider's offsets: ``low`` to ``high`` inclusive in ``step`` s (0 among them for the defaults)."""
    return [round(float(v), 2) for v in np.arange(low, high + step / 2, step)]
