"""Fuzzing make unpack (hypothesis): a valid small archive, damaged at random, never runs code and never half-installs.

The archive is made by the real ``pack`` from a tiny run (get_or_train on random 8x8 images, as in test_share.py).
Each example renames, drops or inserts members (some listed in the manifest with their true sha256, some of
them configs or checkpoints naming code: subprocess, os.system, open, eval, exec, a gm_lib function), may gzip
the result, then flips bytes and truncates. For every example: nothing ran (no trace file, no subprocess, the
victim folder intact), and either it was refused with one ``ArchiveRefused`` line and the cache is byte-identical,
or it installed only members of the archive, byte for byte (with every member intact: what the pack installs).
Run with ``--hypothesis-show-statistics`` to see which checks refused how many examples.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gm_lib.runs as runs
from gm_build.share import ArchiveRefused, pack, unpack
from gm_lib.cache import atomic_write
from gm_lib.checkpoint import CHECKPOINT_NAME
from gm_lib.data import DataSpec
from gm_lib.train_config import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import TinyConfig, random_dataset  # noqa: E402

EXAMPLES = 300


class Original:
    """The intact archive's members in order, and what unpacking it into the seeded cache leaves there.

    A plain class, not a dataclass: hypothesis prints it with a failing example, and its bytes would fill pages.
    """

    def __init__(self, members: list[tuple[tarfile.TarInfo, bytes]], installed: dict[str, str], run: str,
                 traces: Path):
        self.members, self.installed = members, installed
        self.run = run  # the run folder, runs/<name>-<key>
        self.traces = traces  # where a config naming code would leave its mark if it ran

    def __repr__(self) -> str:
        return f"Original({len(self.members)} members of {self.run})"


def _tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``: file contents' sha256 and mode, link targets, folders."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            tree[path.relative_to(root).as_posix()] = (
                f"link:{os.readlink(path)}" if path.is_symlink() else "dir" if path.is_dir()
                else hashlib.sha256(path.read_bytes()).hexdigest() + oct(path.stat().st_mode))
    return tree


def _seed_cache(cache: Path) -> None:
    """What a student's cache already holds: it must come through every refusal untouched."""
    (cache / "fid_stats").mkdir(parents=True)
    atomic_write(cache / "fid_stats" / "mnist-test-n64-aaaaaaaaaaaa.npz", b"kept statistics")


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Original:
    source, target = tmp_path_factory.mktemp("fuzz-source"), tmp_path_factory.mktemp("fuzz-target")
    traces = tmp_path_factory.mktemp("traces")
    (traces / "victim").mkdir()
    (traces / "victim" / "keep.txt").write_text("must survive")
    archive = tmp_path_factory.mktemp("fuzz-archive") / "models.tar"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DataSpec, "load", lambda self: random_dataset(n=self.n or 64))
        patch.setenv("GM_CACHE_DIR", str(source))
        train = TrainConfig(steps=4, batch_size=16, checkpoint_every=2, log_every=2, snapshot_every=2, device="cpu")
        runs.get_or_train("fuzz", TinyConfig(hidden=4), DataSpec("mnist", "train", n=64), train, progress=False)
        (source / "fid_stats").mkdir()
        atomic_write(source / "fid_stats" / "mnist-test-n64-0123456789ab.npz", b"statistics")
        pack(archive, profile="smoke")
        patch.setenv("GM_CACHE_DIR", str(target))
        _seed_cache(target)
        unpack(str(archive), progress=False)
    with tarfile.open(archive) as tar:
        members = [(member, tar.extractfile(member).read()) for member in tar.getmembers()]
    run = next(info.name for info, _ in members if info.name.endswith(CHECKPOINT_NAME)).rsplit("/", 1)[0]
    return Original(members, _tree(target), run, traces)


# ---------------------------------------------------------------- what an example does to the archive

CODE = ["subprocess:run", "os:system", "builtins:open", "builtins:eval", "builtins:exec",
        "gm_lib.checkpoint:delete_run_files"]
NAMES = st.one_of(
    st.sampled_from(["manifest.json", "../x", "/tmp/gm-lab-fuzz", "runs/../../x", "runs/x/../../y", "fid/w.pth",
                     "fid_stats/extra.npz", "fid_stats/.hidden", "runs/fuzz-0123456789ab/checkpoint.pt",
                     "classifiers/c.pt", "runs/a", "C:/x", "fid_stats/a b"]),
    st.text(st.sampled_from("abc/._-"), min_size=1, max_size=24),
)
KINDS = st.sampled_from([tarfile.REGTYPE] * 4 + [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.CHRTYPE,
                                                  tarfile.FIFOTYPE, tarfile.GNUTYPE_SPARSE])
PAYLOADS = st.one_of(st.sampled_from(CODE).map(lambda name: ("config", name)),
                     st.sampled_from(CODE).map(lambda name: ("checkpoint", name)),
                     st.binary(max_size=64).map(lambda data: ("bytes", data)))
MEMBER_OPS = st.one_of(
    st.tuples(st.just("rename"), st.integers(0, 99), NAMES),
    st.tuples(st.just("drop"), st.integers(0, 99)),
    st.tuples(st.just("insert"), st.integers(0, 99), NAMES, KINDS, PAYLOADS, st.booleans()),
    st.tuples(st.just("name code"), st.sampled_from(CODE), st.sampled_from(["config", "checkpoint", "both"])),
)
BYTE_OPS = st.one_of(  # half the examples keep every byte, so member-level damage reaches the later checks
    st.just([]),
    st.lists(st.one_of(st.tuples(st.just("flip"), st.integers(0, 2**31), st.integers(1, 255)),
                       st.tuples(st.just("truncate"), st.integers(0, 2**31))), min_size=1, max_size=3),
)


def _fields(name: str, traces: Path) -> dict:
    """Fields under which ``name``, called, would leave a trace in ``traces``."""
    trace = str(traces / f"ran-{name.replace(':', '-')}")
    return {"subprocess:run": {"args": ["touch", trace]}, "os:system": {"command": f"touch {trace}"},
            "builtins:open": {"file": trace, "mode": "w"}, "builtins:eval": {"source": f"open({trace!r}, 'w')"},
            "builtins:exec": {"source": f"open({trace!r}, 'w')"},
            "gm_lib.checkpoint:delete_run_files": {"run_dir": str(traces / "victim")}}[name]


def _payload(payload: tuple, original: Original) -> bytes:
    kind, value = payload
    if kind == "bytes":
        return value
    model_config = {"__class__": value, "fields": _fields(value, original.traces)}
    if kind == "config":
        return json.dumps({"model_config": model_config, "code": {}}).encode()
    blob = io.BytesIO()
    torch.save({"model": {}, "optimizers": {}, "rng": {}, "step": 4, "finished": True, "history": {},
                "train_config": {}, "model_config": model_config}, blob)
    return blob.getvalue()


def _named_code(member: tuple, name: str, where: str, original: Original) -> tuple:
    """A run's config.json and/or checkpoint rewritten to name code (the manifest updated by the caller)."""
    info, data = member
    model_config = {"__class__": name, "fields": _fields(name, original.traces)}
    if info.name == f"{original.run}/config.json" and where in ("config", "both"):
        data = json.dumps({**json.loads(data), "model_config": model_config}).encode()
    elif info.name == f"{original.run}/{CHECKPOINT_NAME}" and where in ("checkpoint", "both"):
        blob = io.BytesIO()
        torch.save({**torch.load(io.BytesIO(data), weights_only=True), "model_config": model_config}, blob)
        data = blob.getvalue()
    else:
        return member
    info.size = len(data)
    return info, data


def _apply_member_ops(ops: list, original: Original) -> list[tuple[tarfile.TarInfo, bytes]]:
    members, listed = [(_copy_info(info), data) for info, data in original.members], {}
    for op in ops:
        if op[0] == "rename":
            info, data = members[op[1] % len(members)]
            info.name = op[2]
        elif op[0] == "drop":
            members.pop(op[1] % len(members))
        elif op[0] == "insert":
            _, index, name, kind, payload, in_manifest = op
            info, data = tarfile.TarInfo(name), _payload(payload, original)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.linkname = "manifest.json" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            members.insert(index % (len(members) + 1), (info, data if kind == tarfile.REGTYPE else b""))
            if in_manifest and kind == tarfile.REGTYPE:
                listed[name] = data
        else:
            members = [_named_code(member, op[1], op[2], original) for member in members]
            listed |= {info.name: data for info, data in members if info.name.startswith(f"{original.run}/")}
        if not members:
            return []
    return _list_in_manifest(members, listed)


def _copy_info(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A fresh header with the fields make pack sets (the original stays intact for the next example)."""
    copy = tarfile.TarInfo(info.name)
    copy.size, copy.mode, copy.type, copy.mtime = info.size, info.mode, info.type, info.mtime
    return copy


def _list_in_manifest(members: list, listed: dict[str, bytes]) -> list:
    """The manifest (where it still is one) lists ``listed`` with their true sha256 and size."""
    out = []
    for info, data in members:
        if info.name == "manifest.json" and listed:
            try:
                manifest = json.loads(data)
                manifest["files"] |= {name: {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
                                      for name, blob in listed.items()}
                data = json.dumps(manifest).encode()
                info.size = len(data)
            except (ValueError, TypeError, KeyError):
                pass
        out.append((info, data))
    return out


def _write(members: list, gzipped: bool) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    blob = buffer.getvalue()
    return gzip.compress(blob, compresslevel=1, mtime=0) if gzipped else blob


def _apply_byte_ops(blob: bytes, ops: list) -> bytes:
    data = bytearray(blob)
    for op in ops:
        if not data:
            break
        if op[0] == "flip":
            data[op[1] % len(data)] ^= op[2]
        else:
            del data[op[1] % len(data):]
    return bytes(data)


# ---------------------------------------------------------------- the property


@pytest.fixture(scope="module")
def no_subprocesses():
    """Any subprocess or os.system call during an unpack is recorded (and not run)."""
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", lambda self, *a, **k: calls.append(("Popen", a)) or 1 / 0)
        patch.setattr(os, "system", lambda *a: calls.append(("system", a)) or 1)
        yield calls


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(member_ops=st.one_of(st.just([]), st.lists(MEMBER_OPS, min_size=1, max_size=3)), gzipped=st.booleans(),
       byte_ops=BYTE_OPS)
def test_a_damaged_archive_runs_nothing_and_installs_all_or_nothing(original, no_subprocesses, member_ops, gzipped,
                                                                     byte_ops):
    members = _apply_member_ops(member_ops, original)
    blob = _apply_byte_ops(_write(members, gzipped), byte_ops)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        cache, archive = Path(folder) / "cache", Path(folder) / "fuzzed.tar"
        _seed_cache(cache)
        archive.write_bytes(blob)
        patch.setenv("GM_CACHE_DIR", str(cache))
        before = _tree(cache)
        try:
            unpack(str(archive), progress=False)
        except ArchiveRefused as refused:
            message = str(refused)
            assert message and "\n" not in message, message
            event("refused: " + " ".join(message.split(": ", 1)[-1].split()[:4]))  # --hypothesis-show-statistics
            assert _tree(cache) == before, message
        else:
            event("installed")
            _assert_installed_only_members(cache, before, members, original, intact=not member_ops)
    assert sorted(p.name for p in original.traces.iterdir()) == ["victim"], "a config named by the archive ran"
    assert (original.traces / "victim" / "keep.txt").is_file() and no_subprocesses == []


def _assert_installed_only_members(cache: Path, before: dict, members: list, original: Original, intact: bool):
    """After a success the cache holds what it held, plus files that are members of the archive, byte for byte
    (0644); an archive damaged only in bytes that do not matter (padding, layout) installs what the intact one does."""
    after = _tree(cache)
    if intact:
        assert after == original.installed
    assert all(after.get(path) == entry for path, entry in before.items())
    offered = {info.name: hashlib.sha256(data).hexdigest() + oct(0o100644) for info, data in members}
    for path, entry in after.items():
        if path not in before and entry != "dir":
            assert offered.get(path) == entry, path


def test_the_fuzzer_reaches_every_check(original):
    """The strategies can express what the checks refuse: named code listed with its true sha256 reaches the
    config check (not only the checksum check)."""
    members = _apply_member_ops([("name code", "subprocess:run", "both")], original)
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        cache, archive = Path(folder) / "cache", Path(folder) / "fuzzed.tar"
        archive.write_bytes(_write(members, gzipped=True))
        patch.setenv("GM_CACHE_DIR", str(cache))
        with pytest.raises(ArchiveRefused, match="config names class 'subprocess:run', which is not a registered"):
            unpack(str(archive), progress=False)
        assert unpack(str(_rewrite(archive, original)), progress=False).cached == [original.run.removeprefix("runs/")]


def _rewrite(archive: Path, original: Original) -> Path:
    """The intact archive, written by this module's writer (so the writer itself is not what the checks refuse)."""
    archive.write_bytes(_write(_apply_member_ops([], original), gzipped=False))
    return archive

