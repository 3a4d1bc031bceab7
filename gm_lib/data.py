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

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from gm_lib.celeba import load_celeba  # JPEG decoding and its cache live in their own module
from gm_lib.dataset_files import (  # the raw-file readers; their errors and constants are part of this API
    STATIC_BINARIZATION_SEED,
    DatasetCorrupt,
    DatasetUnavailable,
    load_mnist_family,
    load_svhn,
)
from gm_lib.paths import data_root

__all__ = [
    "DATASETS",
    "READERS",
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

# The module that reads each dataset's files: a run's cache key covers its own dataset's reader and not the
# others' (gm_lib.runs.training_code), so a CelebA edit retrains no MNIST model.
READERS: dict[str, str] = {
    "mnist": "gm_lib.dataset_files",
    "binarized_mnist": "gm_lib.dataset_files",
    "fashion_mnist": "gm_lib.dataset_files",
    "svhn": "gm_lib.dataset_files",
    "celeba": "gm_lib.celeba",
}

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
        root: dataset root (default :func:`gm_lib.paths.data_root`, i.e. ``$GM_DATA_DIR``). Nothing is ever
            downloaded here: ``make data DATASETS=<name>`` fetches, checks and installs a dataset.

    Returns:
        :class:`ImageDataset` with uint8 images ``(N, 1, 28, 28)`` (MNIST family) or
        ``(N, 3, 32, 32)`` (SVHN) and labels in ``0..9``; CelebA: ``(N, 3, 64, 64)`` cropped and
        resized as in the WAE paper (:mod:`gm_lib.celeba`), labels all 0.

    Raises:
        ValueError: unknown name, split or binarization; a holdout that does not apply or does
            not leave training images.
        DatasetUnavailable: files missing (the message names ``make data DATASETS=<name>``).
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

    source = "train" if holdout else split  # a held-out validation split comes from the training file
    if name == "celeba":
        images, labels = load_celeba(root, source, None if holdout else n)  # n: decode only what is used
    elif name == "svhn":
        images, labels = load_svhn(root, source)
    else:
        images, labels = load_mnist_family(name, root, source, binarize)
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
