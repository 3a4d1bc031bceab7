"""Where each dataset comes from, pinned: torchvision's own URLs and MD5s, and Hugging Face Hub mirrors.

A dataset has sources tried in order (the first that succeeds wins). Hub mirrors are pinned at a full commit
where one is known; a test (or a user who wants another revision) replaces the pins with a JSON file named by
``GM_DATA_PINS``::

    {"<owner>/<repo>": {"revision": "<40-hex commit>",
                        "files": {"<path in repo>": {"size": <bytes>, "sha256": "<hex>", "rows": <n>}}}}

``files`` then replaces the list of files fetched from that repository (``size``, ``sha256`` and ``rows`` are
each optional: the Hub's listing gives size and sha256; ``rows`` for every file of a split replaces the split's
expected size).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PINS_ENV", "DATASETS", "HubSource", "UrlFile", "UrlSource", "DriveSource", "Dataset", "PinnedFile",
           "dataset", "missing_files", "load_pins"]

PINS_ENV = "GM_DATA_PINS"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class PinnedFile:
    """One file of a Hub mirror: its path and what it must be (``None``: take the Hub's listing)."""

    path: str
    split: str
    size: int | None = None
    sha256: str | None = None
    rows: int | None = None


@dataclass(frozen=True)
class HubSource:
    """A parquet mirror on the Hugging Face Hub; ``convert`` names the function of :mod:`.convert` that lays it out."""

    repo: str
    files: tuple[PinnedFile, ...]
    split_rows: dict[str, int]  # expected rows per split (the official counts)
    convert: str
    revision: str | None = None  # None: resolve main once and record it in SOURCE.json
    kind: str = "hub"

    @property
    def label(self) -> str:
        return f"Hub mirror {self.repo}"


@dataclass(frozen=True)
class UrlFile:
    url: str
    md5: str
    target: str  # path under the dataset's folder
    gunzip: bool = False


@dataclass(frozen=True)
class UrlSource:
    """Files from the dataset's own servers, as torchvision downloads them (its URLs, its MD5s)."""

    files: tuple[UrlFile, ...]
    kind: str = "url"

    @property
    def label(self) -> str:
        return f"torchvision's source {self.files[0].url.rsplit('/', 1)[0]}"


@dataclass(frozen=True)
class DriveSource:
    """CelebA's own Google Drive files through torchvision's downloader (often over quota: the last resort)."""

    kind: str = "drive"
    label: str = "torchvision's Google Drive files for CelebA"


@dataclass(frozen=True)
class Dataset:
    """A dataset ``make data`` can fetch: its folder under ``$GM_DATA_DIR``, the files the loaders read, its sources."""

    name: str
    folder: str
    needs: tuple[str, ...]  # paths under folder that gm_lib's loaders read
    sources: tuple = field(default_factory=tuple)
    licence: str = ""


def _svhn() -> Dataset:
    from torchvision.datasets import SVHN

    files = tuple(UrlFile(url, md5, name) for url, name, md5 in SVHN.split_list.values() if "extra" not in name)
    hub = HubSource(
        "ufldl-stanford/svhn",
        tuple(PinnedFile(f"cropped_digits/{split}-00000-of-00001.parquet", split) for split in ("train", "test")),
        {"train": 73_257, "test": 26_032}, convert="svhn")
    return Dataset("svhn", "SVHN", ("train_32x32.mat", "test_32x32.mat"), (UrlSource(files), hub),
                   "non-commercial use only (Netzer et al. 2011)")


def _celeba() -> Dataset:
    shards = {"train": 19, "valid": 3, "test": 3}
    files = tuple(PinnedFile(f"img_align+identity+attr/{split}-{i:05d}-of-{n:05d}.parquet", split)
                  for split, n in shards.items() for i in range(n))
    hub = HubSource("flwrlabs/celeba", files, {"train": 162_770, "valid": 19_867, "test": 19_962}, convert="celeba",
                    revision="2d738f56e0e7f925ea36ae7c808ea925264aacec")
    return Dataset("celeba", "celeba", ("img_align_celeba", "list_eval_partition.txt"), (hub, DriveSource()),
                   "CelebA release agreement: non-commercial research and educational use only")


def _idx(name: str, folder: str, cls_name: str) -> Dataset:
    from torchvision import datasets

    cls = getattr(datasets, cls_name)
    sources = tuple(
        UrlSource(tuple(UrlFile(f"{mirror}{gz}", md5, f"raw/{gz.removesuffix('.gz')}", gunzip=True)
                        for gz, md5 in cls.resources))
        for mirror in cls.mirrors)
    needs = tuple(f"raw/{stem}-{kind}-ubyte" for stem in ("train", "t10k") for kind in ("images-idx3", "labels-idx1"))
    licence = "CC BY-SA 3.0 (LeCun & Cortes)" if name == "mnist" else "MIT (Zalando Research)"
    return Dataset(name, folder, needs, sources, licence)


def _all() -> dict[str, Dataset]:
    return {d.name: d for d in (_idx("mnist", "MNIST", "MNIST"), _idx("fashion_mnist", "FashionMNIST", "FashionMNIST"),
                                _svhn(), _celeba())}


DATASETS: tuple[str, ...] = ("mnist", "fashion_mnist", "svhn", "celeba")


def load_pins() -> dict:
    """The pins of ``$GM_DATA_PINS`` (``{}`` when unset).

    Raises:
        ValueError: unreadable JSON, or a revision that is not a full 40-hex commit (one line, naming the file).
    """
    path = os.environ.get(PINS_ENV)
    if not path:
        return {}
    try:
        pins = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        reason = type(error).__name__
        raise ValueError(f"{PINS_ENV}={path} cannot be read as JSON ({reason}); fix or unset it") from None
    for repo, pin in pins.items():
        if not isinstance(pin, dict) or not _COMMIT.match(str(pin.get("revision", ""))):
            raise ValueError(f"{PINS_ENV}={path}: {repo!r} needs a 40-hex 'revision' (a full commit hash)")
    return pins


def dataset(name: str) -> Dataset:
    """The :class:`Dataset` called ``name``, with the Hub pins of ``$GM_DATA_PINS`` applied.

    Raises:
        ValueError: unknown name (the message lists the known ones), or bad pins.
    """
    known = _all()
    if name not in known:
        raise ValueError(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
    pins, chosen = load_pins(), known[name]
    sources = tuple(_pinned(s, pins[s.repo]) if isinstance(s, HubSource) and s.repo in pins else s
                    for s in chosen.sources)
    return Dataset(chosen.name, chosen.folder, chosen.needs, sources, chosen.licence)


def _pinned(source: HubSource, pin: dict) -> HubSource:
    files = source.files
    if "files" in pin:
        by_path = {f.path: f for f in source.files}
        files = tuple(PinnedFile(path, by_path[path].split if path in by_path else _split_of(path),
                                 info.get("size"), info.get("sha256"), info.get("rows"))
                      for path, info in pin["files"].items())
    unknown = [f.path for f in files if f.split not in source.split_rows]
    if unknown:
        raise ValueError(f"{PINS_ENV}: cannot tell the split of {unknown[0]} (its name starts with one of "
                         f"{', '.join(source.split_rows)})")
    rows = dict(source.split_rows)
    for split in rows:
        counts = [f.rows for f in files if f.split == split]
        if counts and all(c is not None for c in counts):
            rows[split] = sum(counts)
    return HubSource(source.repo, files, rows, source.convert, pin["revision"])


def _split_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.split("-", 1)[0]


def missing_files(data: Dataset, root: Path) -> list[Path]:
    """The files (or folders) the loaders read that are not under ``root``."""
    return [root / data.folder / need for need in data.needs if not (root / data.folder / need).exists()]
