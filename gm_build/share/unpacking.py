"""``make unpack``: verify an archive of :func:`gm_build.share.pack` completely, then install it into the cache.

Verification happens in a temporary folder inside ``$GM_CACHE_DIR`` (same filesystem, so installing is a
rename): the archive streams through :func:`~gm_build.share.extraction.extract_verified` (every member a regular
file at a plain path under ``runs/`` or a cached-results folder, exactly the manifest's files with their sizes
and sha256, the manifest and the total bounded, the disk's free space checked first), every ``.pt`` file must
load with ``torch.load(weights_only=True)``, and each run's configs (``config.json`` and its checkpoint's
``model_config``, which must be equal) may name only registered config classes (:mod:`gm_lib.saved_configs`):
nothing in an archive is imported or run. Any failure raises :class:`~gm_build.share.manifest.ArchiveRefused` with
one line saying what and how to fix it, and the cache is left byte-identical. Then each run whose key is current
for this code (:func:`gm_lib.runs.stale_reason`) is moved into ``runs/``; the others are reported as "will
retrain" with the reason and not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gm_build.share.extraction import REPACK, extract_verified
from gm_build.share.manifest import ArchiveRefused, sha256_file
from gm_build.share.sources import fetch_archive
from gm_lib.cache import load_torch
from gm_lib.checkpoint import CHECKPOINT_NAME, load_checkpoint
from gm_lib.paths import cache_dir
from gm_lib.runs import stale_reason, unfinished_reason
from gm_lib.saved_configs import ConfigRefused, UnknownConfigClass, decode_config, is_plain_json

__all__ = ["UnpackReport", "unpack"]

_MAX_CONFIG_BYTES = 1 << 20  # a run's config.json has a few KiB


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


def _check_loads(staging: Path, manifest: dict, where: str) -> dict[str, dict]:
    """Every ``.pt`` loads with ``weights_only=True`` (else refused); returns ``{checkpoint: {"finished",
    "model_config"}}`` of each run's checkpoint."""
    states = {}
    for name in manifest["files"]:
        if name.endswith(".pt"):
            try:
                if name.endswith(f"/{CHECKPOINT_NAME}"):
                    state = load_checkpoint(staging / name)
                    states[name] = {"finished": bool(state["finished"]), "model_config": state.get("model_config")}
                else:
                    load_torch(staging / name)
            except Exception as error:  # unpickling, zip and EOF errors: all mean it is not what a pack holds
                reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
                raise ArchiveRefused(f"refused {where}: {name} does not load with torch.load(weights_only=True) "
                                     f"({reason}); {REPACK}") from None
    return states


def _recorded_model_config(run_dir: Path, where: str) -> tuple[bool, object]:
    """``(found, model_config)`` of a packed run's ``config.json``; (False, None) when it has none or it is not
    JSON (then :func:`gm_lib.runs.stale_reason` lists the run as will retrain)."""
    path = run_dir / "config.json"
    if not path.is_file():
        return False, None
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise ArchiveRefused(f"refused {where}: {run_dir.name}/config.json is larger than a run's config may be "
                             f"({_MAX_CONFIG_BYTES} bytes); {REPACK}")
    try:
        recorded = json.loads(path.read_text())
    except (ValueError, RecursionError):
        return False, None
    return (True, recorded["model_config"]) if isinstance(recorded, dict) and "model_config" in recorded else (False,
                                                                                                                None)


def _check_configs(staging: Path, manifest: dict, states: dict[str, dict], where: str) -> None:
    """Refuse an archive whose run configs name a class that is not registered, or whose checkpoint holds another
    model config than its ``config.json``: a pack never does either. Decoding imports and calls nothing
    (:func:`gm_lib.saved_configs.decode_config`); a config that no longer fits the code is left to stale_reason."""
    for run in manifest["runs"]:
        run_dir = staging / run["dir"]
        saved = states[f"{run['dir']}/{CHECKPOINT_NAME}"]["model_config"]
        found, recorded = _recorded_model_config(run_dir, where)
        if found and not (is_plain_json(saved) and saved == recorded):
            raise ArchiveRefused(f"refused {where}: the checkpoint of {run_dir.name} holds another model config than "
                                 f"its config.json; {REPACK}")
        for config in (saved, recorded) if found else (saved,):
            try:
                decode_config(config)
            except UnknownConfigClass as error:
                raise ArchiveRefused(f"refused {where}: {run_dir.name}: {error}; nothing of it was run or installed"
                                     ) from None
            except ConfigRefused:
                pass


def _retrain_reasons(staging: Path, manifest: dict, states: dict[str, dict]) -> dict[str, str]:
    """``{run folder: why it will retrain}`` for the packed runs that are stale here or unfinished."""
    retrain = {}
    for run in manifest["runs"]:
        reason = stale_reason(staging / run["dir"])
        if reason is None and not states[f"{run['dir']}/{CHECKPOINT_NAME}"]["finished"]:
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
    created = not cache_root.exists()
    cache_root.mkdir(parents=True, exist_ok=True)
    # Same filesystem as the cache, so installing is a rename; named by this process, so a killed one's is found.
    temp = Path(tempfile.mkdtemp(prefix=f".unpack-{os.getpid()}-", dir=cache_root))
    try:
        return _verify_and_install(source, progress, sha256, cache_root, temp)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        if created and not any(cache_root.iterdir()):  # a refusal leaves no trace, not even the cache folder it made
            cache_root.rmdir()
        raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _verify_and_install(source: str, progress: bool, sha256: str | None, cache_root: Path, temp: Path) -> UnpackReport:
    """Fetch, verify and install ``source`` (see :func:`unpack`); ``temp`` is this unpack's folder in the cache."""
    archive = fetch_archive(source, temp, progress)
    actual = sha256_file(archive)[0] if sha256 is not None else None
    if actual is not None and actual != sha256.strip().lower():
        raise ArchiveRefused(f"refused {source}: its sha256 is {actual}, not the {sha256} you gave; get the "
                             "archive again from its publisher, or check the digest you were given")
    staging, trash = temp / "cache", temp / "replaced"
    staging.mkdir()
    trash.mkdir()
    manifest = extract_verified(archive, staging, where=source)
    states = _check_loads(staging, manifest, source)
    _check_configs(staging, manifest, states, source)
    report = UnpackReport(manifest, retrain=_retrain_reasons(staging, manifest, states))
    _install(staging, manifest, report, cache_root, trash)
    _remove_abandoned(cache_root)  # only after a success: a refusal leaves the cache as it was, byte for byte
    return report
