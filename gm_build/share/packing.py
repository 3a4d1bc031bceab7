"""``make pack``: this commit's finished runs and the cached results, as one tar archive with a manifest.

Packed: every run folder under ``cache_dir("runs")`` whose key is current for this code
(:func:`gm_lib.runs.stale_reason` is ``None``) and whose checkpoint is finished (checkpoint, history,
``config.json``, snapshots, cached scores in ``metrics/``), and the files of
:data:`gm_lib.paths.CACHED_RESULTS` (FID reference statistics and floors, domain classifiers).
Never packed: the FID Inception weights (``make setup`` makes them), datasets, temp files of a killed writer.
The archive is deterministic: members in path order, owner root, mode 0644, mtime 0.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import gm_lib
from gm_build.share.manifest import FORMAT, MANIFEST_NAME, VERSION, check_member_path, sha256_file
from gm_lib.cache import atomic_write
from gm_lib.paths import CACHED_RESULTS, cache_dir
from gm_lib.runs import stale_reason, unfinished_reason
from gm_lib.versions import collect_versions, read_run_versions

__all__ = ["PackReport", "pack", "packable_runs"]


@dataclass
class PackReport:
    """What :func:`pack` wrote: ``runs`` packed (folder names), ``skipped`` ``{folder: why}``, file count, bytes,
    and the archive's own ``sha256`` (to publish beside it: ``make unpack SHA256=...`` checks it)."""

    path: Path
    sha256: str = ""
    runs: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    n_files: int = 0
    size: int = 0


def packable_runs(cache_root: Path, only: set[str] | None = None) -> tuple[list[Path], dict[str, str]]:
    """``(run folders to pack, {folder name: why not})`` under ``cache_root/runs``: current key and finished, and
    named in ``only`` when given (the report's runs at the profile; a bench's or an old recipe's are left out)."""
    runs_root, packable, skipped = cache_root / "runs", [], {}
    folders = sorted(p for p in runs_root.iterdir() if p.is_dir() and not p.is_symlink()) if runs_root.is_dir() else []
    for run_dir in folders:
        outside = None if only is None or run_dir.name in only else "not one of the report's runs at this profile"
        reason = outside or stale_reason(run_dir) or unfinished_reason(run_dir)
        if reason is None:
            packable.append(run_dir)
        else:
            skipped[run_dir.name] = reason
    return packable, skipped


def _files_of(folder: Path, cache_root: Path, patterns: tuple[str, ...] = ("**/*",)) -> list[str]:
    """Regular files under ``folder`` matching ``patterns`` (cache-relative POSIX paths), hidden/temp files left out."""
    found = set()
    for pattern in patterns:
        for path in folder.glob(pattern):
            relative = path.relative_to(cache_root).as_posix()
            if path.is_file() and not path.is_symlink() and not any(p.startswith(".") for p in relative.split("/")):
                check_member_path(relative)  # a name unpack would refuse must fail here, not on a student's machine
                found.add(relative)
    return sorted(found)


def _manifest(cache_root: Path, run_dirs: list[Path], names: list[str], profile: str) -> dict:
    from gm_lib.results import git_commit

    runs = []
    for run_dir in run_dirs:
        config = json.loads((run_dir / "config.json").read_text())
        name, _, key = run_dir.name.rpartition("-")
        runs.append({"dir": f"runs/{run_dir.name}", "name": name, "key": key, "seed": config["train_config"]["seed"],
                     "versions": read_run_versions(run_dir)})  # what trained it (None: not recorded)
    files = {}
    for name in names:
        sha256, size = sha256_file(cache_root / name)
        files[name] = {"sha256": sha256, "size": size}
    return {"format": FORMAT, "version": VERSION, "git_commit": git_commit(), "profile": profile,
            "seeds": sorted({run["seed"] for run in runs}), "gm_lib_version": gm_lib.__version__,
            "versions": collect_versions(), "runs": runs, "files": files}


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = size, 0o644, 0, 0, 0, "", ""
    return info


class _HashingReader(io.RawIOBase):
    """Reads a file for ``tarfile.addfile`` and hashes what it hands over (a file changed since the manifest)."""

    def __init__(self, handle: BinaryIO):
        self.handle, self.digest = handle, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


def _write_tar(handle: BinaryIO, cache_root: Path, manifest: dict, mode: str) -> None:
    with tarfile.open(fileobj=handle, mode=mode, format=tarfile.PAX_FORMAT) as archive:
        blob = json.dumps(manifest, indent=1, sort_keys=True).encode()
        archive.addfile(_tar_info(MANIFEST_NAME, len(blob)), io.BytesIO(blob))
        for name, entry in manifest["files"].items():
            with open(cache_root / name, "rb") as source:
                reader = _HashingReader(source)
                archive.addfile(_tar_info(name, entry["size"]), reader)
            if reader.digest.hexdigest() != entry["sha256"]:
                raise RuntimeError(f"{cache_root / name} changed while it was packed; run make pack again")


def pack(out: str | Path, profile: str = "default", only: set[str] | None = None) -> PackReport:
    """Write the archive of this commit's trained runs and cached results to ``out`` (atomically).

    ``only``: run folder names to pack (default: every current, finished run in the cache).

    ``out`` ending in ``.gz`` / ``.tgz`` is gzip-compressed (checkpoints shrink little; plain tar by default).

    Raises:
        ArchiveRefused: a cache file has a name that :func:`gm_build.share.unpack` would refuse.
    """
    out, cache_root = Path(out), cache_dir(create=False)
    run_dirs, skipped = packable_runs(cache_root, only)
    names = [name for run_dir in run_dirs for name in _files_of(run_dir, cache_root)]
    for folder, patterns in CACHED_RESULTS.items():
        if (cache_root / folder).is_dir():
            names += _files_of(cache_root / folder, cache_root, patterns)
    manifest = _manifest(cache_root, run_dirs, sorted(names), profile)
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, write=lambda handle: _write_tar(handle, cache_root, manifest, mode))
    sha256, size = sha256_file(out)
    return PackReport(out, sha256, [d.name for d in run_dirs], skipped, len(names), size)
