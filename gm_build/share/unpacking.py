"""``make unpack``: verify an archive of :func:`gm_build.share.pack` completely, then install it into the cache.

Verification happens in a temporary folder inside ``$GM_CACHE_DIR`` (same filesystem, so installing is a
rename): every member must be a regular file at a plain path under ``runs/`` or a cached-results folder
(no absolute path, ``..``, link or device), the members must be exactly the manifest's files, each with its
size and sha256, and every ``.pt`` file must load with ``torch.load(weights_only=True)``. Any failure raises
:class:`~gm_build.share.manifest.ArchiveRefused` with one line saying what and how to fix it, and the cache is
left byte-identical. Then each run whose key is current for this code (:func:`gm_lib.runs.stale_reason`) is
moved into ``runs/``; the others are reported as "will retrain" with the reason and not installed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from gm_build.share.manifest import MANIFEST_NAME, ArchiveRefused, check_manifest, check_member_path, sha256_file
from gm_build.share.sources import fetch_archive
from gm_lib.cache import load_torch
from gm_lib.checkpoint import CHECKPOINT_NAME, load_checkpoint
from gm_lib.paths import cache_dir
from gm_lib.runs import stale_reason, unfinished_reason

__all__ = ["UnpackReport", "unpack", "extract_verified"]

_CHUNK = 1 << 20
_BROKEN = (tarfile.TarError, EOFError, OSError, zlib.error)  # what a truncated or corrupt tar / gzip raises
_REPACK = "get the archive again, or have it re-made with make pack"


@dataclass
class UnpackReport:
    """What :func:`unpack` did: ``cached`` runs installed, ``kept`` (already cached here), ``retrain`` ``{run: why}``,
    cached result files ``results_installed`` / ``results_kept``, and the archive's ``manifest``."""

    manifest: dict
    cached: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    retrain: dict[str, str] = field(default_factory=dict)
    results_installed: int = 0
    results_kept: int = 0


def _kind(member: tarfile.TarInfo) -> str:
    kinds = {"symlink": member.issym(), "hardlink": member.islnk(), "device file": member.isdev()}
    return next((kind for kind, found in kinds.items() if found), "special file")


def _check_members(members: list[tarfile.TarInfo], where: str) -> list[tarfile.TarInfo]:
    """The file members (manifest first) once every member is a plain file or folder at a safe, unique path."""
    seen, files = set(), []
    for member in members:
        name = member.name
        try:
            if member.isdir():
                if name.startswith("/") or ".." in name.split("/"):
                    check_member_path(name)  # raises with the precise reason
                continue
            if not member.isfile():
                raise ArchiveRefused(f"member {name!r} is a {_kind(member)}, not a regular file")
            if name != MANIFEST_NAME:
                check_member_path(name)
        except ArchiveRefused as error:
            raise ArchiveRefused(f"refused {where}: {error}; it is not a pack as make pack writes it: {_REPACK}"
                                 ) from None
        if name in seen:
            raise ArchiveRefused(f"refused {where}: member {name!r} appears twice; {_REPACK}")
        seen.add(name)
        files.append(member)
    if MANIFEST_NAME not in seen:
        raise ArchiveRefused(f"refused {where}: no {MANIFEST_NAME} in it, so nothing can be verified; {_REPACK}")
    return files


def _copy_verified(source, dest: Path, size: int, sha256: str, name: str, where: str) -> None:
    digest, written = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as handle:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > size:
                break
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(dest, 0o644)
    if written != size or digest.hexdigest() != sha256:
        raise ArchiveRefused(f"refused {where}: {name} does not match its sha256 in the manifest (altered or damaged "
                             f"in transit); {_REPACK}")


def extract_verified(archive: Path, dest: Path, where: str | None = None) -> dict:
    """Extract ``archive`` into the empty folder ``dest`` checking every member; returns the manifest.

    Raises:
        ArchiveRefused: see the module docstring (``dest`` may then hold part of the archive: delete it).
    """
    where = where or str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            files = _check_members(tar.getmembers(), where)
            by_name = {member.name: member for member in files}
            try:
                manifest = check_manifest(json.loads(tar.extractfile(by_name.pop(MANIFEST_NAME)).read()))
            except ValueError:
                raise ArchiveRefused(f"{MANIFEST_NAME} is not JSON") from None
            missing = sorted(set(manifest["files"]) - set(by_name))
            if missing:
                raise ArchiveRefused(f"refused {where}: it lacks {len(missing)} file(s) its manifest lists (first: "
                                     f"{missing[0]}), so it is truncated or incomplete; {_REPACK}")
            extra = sorted(set(by_name) - set(manifest["files"]))
            if extra:
                raise ArchiveRefused(f"refused {where}: member {extra[0]} is not in its manifest; {_REPACK}")
            for name, member in by_name.items():
                entry = manifest["files"][name]
                if member.size != entry["size"]:
                    raise ArchiveRefused(f"refused {where}: {name} has {member.size} bytes, its manifest says "
                                         f"{entry['size']}; {_REPACK}")
                _copy_verified(tar.extractfile(member), dest / name, entry["size"], entry["sha256"], name, where)
    except ArchiveRefused as error:
        message = str(error)
        raise ArchiveRefused(message if message.startswith("refused") else f"refused {where}: {message}; {_REPACK}"
                             ) from None
    except _BROKEN as error:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise ArchiveRefused(f"cannot write into {dest.parent} ({error.strerror}); free space or fix its "
                                 "permissions, then run make unpack again") from None
        reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise ArchiveRefused(f"refused {where}: not a readable tar archive, truncated or corrupt ({reason}); "
                             f"{_REPACK}") from None
    return manifest


def _check_loads(staging: Path, manifest: dict, where: str) -> dict[str, str]:
    """Every ``.pt`` loads with ``weights_only=True`` (else refused); returns ``{run dir: why it will retrain}``."""
    finished = {}
    for name in manifest["files"]:
        if name.endswith(".pt"):
            try:
                if name.endswith(f"/{CHECKPOINT_NAME}"):
                    finished[name] = bool(load_checkpoint(staging / name)["finished"])
                else:
                    load_torch(staging / name)
            except Exception as error:  # unpickling, zip and EOF errors: all mean it is not what a pack holds
                reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
                raise ArchiveRefused(f"refused {where}: {name} does not load with torch.load(weights_only=True) "
                                     f"({reason}); {_REPACK}") from None
    retrain = {}
    for run in manifest["runs"]:
        reason = stale_reason(staging / run["dir"])
        if reason is None and not finished[f"{run['dir']}/{CHECKPOINT_NAME}"]:
            reason = "its checkpoint is unfinished"
        if reason is not None:
            retrain[run["dir"].removeprefix("runs/")] = reason
    return retrain


def _install_run(source: Path, target: Path, trash: Path) -> bool:
    """Move a verified run folder into place; returns False when a finished copy was already there (kept,
    completed with the files it lacked, e.g. cached scores)."""
    if target.is_dir() and not target.is_symlink() and unfinished_reason(target) is None:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            destination = target / path.relative_to(source)
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, destination)
        return False
    if target.exists() or target.is_symlink():  # an unfinished or broken local run: the verified one replaces it
        shutil.move(target, trash / target.name)
    shutil.move(source, target)  # a rename; a copy only where runs/ links to another filesystem
    return True


def _install(staging: Path, manifest: dict, report: UnpackReport, cache_root: Path, trash: Path) -> None:
    (cache_root / "runs").mkdir(parents=True, exist_ok=True)
    for run in manifest["runs"]:
        name = run["dir"].removeprefix("runs/")
        if name not in report.retrain:
            installed = _install_run(staging / run["dir"], cache_root / run["dir"], trash)
            (report.cached if installed else report.kept).append(name)
    for name in manifest["files"]:
        if name.startswith("runs/"):
            continue
        target = cache_root / name
        if target.exists():
            report.results_kept += 1  # named by its key: the same result
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging / name, target)
        report.results_installed += 1


def _remove_abandoned(cache_root: Path) -> None:
    """Delete the temporary folders of unpacks that were killed (their process, named in the folder, is gone)."""
    for folder in cache_root.glob(".unpack-*-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(folder, ignore_errors=True)
            except PermissionError:
                pass  # alive, another user's


def unpack(source: str, progress: bool = True, sha256: str | None = None) -> UnpackReport:
    """Verify the archive ``source`` (file, ``https://`` URL or ``hf://owner/repo``) and install it into the cache.

    The manifest's checksums travel inside the archive, so they catch damage, not a forged archive: give the
    ``sha256`` of the whole archive that its publisher printed (``make pack`` does) to check that too.

    Raises:
        ArchiveRefused: verification or download failed; nothing was installed (one-line message with the fix).
    """
    cache_root = cache_dir(create=False)
    cache_root.mkdir(parents=True, exist_ok=True)
    # Same filesystem as the cache, so installing is a rename; named by this process, so a killed one's is found.
    temp = Path(tempfile.mkdtemp(prefix=f".unpack-{os.getpid()}-", dir=cache_root))
    try:
        archive = fetch_archive(source, temp, progress)
        actual = sha256_file(archive)[0] if sha256 is not None else None
        if actual is not None and actual != sha256.strip().lower():
            raise ArchiveRefused(f"refused {source}: its sha256 is {actual}, not the {sha256} you gave; get the "
                                 "archive again from its publisher, or check the digest you were given")
        staging, trash = temp / "cache", temp / "replaced"
        staging.mkdir()
        trash.mkdir()
        manifest = extract_verified(archive, staging, where=source)
        report = UnpackReport(manifest, retrain=_check_loads(staging, manifest, source))
        _install(staging, manifest, report, cache_root, trash)
        _remove_abandoned(cache_root)  # only after a success: a refusal leaves the cache as it was, byte for byte
        return report
    finally:
        shutil.rmtree(temp, ignore_errors=True)
