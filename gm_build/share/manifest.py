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
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from gm_lib.paths import CACHED_RESULTS

__all__ = ["FORMAT", "VERSION", "MANIFEST_NAME", "HUB_FILENAME", "ArchiveRefused", "check_member_path", "sha256_file",
           "check_manifest"]

FORMAT, VERSION = "gm-lab-models", 1
MANIFEST_NAME = "manifest.json"
HUB_FILENAME = "gm-lab-models.tar"  # the archive's name in a Hugging Face Hub repository (hf://owner/repo)
_PART = re.compile(r"[A-Za-z0-9_.+=-]+")  # what gm_lib names its cache files with; no spaces, no separators
_CHUNK = 1 << 20


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
    for name, entry in files.items():
        check_member_path(name)
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int)
                and re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))):
            raise ArchiveRefused(f"{MANIFEST_NAME} entry {name!r} lacks a sha256 and size")
    for run in runs:
        folder = run.get("dir", "") if isinstance(run, dict) else ""
        if not (folder.startswith("runs/") and folder.count("/") == 1 and f"{folder}/checkpoint.pt" in files):
            raise ArchiveRefused(f"{MANIFEST_NAME} run entry {run!r} names no packed run folder with a checkpoint")
    folders = {run["dir"] for run in runs}
    strays = [name for name in files if name.startswith("runs/") and "/".join(name.split("/")[:2]) not in folders]
    if strays:
        raise ArchiveRefused(f"{MANIFEST_NAME} lists {strays[0]!r}, which belongs to no run it lists")
    return manifest
