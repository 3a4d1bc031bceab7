"""Command line: ``python -m gm_lib.metrics fid A B [--n N] [--kid]``.

A and B are each a folder of image files (png/jpg) or a dataset spec (``mnist:test``). Both sides use
the same N (default: the smaller side). Prints FID (and KID) with N, like ``python -m pytorch_fid A B``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from gm_lib.metrics.fid import (
    MIN_FID_SAMPLES,
    FIDResult,
    ReferenceStatistics,
    feature_backend,
    feature_statistics,
    inception_features,
    load_reference_images,
    reference_statistics,
    score_features,
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def _load_folder(folder: Path, n: int | None) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` from image files in sorted order, read as pytorch-fid does (PIL, RGB)."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:n]
    if not files:
        raise ValueError(f"{folder} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"images in {folder} differ in size; resize them to one size first")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _side(source: str, n: int | None) -> int | torch.Tensor:
    path = Path(source)
    if path.is_dir():
        return _load_folder(path, n)
    if ":" not in source:
        raise ValueError(f"{source!r} is neither a folder nor a dataset spec like mnist:test")
    return len(load_reference_images(source, n))


def run_fid(a: str, b: str, n: int | None, kid: bool, preview: bool) -> FIDResult:
    """FID (and KID) of ``a`` against ``b`` on the first ``n`` images of each (default: the smaller side's count).

    Raises:
        ValueError: a folder holds fewer than ``n`` images (it would be scored at its own count while the result
            says N), a dataset split is smaller than ``n``, or ``n < 2048`` without ``preview``.
    """
    sides = {s: _side(s, n) for s in (a, b)}
    counts = {s: v if isinstance(v, int) else len(v) for s, v in sides.items()}
    if n is not None:
        for source, count in counts.items():
            if count < n:
                raise ValueError(f"{source} holds {count} images, fewer than --n {n}: add images to it or pass "
                                 f"--n {count}")
    n = min(counts.values()) if n is None else n
    if n < MIN_FID_SAMPLES and not preview:
        raise ValueError(f"only {n} images: FID needs at least {MIN_FID_SAMPLES} (or --preview for a smoke run)")

    def stats(source: str) -> ReferenceStatistics:
        value = sides[source]
        if isinstance(value, int):
            return reference_statistics(source, n, preview=preview, progress=True)
        features = inception_features(value[:n], preview=preview, progress=True)
        return ReferenceStatistics(source, n, *feature_statistics(features), features, feature_backend())

    left, right = stats(a), stats(b)
    return score_features(left.features.astype(np.float64), right, kid, preview, left.spec, left.backend)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gm_lib.metrics", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fid_parser = commands.add_parser("fid", help="FID (and KID) between two image sets")
    fid_parser.add_argument("a", help="folder of images or dataset spec (mnist:test)")
    fid_parser.add_argument("b", help="folder of images or dataset spec (mnist:train)")
    fid_parser.add_argument("--n", type=int, default=None, help="images per side (default: the smaller side)")
    fid_parser.add_argument("--kid", action="store_true", help="also report KID")
    fid_parser.add_argument("--preview", action="store_true", help="allow N < 2048 and bf16; not for reports")
    args = parser.parse_args(argv)
    try:
        print(run_fid(args.a, args.b, args.n, args.kid, args.preview))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
