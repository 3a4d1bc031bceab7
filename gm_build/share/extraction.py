"""Reading an archive of :func:`gm_build.share.pack` as a stream, each member checked before and while it is copied.

The tar is read front to back once (``tarfile`` stream mode), never listed first: ``manifest.json`` must come
first and be at most :data:`~gm_build.share.manifest.MAX_MANIFEST_BYTES`; once its shape is checked and the disk
has room for the files it lists, every later member must be a regular file at a plain path that the manifest
lists, once, with the manifest's size, and it is copied counting bytes and hashing them, so no member header
is trusted alone. Extended tar headers (pax, GNU long names) above 1 MiB and sparse members are refused before
``tarfile`` reads them. Every failure is one :class:`~gm_build.share.manifest.ArchiveRefused` line.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from gm_build.share.manifest import (
    MANIFEST_NAME,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    ArchiveRefused,
    check_free_space,
    check_manifest,
    check_member_path,
    mib,
)

__all__ = ["extract_verified", "REPACK"]

REPACK = "get the archive again, or have it re-made with make pack"
_CHUNK = 1 << 20
_MAX_HEADER_BYTES = 1 << 20  # a pax header or GNU long name; make pack writes none above a few hundred bytes
_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
             tarfile.GNUTYPE_LONGLINK)
# What a truncated or corrupt tar / gzip / bz2 / xz stream raises (RecursionError: a chain of extended headers).
_BROKEN = (tarfile.TarError, EOFError, OSError, zlib.error, RecursionError)


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header that refuses, before ``tarfile`` reads it into memory, an extended header larger than 1 MiB
    and a sparse member (``_proc_member`` is the hook the tarfile module documents for subclasses)."""

    def _proc_member(self, tar):
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveRefused(f"member {self.name!r} is a sparse file, not a regular file")
        if self.type in _EXTENDED and self.size > _MAX_HEADER_BYTES:
            raise ArchiveRefused(f"it holds a tar extended header of {mib(self.size)} (at most "
                                 f"{mib(_MAX_HEADER_BYTES)})")
        return super()._proc_member(tar)


def _kind(member: tarfile.TarInfo) -> str:
    kinds = {"symlink": member.issym(), "hardlink": member.islnk(), "device file": member.isdev()}
    return next((kind for kind, found in kinds.items() if found), "special file")


def _next_file(tar: tarfile.TarFile, counts: dict[str, int]) -> tarfile.TarInfo | None:
    """The next regular-file member (folders at safe paths are skipped), None at the end of the archive."""
    while (member := tar.next()) is not None:
        counts["members"] += 1
        if counts["members"] > 2 * MAX_FILES + 1:  # tarfile keeps every header it read: bound them
            raise ArchiveRefused(f"it has more than {2 * MAX_FILES + 1} members")
        if member.isdir():
            if member.name.startswith("/") or ".." in member.name.split("/"):
                check_member_path(member.name)  # raises with the precise reason
            continue
        if not member.isfile():
            raise ArchiveRefused(f"member {member.name!r} is a {_kind(member)}, not a regular file")
        return member
    return None


def _read_manifest(tar: tarfile.TarFile, counts: dict[str, int]) -> dict:
    """The first member, ``manifest.json``, read (at most :data:`MAX_MANIFEST_BYTES`) and checked."""
    member = _next_file(tar, counts)
    if member is None or member.name != MANIFEST_NAME:
        raise ArchiveRefused(f"no {MANIFEST_NAME} at its start (make pack writes it first), so nothing can be verified")
    if member.size > MAX_MANIFEST_BYTES:
        raise ArchiveRefused(f"its {MANIFEST_NAME} has {mib(member.size)}, more than the {mib(MAX_MANIFEST_BYTES)} a "
                             "pack's manifest may have")
    blob = tar.extractfile(member).read(MAX_MANIFEST_BYTES + 1)
    try:
        return check_manifest(json.loads(blob))
    except (ValueError, RecursionError):
        raise ArchiveRefused(f"{MANIFEST_NAME} is not JSON") from None


def _copy_verified(source: BinaryIO, dest: Path, size: int, sha256: str, name: str) -> None:
    """Copy at most ``size`` bytes of ``source`` to the new file ``dest``; refuse unless they are exactly the
    manifest's ``size`` bytes with its ``sha256``."""
    digest, written = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as handle:
        while chunk := source.read(min(_CHUNK, size + 1 - written)):
            written += len(chunk)
            if written > size:
                break
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(dest, 0o644)
    if written != size or digest.hexdigest() != sha256:
        raise ArchiveRefused(f"{name} does not match its sha256 in the manifest (altered or damaged in transit)")


def _extract_files(tar: tarfile.TarFile, manifest: dict, dest: Path, counts: dict[str, int]) -> None:
    """Copy every later member into ``dest``, each one the manifest lists, once, with its size and sha256."""
    files, seen = manifest["files"], set()
    while (member := _next_file(tar, counts)) is not None:
        name = member.name
        if name != MANIFEST_NAME:
            check_member_path(name)
        if name in seen or name == MANIFEST_NAME:
            raise ArchiveRefused(f"member {name!r} appears twice")
        if name not in files:
            raise ArchiveRefused(f"member {name} is not in its manifest")
        seen.add(name)
        entry = files[name]
        if member.size != entry["size"]:
            raise ArchiveRefused(f"{name} has {member.size} bytes, its manifest says {entry['size']}")
        _copy_verified(tar.extractfile(member), dest / name, entry["size"], entry["sha256"], name)
    missing = sorted(set(files) - seen)
    if missing:
        raise ArchiveRefused(f"it lacks {len(missing)} file(s) its manifest lists (first: {missing[0]}), so it is "
                             "truncated or incomplete")


def _open_stream(archive: Path) -> tarfile.TarFile:
    """``archive`` opened as a tar stream (plain, gzip, bz2 or xz, by its first bytes)."""
    try:
        return tarfile.open(archive, "r|*", tarinfo=_BoundedTarInfo)
    except (TypeError, ValueError) as error:  # tarfile's gzip header reader fails so on a header cut short
        raise tarfile.ReadError(f"compression header cut short ({error})") from None


def extract_verified(archive: Path, dest: Path, where: str | None = None) -> dict:
    """Extract ``archive`` into the empty folder ``dest`` checking every member as it streams; returns the manifest.

    Raises:
        ArchiveRefused: see the module docstring; one line starting ``refused <where>:`` (``dest`` may then hold part
            of the archive: the caller deletes it).
    """
    where, counts = where or str(archive), {"members": 0}
    try:
        with _open_stream(archive) as tar:
            manifest = _read_manifest(tar, counts)
            try:
                check_free_space(dest, sum(entry["size"] for entry in manifest["files"].values()), "unpacking it")
            except ArchiveRefused as error:  # not the archive's fault: no "get it again" advice
                raise ArchiveRefused(f"refused {where}: {error}") from None
            _extract_files(tar, manifest, dest, counts)
    except ArchiveRefused as error:
        message = str(error)
        raise ArchiveRefused(message if message.startswith("refused") else f"refused {where}: {message}; {REPACK}"
                             ) from None
    except _BROKEN as error:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise ArchiveRefused(f"cannot write into {dest.parent} ({error.strerror}); free space or fix its "
                                 "permissions, then run make unpack again") from None
        reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise ArchiveRefused(f"refused {where}: not a readable tar archive, truncated or corrupt ({reason}); "
                             f"{REPACK}") from None
    return manifest
