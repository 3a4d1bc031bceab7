"""CelebA at 64×64, preprocessed as in the WAE paper, held in memory as uint8.

Layout: torchvision's ``CelebA`` under ``$GM_DATA_DIR`` (only these two entries are read)::

    celeba/img_align_celeba/000001.jpg ... 202599.jpg   aligned faces, 178×218 RGB JPEG
    celeba/list_eval_partition.txt                      "000001.jpg 0" per line: 0 train, 1 valid, 2 test

Preprocessing (Tolstikhin et al. 2018, official code ``datahandler.py``, "closecrop", as in DCGAN):
centre crop 140×140 (box (19, 39, 159, 179) on a 178×218 image), then a Lanczos resize to 64×64.

Why not ``torchvision.datasets.CelebA``: its constructor refuses to load unless five annotation
files (identities, attributes, boxes, landmarks, partition) exist *and* match their published MD5s,
although only the partition is needed here, and it decodes one JPEG per item on every access. Here
the split is decoded once (PIL, threads: decoding releases the GIL) into one uint8 tensor
``(N, 3, 64, 64)`` and cached in ``$GM_CACHE_DIR/celeba64/``, keyed by the decoding code this process
imported, PIL's version and each file's name, size and modification time (see :func:`cache_path`).

``make data DATASETS=celeba`` writes this layout from a Hub mirror (a file may then hold PNG bytes under
a ``.png`` name: the partition file names every image, and PIL reads either format).

Memory: uint8 in memory, float only per batch (``ImageDataset.to_float``): the full train split
(162,770 images) is 2.0 GB as uint8 instead of 8 GB as float32; ``n`` decodes only the first ``n``.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gm_lib.cache import atomic_write, key_digest
from gm_lib.dataset_files import DatasetCorrupt, DatasetUnavailable
from gm_lib.paths import cache_dir

__all__ = ["CELEBA_CROP", "CELEBA_SIZE", "CELEBA_SPLITS", "CELEBA_FOLDER", "preprocess_celeba", "load_celeba",
           "cache_path"]

CELEBA_CROP = 140  # centre crop side, pixels of the 178×218 aligned image (WAE paper, "closecrop")
CELEBA_SIZE = 64  # side after the resize
CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2}  # codes in list_eval_partition.txt (torchvision's split_map)
CELEBA_FOLDER = "celeba"
_IMAGES, _PARTITION = "img_align_celeba", "list_eval_partition.txt"


def preprocess_celeba(image) -> np.ndarray:
    """Centre crop ``CELEBA_CROP``² and Lanczos-resize to ``CELEBA_SIZE``² (the WAE paper's "closecrop").

    Args:
        image: a PIL image at least 140×140 (CelebA's aligned images are 178×218).
    Returns:
        uint8 ``(64, 64, 3)`` RGB.
    Raises:
        ValueError: if the image is smaller than the crop.
    """
    from PIL import Image

    width, height = image.size
    if min(width, height) < CELEBA_CROP:
        raise ValueError(f"image is {width}×{height}; the crop needs at least {CELEBA_CROP}×{CELEBA_CROP}")
    left, top = (width - CELEBA_CROP) // 2, (height - CELEBA_CROP) // 2
    box = (left, top, left + CELEBA_CROP, top + CELEBA_CROP)
    # Lanczos = PIL's old ANTIALIAS, the official code's filter.
    resized = image.convert("RGB").crop(box).resize((CELEBA_SIZE, CELEBA_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


def load_celeba(root: Path, split: str, n: int | None = None) -> tuple[Tensor, Tensor]:
    """One CelebA split as uint8 ``(N, 3, 64, 64)`` images and ``(N,)`` int64 labels (all 0: CelebA has no classes).

    Images keep the partition file's order; ``n`` keeps the first ``n`` of the split (only those are decoded).
    The decoded tensor is cached under ``$GM_CACHE_DIR/celeba64/`` (:func:`cache_path`), so a replaced file,
    an edit of the decoding code or another PIL version decodes again.

    Raises:
        DatasetUnavailable: the image folder or the partition file is missing (the message says where to put them).
        DatasetCorrupt: a malformed partition line, a listed image missing or unreadable (each named).
    """
    folder = root / CELEBA_FOLDER
    images_dir, partition = folder / _IMAGES, folder / _PARTITION
    if not (images_dir.is_dir() and partition.is_file()):
        raise DatasetUnavailable(
            f"dataset 'celeba' not found under {root} (needs {images_dir} and {partition}): run make data "
            f"DATASETS=celeba, or put img_align_celeba/ and {_PARTITION} in {folder} (torchvision's CelebA layout)"
        )
    names = _split_names(partition, CELEBA_SPLITS[split])
    if not names:
        raise DatasetCorrupt(f"{partition} lists no image for split {split!r} (code {CELEBA_SPLITS[split]}); "
                             "restore the original")
    names = names[:n]
    paths = [images_dir / name for name in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetCorrupt(
            f"{partition} lists {len(missing)} image(s) missing from {images_dir} (first: {missing[0].name}): "
            "unzip img_align_celeba.zip there again"
        )
    cache = cache_path(split, paths)
    if cache.is_file():
        images = torch.load(cache, weights_only=True)
    else:
        images = _decode_all(paths)
        atomic_write(cache, obj=images)
    return images, torch.zeros(len(images), dtype=torch.int64)


def _split_names(partition: Path, code: int) -> list[str]:
    """File names whose partition code is ``code``, in file order."""
    names = []
    for number, line in enumerate(partition.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DatasetCorrupt(
                f"{partition}, line {number}: {line!r} is not '<file>.jpg <0|1|2>'; restore the original")
        if int(fields[1]) == code:
            names.append(fields[0])
    return names


def cache_path(split: str, paths: list[Path]) -> Path:
    """Where the decoded split is cached: ``$GM_CACHE_DIR/celeba64/<split>-n<N>-<key>.pt``.

    The key (:func:`gm_lib.cache.key_digest`) covers what decides the decoded pixels: this module's code as the
    process imported it (crop, resize, decode loop), PIL's version (its JPEG / PNG decoders and Lanczos filter), and
    each file's name, size and modification time (a file replaced by another of equal size still has a new mtime;
    hashing the contents would read gigabytes on every load).
    """
    from PIL import __version__ as pil_version

    files = hashlib.sha256()
    for path in paths:
        stat = path.stat()
        files.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    digest = key_digest({"pil": pil_version, "files": files.hexdigest()}, (__name__,))
    return cache_dir("celeba64") / f"{split}-n{len(paths)}-{digest}.pt"


def _decode_all(paths: list[Path]) -> Tensor:
    """Decode and preprocess every file, in order: uint8 ``(N, 3, 64, 64)``."""
    from PIL import Image, UnidentifiedImageError

    def decode(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                return preprocess_celeba(image)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise DatasetCorrupt(f"{path} cannot be read as a CelebA image ({error}); restore the original") from None

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        arrays = list(pool.map(decode, paths))
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())  # (N, H, W, 3) -> (N, 3, H, W)
