"""Offline datasets held in memory as uint8 tensors, served as float batches in [0, 1].

Convention everywhere in gm_lib: images are ``float32`` in ``[0, 1]`` with shape
``(N, C, H, W)``; labels are ``int64`` class indices in ``0..9``. Models that want
``[-1, 1]`` convert explicitly (``2 * x - 1``).

Datasets live under :func:`gm_lib.paths.data_root` (``$GM_DATA_DIR``) in torchvision's
raw layout, so ``torchvision.datasets.MNIST(root, download=False)`` reads the same files:

    MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte
    FashionMNIST/raw/...          (same names)
    SVHN/{train,test}_32x32.mat
    celeba/img_align_celeba/*.jpg, celeba/list_eval_partition.txt   (see gm_lib.celeba)

Each dataset is one uint8 tensor; a batch is a slice, converted to float (and binarized)
on the batch only. No per-item PIL transforms: on a 2-core CPU they cost more than a
small model's step.

Example (one line):
    x, y = next(load_dataset("mnist", "train").stream(batch_size=64))   # x: (64, 1, 28, 28)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from gm_lib.paths import data_root

__all__ = [
    "DATASETS",
    "STATIC_BINARIZATION_SEED",
    "DatasetUnavailable",
    "DatasetCorrupt",
    "DataSpec",
    "ImageDataset",
    "BatchStream",
    "load_dataset",
]

DatasetName = Literal["mnist", "binarized_mnist", "fashion_mnist", "svhn", "celeba"]
Split = Literal["train", "valid", "test"]
Binarization = Literal["none", "static", "dynamic"]

DATASETS: dict[str, tuple[str, ...]] = {
    "mnist": ("train", "test"),
    "binarized_mnist": ("train", "valid", "test"),
    "fashion_mnist": ("train", "test"),
    "svhn": ("train", "test"),
    "celeba": ("train", "valid", "test"),  # the official partition: 162,770 / 19,867 / 19,962
}

# Larochelle & Murray (2011) static binarization: one Bernoulli draw per pixel with p = grey/255,
# made once with this seed so every run, test and notebook sees the same bits.
STATIC_BINARIZATION_SEED = 20110101

_IDX_FOLDERS = {"mnist": "MNIST", "binarized_mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
_IDX_FILES = {"train": "train", "test": "t10k"}
_SVHN_SIZES = {"train": 73_257, "test": 26_032}


class DatasetUnavailable(FileNotFoundError):
    """A dataset's files are missing and cannot be downloaded here."""


class DatasetCorrupt(ValueError):
    """A dataset file exists but is truncated or not in the expected format."""


@dataclass(frozen=True)
class DataSpec:
    """What to load, as plain values (hashable, saved with every checkpoint).

    Attributes:
        name: one of :data:`DATASETS`.
        split: ``train``, ``test`` or (binarized_mnist only) ``valid``.
        n: keep only the first ``n`` images (``None``: all); used by the smoke profile.
        binarize: for ``binarized_mnist``: ``static`` (fixed bits, Larochelle's protocol,
            the default) or ``dynamic`` (fresh Bernoulli draw every batch, as in IWAE).
        holdout: set the last ``holdout`` images of the training file aside for validation
            (``0``: none): split ``train`` is then the images before them and split ``valid``
            exactly them (``n`` applies after), so the two never share an image and the test
            split stays untouched until the final scores. ``binarized_mnist`` has its own
            fixed ``valid`` split (Larochelle's last 10k) and takes no holdout.
    """

    name: DatasetName = "mnist"
    split: Split = "train"
    n: int | None = None
    binarize: Binarization = "none"
    holdout: int = 0

    def load(self) -> ImageDataset:
        """Load the dataset this spec names (see :func:`load_dataset`)."""
        return load_dataset(self.name, self.split, n=self.n, binarize=self.binarize, holdout=self.holdout)


@dataclass
class ImageDataset:
    """One split of a dataset, held in memory.

    Attributes:
        spec: what was loaded.
        images: ``(N, C, H, W)`` uint8 in ``0..255`` (static binarization: ``{0, 255}``).
        labels: ``(N,)`` int64 in ``0..9``.
    """

    spec: DataSpec
    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])

    def to_float(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """uint8 ``(B, C, H, W)`` -> float32 in ``[0, 1]``; dynamic binarization draws bits here."""
        x = images.float().div_(255.0)
        if self.spec.binarize == "dynamic":
            x = torch.bernoulli(x, generator=generator)
        return x

    def tensors(self) -> tuple[Tensor, Tensor]:
        """The whole split as ``(x, y)``: x float ``(N, C, H, W)`` in ``[0, 1]``, y ``(N,)``."""
        generator = torch.Generator().manual_seed(STATIC_BINARIZATION_SEED + 1)
        return self.to_float(self.images, generator), self.labels

    def batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """One pass in stored order (for evaluation); the last batch may be smaller."""
        generator = torch.Generator().manual_seed(STATIC_BINARIZATION_SEED + 1)
        for start in range(0, len(self), batch_size):
            end = start + batch_size
            yield self.to_float(self.images[start:end], generator), self.labels[start:end]

    def stream(self, batch_size: int, seed: int = 0) -> BatchStream:
        """Endless shuffled training batches, reproducible from ``seed`` (see :class:`BatchStream`)."""
        return BatchStream(self, batch_size, seed)

    def subset(self, n: int) -> ImageDataset:
        """The first ``n`` images (datasets are stored in their published, already mixed order)."""
        return ImageDataset(replace(self.spec, n=n), self.images[:n], self.labels[:n])


class BatchStream:
    """Endless shuffled mini-batches by slicing an in-memory tensor; resumable exactly.

    Each epoch uses a permutation drawn from ``(seed, epoch)``; a partial last batch is
    dropped so every step sees ``batch_size`` images. The state is just ``(epoch, position)``,
    so a resumed run sees the very batches an uninterrupted run would have seen.

    Yields:
        ``(x, y)``: x float32 ``(batch_size, C, H, W)`` in ``[0, 1]``, y int64 ``(batch_size,)``.

    Raises:
        ValueError: if ``batch_size`` exceeds the dataset size.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int = 0):
        if not 0 < batch_size <= len(dataset):
            raise ValueError(f"batch_size={batch_size} must be in 1..{len(dataset)} (the dataset size)")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.dataset), generator=generator)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple[Tensor, Tensor]:
        if self.position + self.batch_size > len(self.dataset):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        index = self._order[self.position : self.position + self.batch_size]
        # Dynamic binarization bits depend only on (seed, epoch, position): resumable too.
        generator = torch.Generator().manual_seed(hash((self.seed, self.epoch, self.position)) % 2**62)
        self.position += self.batch_size
        return self.dataset.to_float(self.dataset.images[index], generator), self.dataset.labels[index]

    @property
    def epoch_progress(self) -> float:
        """Epochs completed, as a float (e.g. 2.5)."""
        return self.epoch + self.position / len(self.dataset)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]
        self._order = self._permutation()


def load_dataset(
    name: DatasetName,
    split: Split = "train",
    *,
    n: int | None = None,
    binarize: Binarization | None = None,
    root: str | Path | None = None,
    download: bool | None = None,
    holdout: int = 0,
) -> ImageDataset:
    """Load one split of a dataset into memory.

    Args:
        name: ``mnist``, ``binarized_mnist``, ``fashion_mnist``, ``svhn`` or ``celeba``.
        split: ``train`` / ``test``; ``binarized_mnist`` also has ``valid``
            (Larochelle's 50k / 10k / 10k: MNIST train[:50000], train[50000:], test), ``celeba`` its
            official ``valid``.
        n: keep the first ``n`` images only (CelebA decodes only those).
        binarize: ``binarized_mnist`` only: ``static`` (default) or ``dynamic``.
        holdout: the last ``holdout`` training images form split ``valid`` and are left out of
            ``train`` (see :class:`DataSpec`); not for ``test`` nor ``binarized_mnist``.
        root: dataset root (default :func:`gm_lib.paths.data_root`, i.e. ``$GM_DATA_DIR``).
        download: try torchvision's download when files are missing (default: yes); never tried
            with ``GM_OFFLINE=1`` (tests, CI). Each socket operation times out after
            :data:`DOWNLOAD_TIMEOUT_S` seconds; any failure becomes :class:`DatasetUnavailable`.
            CelebA is never downloaded (Google Drive's quota makes torchvision's download unreliable).

    Returns:
        :class:`ImageDataset` with uint8 images ``(N, 1, 28, 28)`` (MNIST family) or
        ``(N, 3, 32, 32)`` (SVHN) and labels in ``0..9``; CelebA: ``(N, 3, 64, 64)`` cropped and
        resized as in the WAE paper (:mod:`gm_lib.celeba`), labels all 0.

    Raises:
        ValueError: unknown name, split or binarization; a holdout that does not apply or does
            not leave training images.
        DatasetUnavailable: files missing and no download possible (message says where to put them).
        DatasetCorrupt: a file is truncated or malformed (message names the file).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    _check_holdout(name, split, holdout)
    if split not in DATASETS[name] and not (split == "valid" and holdout > 0):
        hint = " or hold out the last K training images with holdout=K" if split == "valid" else ""
        raise ValueError(f"dataset {name!r} has no split {split!r}; choose one of {DATASETS[name]}{hint}")
    if binarize is None:
        binarize = "static" if name == "binarized_mnist" else "none"
    if (name == "binarized_mnist") != (binarize in ("static", "dynamic")):
        raise ValueError(f"binarize={binarize!r} does not apply to {name!r} (static/dynamic are for binarized_mnist)")
    root = Path(root).expanduser() if root is not None else data_root()
    if download is None:
        download = True  # GM_OFFLINE=1 still wins (see _download_or_fail)

    source = "train" if holdout else split  # a held-out validation split comes from the training file
    if name == "celeba":
        from gm_lib.celeba import load_celeba  # JPEG decoding and its cache live in their own module

        images, labels = load_celeba(root, source, None if holdout else n)  # n: decode only what is used
    elif name == "svhn":
        images, labels = _load_svhn(root, source, download)
    else:
        images, labels = _load_mnist_family(name, root, source, binarize, download)
    if holdout:
        images, labels = _hold_out(images, labels, holdout, split)
    spec = DataSpec(name, split, n, binarize, holdout)
    dataset = ImageDataset(spec, images.contiguous(), labels.long())
    return dataset.subset(n) if n is not None else dataset


def _check_holdout(name: str, split: str, holdout: int) -> None:
    if holdout < 0:
        raise ValueError(f"holdout={holdout} must be >= 0 (the number of training images set aside)")
    if holdout and name == "binarized_mnist":
        raise ValueError("binarized_mnist has its fixed valid split (Larochelle's): use split='valid' and holdout=0")
    if holdout and split == "test":
        raise ValueError("holdout sets training images aside; it does not apply to split='test' (use holdout=0)")


def _hold_out(images: Tensor, labels: Tensor, holdout: int, split: str) -> tuple[Tensor, Tensor]:
    """``train``: images ``[0, N - holdout)``; ``valid``: ``[N - holdout, N)`` of the training file."""
    if holdout >= len(images):
        raise ValueError(f"holdout={holdout} leaves no training images (the training file has {len(images)})")
    cut = len(images) - holdout
    return (images[:cut], labels[:cut]) if split == "train" else (images[cut:], labels[cut:])


# ---------------------------------------------------------------- MNIST and Fashion-MNIST


def _load_mnist_family(name, root: Path, split, binarize, download) -> tuple[Tensor, Tensor]:
    file_split = "test" if split == "test" else "train"
    images, labels = _read_idx_split(name, root, file_split, download)
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


def _read_idx_split(name, root: Path, split, download) -> tuple[Tensor, Tensor]:
    folder = root / _IDX_FOLDERS[name] / "raw"
    stem = _IDX_FILES[split]
    image_file, label_file = folder / f"{stem}-images-idx3-ubyte", folder / f"{stem}-labels-idx1-ubyte"
    if not (image_file.exists() and label_file.exists()):
        _download_or_fail(name, root, folder, download)
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


def _load_svhn(root: Path, split, download) -> tuple[Tensor, Tensor]:
    """SVHN from ``<root>/SVHN/{split}_32x32.mat``, read with scipy.

    torchvision's SVHN class refuses files whose MD5 differs from the published one (and
    hashing 180 MB costs seconds), so the .mat is read here directly, with the same
    conversion torchvision applies: X (32, 32, 3, N) -> (N, 3, 32, 32), label 10 -> digit 0.
    """
    from scipy.io import loadmat

    folder = root / "SVHN"
    path = folder / f"{split}_32x32.mat"
    if not path.exists():
        _download_or_fail("svhn", root, folder, download, split=split)
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


# ---------------------------------------------------------------- download or a clear error


DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation: an unreachable dataset server fails in seconds, not minutes


@contextmanager
def _socket_timeout(seconds: float):
    """torchvision's downloader opens URLs without a timeout; bound every socket it opens meanwhile."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download_or_fail(name: str, root: Path, folder: Path, download: bool, split: str = "train") -> None:
    """Try torchvision's download (only when allowed and GM_OFFLINE is not 1); any failure -> DatasetUnavailable."""
    # Name every file the notebooks need, so one fix is enough (not one missing file per attempt).
    files = "train_32x32.mat and test_32x32.mat" if name == "svhn" else "the IDX files"
    fix = f"put {files} in {folder} (torchvision's layout) or point GM_DATA_DIR at a folder that has them"
    if os.environ.get("GM_OFFLINE") == "1":
        offline = "GM_OFFLINE=1, so no download was tried"
        raise DatasetUnavailable(f"dataset {name!r} not found under {root} ({offline}): {fix}")
    if not download:
        raise DatasetUnavailable(f"dataset {name!r} not found under {root}: {fix}")
    from torchvision import datasets

    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            if name == "svhn":
                datasets.SVHN(str(folder), split=split, download=True)
            else:
                cls = datasets.FashionMNIST if name == "fashion_mnist" else datasets.MNIST
                cls(str(root), train=True, download=True)
                cls(str(root), train=False, download=True)
    except Exception as error:  # no network, a server down, a timeout, a bad checksum: all mean "not here"
        reason = " ".join(str(error).split())[:160]  # torchvision's message spans lines: keep one
        message = f"dataset {name!r} not found under {root} and download failed ({reason}): {fix}"
        raise DatasetUnavailable(message) from None
