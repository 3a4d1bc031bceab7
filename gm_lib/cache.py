"""Files written all-or-nothing, and results cached under a key of their inputs and the code that made them.

Every file gm_lib writes goes through :func:`atomic_write`: a temporary file in the same folder,
fsync'ed, made mode 0644, then ``os.replace``'d over the target, so a crash (even SIGKILL) leaves
either the old file or the new one, never half, and the report, other users and CI can read it.

Every cached result (trained runs, NLL/FID scores, FID reference statistics and floors, domain
classifiers) is named by :func:`key_digest`: a hash of the settings that determine it *and* of the
code of the gm_lib modules it depends on (the import closure of a few root modules,
:mod:`gm_lib.code_graph`), so editing that code recomputes it and editing anything else does not.
:func:`load_or_compute` reads the cached file or computes and writes it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import torch

__all__ = ["atomic_write", "remove_temp_files", "key_digest", "load_or_compute", "load_torch", "load_npz", "dump_npz"]

T = TypeVar("T")
_TEMP_SUFFIX = ".tmp"


# ---------------------------------------------------------------- the one writer


def atomic_write(path: str | os.PathLike, data: bytes | None = None, *, obj: Any = None,
                 write: Callable[[BinaryIO], None] | None = None) -> None:
    """Write ``data`` (bytes), ``torch.save(obj)`` or what ``write(handle)`` writes to ``path``, all-or-nothing.

    The file ends with mode 0644 whatever the umask (results and caches are shared). Temp file in the
    same folder (same filesystem, so ``os.replace`` is atomic), fsync, replace, then fsync the folder so
    the rename itself survives a power cut. A killed writer leaves only a ``.<name>.<pid>.tmp`` file,
    which :func:`remove_temp_files` deletes.

    Raises:
        ValueError: not exactly one of ``data``, ``obj``, ``write`` given.
    """
    if sum(x is not None for x in (data, obj, write)) != 1:
        raise ValueError("atomic_write needs exactly one of data, obj, write")
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}{_TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            if data is not None:
                handle.write(data)
            elif obj is not None:
                torch.save(obj, handle)
            else:
                write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete temp files a killed writer left behind in ``directory``; returns what was removed."""
    stale = list(Path(directory).glob(f".*{_TEMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


# ---------------------------------------------------------------- keys


def key_digest(key: Any, code: Sequence[str] = (), length: int = 16) -> str:
    """``length`` hex digits naming a cached result: JSON of ``key`` (sorted keys) and the code of the gm_lib
    modules reachable from the ``code`` roots (dotted module names, e.g. ``("gm_lib.metrics.fid",)``).

    Raises:
        TypeError: ``key`` is not JSON-able.
        ValueError: a root is not a gm_lib module.
    """
    from gm_lib.code_graph import code_digests  # the graph reads gm_lib's sources: only when a key names code

    blob = json.dumps({"key": key, "code": code_digests(code) if code else None}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


# ---------------------------------------------------------------- the one cache (and its file formats)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _dump_json(value: Any, handle: BinaryIO) -> None:
    handle.write(json.dumps(value, indent=1).encode())


def load_torch(path: Path) -> Any:
    """A ``torch.save`` file of tensors and plain values, loaded with ``weights_only=True`` (no pickle), on CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """A ``.npz`` file as a dict of arrays (read into memory, file closed)."""
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


def dump_npz(value: dict[str, np.ndarray], handle: BinaryIO) -> None:
    """Write a dict of arrays as ``.npz`` (the ``dump`` of :func:`load_or_compute` for :func:`load_npz`)."""
    np.savez(handle, **value)


def load_or_compute(path: str | os.PathLike, compute: Callable[[], T], *, load: Callable[[Path], T] = _load_json,
                    dump: Callable[[T, BinaryIO], None] = _dump_json, force: bool = False,
                    code: Sequence[str] = ()) -> T:
    """The value cached at ``path`` (name it with :func:`key_digest`), or ``compute()`` written there and returned.

    Args:
        compute: makes the value (JSON-able with the default ``load`` / ``dump``).
        load: reads the file back; ``dump(value, handle)`` writes it (through :func:`atomic_write`).
        force: recompute and overwrite even when the file exists.
        code: the roots the key's code came from (as given to :func:`key_digest`); checked before writing.

    Raises:
        gm_lib.code_graph.CodeChanged: a module of ``code`` changed on disk since this process imported it (the
            value was computed by code the key no longer names): nothing is written.
    """
    path = Path(path)
    if path.is_file() and not force:
        return load(path)
    from gm_lib.code_graph import check_current, code_digests  # as in key_digest

    keyed = code_digests(code) if code else {}  # the code the key names (taken before compute() imports more)
    value = compute()
    check_current(keyed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write=lambda handle: dump(value, handle))
    return value
