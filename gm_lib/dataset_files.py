"""Reading the datasets' raw files (MNIST / Fashion-MNIST IDX, SVHN .mat), or failing clearly; never downloading.

:func:`gm_lib.data.load_dataset` is the entry point; this module turns files in torchvision's raw
layout into uint8 tensors ``(N, C, H, W)`` and int64 labels ``(N,)``, and turns every missing or
damaged file into a :class:`DatasetUnavailable` / :class:`DatasetCorrupt` whose message says the fix
(for missing data: ``make data DATASETS=<name>``, which fetches, checks and installs it).
CelebA's images are read by :mod:`gm_lib.celeba`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "STATIC_BINARIZATION_SEED",
    "DatasetUnavailable",
    "DatasetCorrupt",
    "load_mnist_family",
    "load_svhn",
    "unavailable",
]

# Larochelle & Murray (2011) static binarization: one Bernoulli draw per pixel with p = grey/255,
# made once with this seed so every run, test and notebook sees the same bits.
STATIC_BINARIZATION_SEED = 20110101

_IDX_FOLDERS = {"mnist": "MNIST", "binarized_mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IDX_FILES = {"train": "train", "test": "t10k"}


class DatasetUnavailable(FileNotFoundError):
    """A dataset's files are missing; the message names ``make data DATASETS=<name>``, which fetches them."""


class DatasetCorrupt(ValueError):
    """A dataset file exists but is truncated or not in the expected format."""


# ---------------------------------------------------------------- MNIST and Fashion-MNIST


def load_mnist_family(name, root: Path, split, binarize) -> tuple[Tensor, Tensor]:
    """MNIST, binarized MNIST (static bits, Larochelle's 50k / 10k / 10k) or Fashion-MNIST from the IDX files."""
    file_split = "test" if split == "test" else "train"
    images, labels = _read_idx_split(name, root, file_split)
    if name == "binarized_mnist":
        if binarize == "static":
            # One draw over the whole file (train or test), so the bits do not depend on the split.
            seed = STATIC_BINARIZATION_SEED + (file_split == "test")
            generator = torch.Generator().manual_seed(seed)
            images = torch.bernoulli(images.float() / 255.0, generator=generator).to(torch.uint8) * 255
        if split == "train":
            images, labels = images[:50_000], labels[:50_000]
        elif split == "valid":
            images, labels = images[50_000:], labels[50_000:]
    return images, labels


def _read_idx_split(name, root: Path, split) -> tuple[Tensor, Tensor]:
    folder = root / _IDX_FOLDERS[name] / "raw"
    stem = _IDX_FILES[split]
    image_file, label_file = folder / f"{stem}-images-idx3-ubyte", folder / f"{stem}-labels-idx1-ubyte"
    if not (image_file.exists() and label_file.exists()):
        raise unavailable(name, root, f"{folder}/{{train,t10k}}-*-ubyte")
    images, labels = _read_idx(image_file, ndim=3), _read_idx(label_file, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise DatasetCorrupt(f"{image_file} has {images.shape[0]} images but {label_file} has {labels.shape[0]} labels")
    return images.unsqueeze(1), labels  # (N, 1, 28, 28)


def _read_idx(path: Path, ndim: int) -> Tensor:
    """Read an uncompressed IDX file of uint8 (LeCun's format) with one clear error on damage."""
    data = path.read_bytes()
    header = 4 * (ndim + 1)
    if len(data) < header or data[:4] != bytes([0, 0, 8, ndim]):
        raise DatasetCorrupt(f"{path} is not a uint8 IDX file with {ndim} dims; delete it and restore the original")
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DatasetCorrupt(
            f"{path} is truncated or padded: {len(data)} bytes, expected {expected} for shape {shape}; "
            "restore the original file"
        )
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header).view(*shape)


# ---------------------------------------------------------------- SVHN


def load_svhn(root: Path, split) -> tuple[Tensor, Tensor]:
    """SVHN from ``<root>/SVHN/{split}_32x32.mat``, read with scipy.

    torchvision's SVHN class refuses files whose MD5 differs from the published one (and
    hashing 180 MB costs seconds), so the .mat is read here directly, with the same
    conversion torchvision applies: X (32, 32, 3, N) -> (N, 3, 32, 32), label 10 -> digit 0.
    """
    from scipy.io import loadmat

    folder = root / "SVHN"
    path = folder / f"{split}_32x32.mat"
    if not path.exists():
        raise unavailable("svhn", root, f"{folder}/train_32x32.mat and test_32x32.mat")
    try:
        mat = loadmat(path)
        x, y = mat["X"], mat["y"]
    except Exception as error:  # scipy raises many types for damaged files
        reason = type(error).__name__
        raise DatasetCorrupt(f"{path} cannot be read as SVHN .mat ({reason}); restore the original") from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8 or y.shape[0] != x.shape[3]:
        found = f"X{x.shape} {x.dtype}, y{y.shape}"
        raise DatasetCorrupt(f"{path} holds {found}; expected X (32, 32, 3, N) uint8, y (N, 1)")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    labels = torch.from_numpy(y.reshape(-1).astype(np.int64) % 10)  # SVHN stores digit 0 as 10
    return images, labels


# ---------------------------------------------------------------- a clear error


def unavailable(name: str, root: Path, needs: str) -> DatasetUnavailable:
    """The one-line error for a missing dataset: what is missing, then the command that fetches it.

    Phrased ``<what is missing>: run make data DATASETS=<name> ...`` (the report splits it at ``: run``).
    ``binarized_mnist`` is read from MNIST's files, so it names ``mnist``.
    """
    fetch = "mnist" if name == "binarized_mnist" else name
    return DatasetUnavailable(f"dataset {name!r} not found under {root} (needs {needs}): run make data "
                              f"DATASETS={fetch}, or point GM_DATA_DIR at a folder that has it")
