"""The archive's contract: its manifest, the member paths it may hold, and the one error a refusal raises.

An archive made by ``make pack`` is a tar whose first member is ``manifest.json``::

    {"format": "gm-lab-models", "version": 1,
     "git_commit": "<sha>[-dirty]", "profile": "default", "seeds": [0], "gm_lib_version": "0.1.0",
     "versions": {"python": ..., "torch": ..., "torchvision": ..., "numpy": ..., "scipy": ..., "openvino": ...,
                  "gm_lib": ...},                  # the packing environment (gm_lib.versions)
     "runs": [{"dir": "runs/<name>-<hash12>", "name": "<name>", "key": "<hash12>", "seed": 0,
               "versions": {...} | null}, ...],   # the environment that trained the run, when recorded
     "files": {"runs/<name>-<hash12>/checkpoint.pt": {"sha256": "<hex>", "size": <bytes>}, ...}}

and whose other members are exactly the regular files ``files`` lists, by their path relative to
``$GM_CACHE_DIR``: run folders under ``runs/`` and the folders of :data:`gm_lib.paths.CACHED_RESULTS`.

Limits (what an archive can ask of a machine): a manifest of at most :data:`MAX_MANIFEST_BYTES`, at most
:data:`MAX_FILES` files of :data:`MAX_ARCHIVE_BYTES` in all (a default pack holds ~420 MiB), and the run configs
may name only the registered config classes of :mod:`gm_lib.saved_configs` (importing this module imports the
chapter registries, which register theirs).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import gm_lib.experiments.registry  # noqa: F401  (its chapters' ModelEntry configs: what a packed config may name)
from gm_lib.paths import CACHED_RESULTS

__all__ = ["FORMAT", "VERSION", "MANIFEST_NAME", "HUB_FILENAME", "MAX_MANIFEST_BYTES", "MAX_FILES", "MAX_ARCHIVE_BYTES",
           "FREE_SPACE_MARGIN", "ArchiveRefused", "check_member_path", "sha256_file", "check_manifest",
           "check_free_space", "mib"]

FORMAT, VERSION = "gm-lab-models", 1
MANIFEST_NAME = "manifest.json"
HUB_FILENAME = "gm-lab-models.tar"  # the archive's name in a Hugging Face Hub repository (hf://owner/repo)
_PART = re.compile(r"[A-Za-z0-9_.+=-]+")  # what gm_lib names its cache files with; no spaces, no separators
_CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 4 << 20
MAX_FILES = 100_000
MAX_ARCHIVE_BYTES = 64 << 30  # the archive, its download and its files in all (a default pack: ~420 MiB)
FREE_SPACE_MARGIN = 256 << 20  # left free on the cache's disk after an unpack


class ArchiveRefused(RuntimeError):
    """An archive (or its download) failed verification; the one-line message says what and how to fix it.

    Nothing was installed: :func:`gm_build.share.unpack` verifies every member before it moves any into place.
    """


def check_member_path(name: str) -> None:
    """Refuse a member path that could land outside its cache folder, or that no pack would write.

    Accepted: ``runs/<run dir>/<file>`` (any depth below the run dir) and ``<folder>/<file>`` for the
    folders of :data:`gm_lib.paths.CACHED_RESULTS`; every part plain (letters, digits, ``_.+=-``), none
    ``.``, ``..`` or hidden.

    Raises:
        ArchiveRefused: the path is absolute, climbs with ``..``, or is not one of the above.
    """
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise ArchiveRefused(f"member {name!r} has an absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise ArchiveRefused(f"member {name!r} climbs out of the cache with '..'")
    plain = all(_PART.fullmatch(part) and not part.startswith(".") for part in parts)
    known = (parts[0] == "runs" and len(parts) >= 3) or (parts[0] in CACHED_RESULTS and len(parts) == 2)
    if not (plain and known):
        raise ArchiveRefused(f"member {name!r} is not a run or cached-result file of a gm-lab pack")


def sha256_file(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, read in 1 MiB chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_manifest(manifest: object) -> dict:
    """The manifest, once its shape is what :func:`gm_build.share.pack` writes.

    Raises:
        ArchiveRefused: not a gm-lab manifest, another format version, or a malformed entry.
    """
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveRefused(f"{MANIFEST_NAME} is not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ArchiveRefused(f"{MANIFEST_NAME} has format version {manifest.get('version')!r}, this gm_lib reads "
                             f"{VERSION}")
    files, runs = manifest.get("files"), manifest.get("runs")
    if not isinstance(files, dict) or not isinstance(runs, list):
        raise ArchiveRefused(f"{MANIFEST_NAME} lacks its 'files' table or 'runs' list")
    if len(files) > MAX_FILES:
        raise ArchiveRefused(f"{MANIFEST_NAME} lists {len(files)} files, more than the {MAX_FILES} a pack may hold")
    for name, entry in files.items():
        check_member_path(name)
        size = entry.get("size") if isinstance(entry, dict) else None
        if not (type(size) is int and size >= 0 and re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))):
            raise ArchiveRefused(f"{MANIFEST_NAME} entry {name!r} lacks a sha256 and size")
    total = sum(entry["size"] for entry in files.values())
    if total > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused(f"{MANIFEST_NAME} lists {mib(total)} of files, more than the {mib(MAX_ARCHIVE_BYTES)} a "
                             "pack may hold")
    for run in runs:
        folder = run.get("dir", "") if isinstance(run, dict) else ""
        if not (isinstance(folder, str) and folder.startswith("runs/") and folder.count("/") == 1
                and f"{folder}/checkpoint.pt" in files):
            raise ArchiveRefused(f"{MANIFEST_NAME} run entry {run!r} names no packed run folder with a checkpoint")
    folders = {run["dir"] for run in runs}
    strays = [name for name in files if name.startswith("runs/") and "/".join(name.split("/")[:2]) not in folders]
    if strays:
        raise ArchiveRefused(f"{MANIFEST_NAME} lists {strays[0]!r}, which belongs to no run it lists")
    return manifest


def mib(size: int) -> str:
    """``size`` bytes as ``"12.3 MiB"``."""
    return f"{size / 2**20:.1f} MiB"


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse unless the disk of ``folder`` has ``needed`` bytes free beyond :data:`FREE_SPACE_MARGIN`.

    Raises:
        ArchiveRefused: names what needs the space, how much, and how much is free.
    """
    free = shutil.disk_usage(folder).free
    if needed + FREE_SPACE_MARGIN > free:
        raise ArchiveRefused(f"{what} needs {mib(needed)} in {folder} and {mib(FREE_SPACE_MARGIN)} to spare, but only "
                             f"{mib(free)} are free; free some space or set GM_CACHE_DIR to a larger disk")
