"""``make data``: fetch each missing dataset from its first source that works, check it, and install it atomically.

A dataset is built in ``$GM_DATA_DIR/.make-data/<folder>/`` (same file system), checked by reading it back
with gm_lib's own loader, given a ``SOURCE.json`` (source, revision, sizes and checksums) and then renamed into
place; anything that fails removes the staging folder, so ``$GM_DATA_DIR`` is left exactly as it was. One
``make data`` at a time per data folder: the others wait on an advisory lock on the folder itself (no lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from gm_build.data import convert, direct, hub
from gm_build.data.errors import FetchError
from gm_build.data.sources import DATASETS, Dataset, DriveSource, HubSource, UrlSource, dataset, missing_files

__all__ = ["STAGING", "fetch_datasets", "fetch_dataset", "data_lock", "default_datasets"]

STAGING = ".make-data"  # under $GM_DATA_DIR; a dot-folder that no loader reads
# Which failure to report when every source failed: the most telling kind (a checksum beats "offline"), and
# among equals the later source (the pinned mirror, after torchvision's URL that is often unreachable).
_TELLING = ("failed", "offline", "quota", "404", "schema", "checksum")
_CONVERT = {"svhn": (convert.SVHN_COLUMNS, convert.convert_svhn),
            "celeba": (convert.CELEBA_COLUMNS, convert.convert_celeba)}


@contextmanager
def data_lock(root: Path, say: Callable[[str], None]):
    """Hold an exclusive ``flock`` on the folder ``root`` (waiting, with one line, while another run holds it)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"another make data is writing {root}: waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def default_datasets(root: Path) -> list[str]:
    """Every dataset the loaders serve (so every one the report uses) whose files are missing under ``root``."""
    return [name for name in DATASETS if missing_files(dataset(name), root)]


def fetch_datasets(names: list[str], root: Path, say: Callable[[str], None] = print) -> list[str]:
    """Fetch ``names`` into ``root`` (skipping those already present); returns the one-line failures.

    Each dataset is independent: one that fails leaves ``root`` as it was and the others still land.
    """
    root.mkdir(parents=True, exist_ok=True)
    failures = []
    with data_lock(root, say):
        shutil.rmtree(root / STAGING, ignore_errors=True)  # left by a run that was killed
        for name in names:
            try:
                fetch_dataset(dataset(name), root, say)
            except FetchError as error:
                failures.append(f"{name}: {error}")
            finally:
                shutil.rmtree(root / STAGING, ignore_errors=True)
    return failures


def fetch_dataset(data: Dataset, root: Path, say: Callable[[str], None] = print) -> None:
    """Install one dataset from its first working source.

    Raises:
        FetchError: every source failed: the most telling of their one-line errors (each was said as it came).
    """
    if not missing_files(data, root):
        say(f"{data.name}: present in {root / data.folder}")
        return
    if data.name == "celeba":
        say(f"celeba: licence: {data.licence}; by fetching it you accept the agreement")
    errors: list[FetchError] = []
    for source in data.sources:
        staging = root / STAGING / data.folder
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        say(f"{data.name}: from {source.label}")
        try:
            record = _fetch(data, source, staging)
            _check_with_loader(data, root / STAGING, source.label)
        except (FetchError, OSError) as failed:  # OSError: a full disk, a folder not writable
            if not isinstance(failed, FetchError):
                failed = FetchError(source.label, "failed", f"{type(failed).__name__}: {failed}")
            errors.append(failed)
            say(f"{data.name}: {failed}")
            continue
        _install(data, staging, root, record)
        say(f"{data.name}: installed in {root / data.folder} ({_size(root / data.folder)})")
        return
    raise max(reversed(errors), key=lambda e: _TELLING.index(e.kind) if e.kind in _TELLING else -1)


def _fetch(data: Dataset, source, staging: Path) -> dict:
    if isinstance(source, UrlSource):
        return direct.fetch_url_source(source, staging)
    if isinstance(source, DriveSource):
        return direct.fetch_celeba_drive(staging)
    if isinstance(source, HubSource):
        return _fetch_hub(source, staging)
    raise TypeError(f"unknown source {source!r}")


def _fetch_hub(source: HubSource, staging: Path) -> dict:
    from gm_lib.paths import cache_dir

    revision = hub.resolve_revision(source)
    expected = hub.list_expected(source, revision)  # every file listed before any byte is fetched
    downloads = cache_dir("downloads", source.repo.replace("/", "--"), revision)
    columns, write = _CONVERT[source.convert]
    split_order = list(source.split_rows)

    def shards():
        """Each file downloaded, verified and schema-checked; deleted once the converter has read it, so the
        peak on disk is the converted dataset plus one shard."""
        for pinned in sorted(expected.values(), key=lambda f: (split_order.index(f.split), f.path)):
            local = hub.download_verified(source, revision, pinned, downloads)
            convert.check_schema(source.label, local, columns, pinned.rows)
            yield pinned.split, local
            local.unlink()

    write(source.label, shards(), source.split_rows, staging)
    shutil.rmtree(downloads, ignore_errors=True)
    with contextlib.suppress(OSError):
        downloads.parent.rmdir()  # the repository's folder, when no other revision is in it
    files = {p: {"size": f.size, "sha256": f.sha256, "rows": f.rows} for p, f in expected.items()}
    return {"source": "hub", "repo": source.repo, "revision": revision, "files": files}


def _check_with_loader(data: Dataset, staged_root: Path, label: str) -> None:
    """Read the staged dataset back with gm_lib's loader (one image of each split): what the notebooks will do."""
    from gm_lib.data import DATASETS as SPLITS
    from gm_lib.data import DatasetCorrupt, DatasetUnavailable, load_dataset

    try:
        for split in SPLITS[data.name]:
            if data.name == "svhn":
                load_dataset(data.name, split, root=staged_root)  # the .mat is read whole anyway
            else:
                load_dataset(data.name, split, n=1, root=staged_root)
    except (DatasetCorrupt, DatasetUnavailable, ValueError) as error:
        raise FetchError(label, "schema", f"gm_lib cannot read what was written: {error}") from None


def _install(data: Dataset, staging: Path, root: Path, record: dict) -> None:
    """Rename each staged entry into ``root/<folder>`` (a folder that exists keeps its other files)."""
    record = {"dataset": data.name, "licence": data.licence, **record}
    (staging / "SOURCE.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    target = root / data.folder
    if not target.exists():
        staging.rename(target)
        return
    for entry in staging.iterdir():
        destination = target / entry.relative_to(staging)
        if destination.is_dir():
            shutil.rmtree(destination)
        entry.replace(destination)


def _size(folder: Path) -> str:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return f"{total / 2**20:.1f} MiB"
