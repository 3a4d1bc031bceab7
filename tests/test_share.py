"""make pack / make unpack (gm_build.share): tiny real runs travel, and a bad archive installs nothing.

The runs are trained for a few steps by gm_lib.runs.get_or_train on random 8x8 images (DataSpec.load is
patched, so no dataset is needed) into a temporary GM_CACHE_DIR; downloads are served from 127.0.0.1 only (https, with
a self-signed certificate the test trusts), and the Hugging Face test reads a local Hub-cache folder with
HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch

import gm_lib.runs as runs
from gm_build.share import ArchiveRefused, pack, unpack
from gm_build.share.__main__ import main as share_main
from gm_build.share.sources import parse_hub_spec
from gm_lib.cache import atomic_write
from gm_lib.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from gm_lib.data import DataSpec
from gm_lib.train_config import TrainConfig
from gm_lib.versions import collect_versions, record_run_versions

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import TinyConfig, random_dataset  # noqa: E402

TINY = TrainConfig(steps=6, batch_size=16, checkpoint_every=3, log_every=2, snapshot_every=3, device="cpu")
SPEC = DataSpec("mnist", "train", n=64)
SCORE = {"key": {"metric": "samples", "n": 64}, "value": {"fid": 12.5}}


@dataclass
class Packed:
    """A source cache with two current runs (and things that must not travel), and its archive."""

    cache: Path
    archive: Path
    runs: dict[str, Path]  # run folder name -> folder in the source cache
    weights: dict[str, dict]  # run folder name -> trained state_dict


def _train(name: str, seed: int, **model_config) -> tuple[Path, dict]:
    """Train a tiny run with ``get_or_train``; returns its folder and weights."""
    config, train_config = TinyConfig(**model_config), replace(TINY, seed=seed)
    model, _ = runs.get_or_train(name, config, SPEC, train_config, progress=False)
    return runs.run_directory(name, config, SPEC, train_config), {k: v.clone() for k, v in model.state_dict().items()}


def _fill_cache(cache: Path) -> tuple[dict[str, Path], dict[str, dict]]:
    """Two finished runs with a cached score each, an unfinished run, cached results and what must stay home."""
    folders, weights = {}, {}
    for name, seed, hidden in (("tiny_a", 0, 8), ("tiny_b", 1, 4)):
        run_dir, state = _train(name, seed, hidden=hidden)
        (run_dir / "metrics").mkdir()
        atomic_write(run_dir / "metrics" / f"{name}0123456789ab.json", json.dumps(SCORE).encode())
        if name == "tiny_a":
            record_run_versions(run_dir)  # as train_run does; tiny_b has none recorded
        folders[run_dir.name], weights[run_dir.name] = run_dir, state
    unfinished, _ = _train("tiny_unfinished", 2)
    state = load_checkpoint(unfinished / CHECKPOINT_NAME)
    save_checkpoint(unfinished / CHECKPOINT_NAME, {**state, "finished": False})
    (cache / "runs" / "tiny_a-000000000000").mkdir()  # a folder of no current key: not packed
    (cache / "fid_stats").mkdir()
    atomic_write(cache / "fid_stats" / "mnist-test-n64-0123456789ab.npz", b"statistics")
    atomic_write(cache / "fid_stats" / "mnist-floor-n64-0123456789ab-kid.json", b'{"fid": 1.0}')
    (cache / "classifiers" / "mnist-0123456789-run").mkdir(parents=True)  # its training folder stays home
    atomic_write(cache / "classifiers" / "mnist-0123456789.pt", obj={"weight": torch.ones(3)})
    (cache / "fid").mkdir()
    atomic_write(cache / "fid" / "pt_inception-weights.pth", b"inception weights: made by make setup")
    atomic_write(cache / "classifiers" / ".mnist-0123456789.pt.123.tmp", b"a killed writer's temp file")
    return folders, weights


@pytest.fixture(autouse=True)
def random_images(monkeypatch):
    """Runs train on random images: no dataset mirror needed."""
    monkeypatch.setattr(DataSpec, "load", lambda self: random_dataset(n=self.n or 64))


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Packed:
    cache = tmp_path_factory.mktemp("source-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GM_CACHE_DIR", str(cache))
        patch.setattr(DataSpec, "load", lambda self: random_dataset(n=self.n or 64))
        folders, weights = _fill_cache(cache)
        archive = tmp_path_factory.mktemp("archive") / "models.tar"
        pack(archive, profile="smoke")
    return Packed(cache, archive, folders, weights)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty GM_CACHE_DIR of this test."""
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("GM_CACHE_DIR", str(folder))
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (hidden ones too): file contents' sha256, link targets, folders."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = path.relative_to(root).as_posix()
            tree[key] = (f"link:{os.readlink(path)}" if path.is_symlink() else "dir" if path.is_dir()
                         else _sha(path) + f":{oct(path.stat().st_mode)}")
    return tree


def _manifest(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        return json.load(tar.extractfile("manifest.json"))


# ---------------------------------------------------------------- stale_reason (the run-key interface)


def test_stale_reason_none_for_a_current_run_and_a_reason_otherwise(packed, monkeypatch, tmp_path):
    monkeypatch.setenv("GM_CACHE_DIR", str(packed.cache))
    run_dir = next(iter(packed.runs.values()))
    assert runs.stale_reason(run_dir) is None
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    (copy / "config.json").unlink()
    assert runs.stale_reason(copy) == "config.json missing"
    renamed = tmp_path / "tiny_a-0123456789ab"
    shutil.copytree(run_dir, renamed)
    assert "another key" in runs.stale_reason(renamed)
    monkeypatch.setattr(runs, "training_code", lambda *configs: {"train.py": "f" * 16})  # another import closure
    assert runs.stale_reason(run_dir) == "its code now imports other gm_lib modules"


# ---------------------------------------------------------------- pack


def test_pack_writes_current_finished_runs_and_cached_results_with_a_manifest(packed, monkeypatch, tmp_path,
                                                                                capsys):
    manifest = _manifest(packed.archive)
    assert manifest["format"] == "gm-lab-models" and manifest["profile"] == "smoke" and manifest["seeds"] == [0, 1]
    assert manifest["git_commit"]
    assert sorted(run["dir"] for run in manifest["runs"]) == sorted(f"runs/{name}" for name in packed.runs)
    assert {run["key"] for run in manifest["runs"]} == {name[-12:] for name in packed.runs}
    assert manifest["versions"] == collect_versions()  # the packing environment's torch, ..., scipy, openvino
    assert {"torch", "torchvision", "numpy", "scipy", "openvino"} < set(manifest["versions"])
    assert {run["name"]: run["versions"] for run in manifest["runs"]} == {"tiny_a": collect_versions(), "tiny_b": None}
    files = set(manifest["files"])
    assert {"fid_stats/mnist-test-n64-0123456789ab.npz", "fid_stats/mnist-floor-n64-0123456789ab-kid.json",
            "classifiers/mnist-0123456789.pt"} < files
    assert not [name for name in files if name.startswith(("fid/", "runs/tiny_unfinished", "runs/tiny_a-000"))]
    assert not [name for name in files if "-run/" in name or name.split("/")[-1].startswith(".")]
    for name in packed.runs:
        assert {f"runs/{name}/{f}" for f in ("checkpoint.pt", "config.json", "history.json", "history.csv")} < files
        assert any(f.startswith(f"runs/{name}/snapshots/") for f in files)
        assert any(f.startswith(f"runs/{name}/metrics/") for f in files)
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": _sha(packed.cache / name), "size": (packed.cache / name).stat().st_size}
    with tarfile.open(packed.archive) as tar:
        assert tar.getnames() == ["manifest.json", *manifest["files"]]
    monkeypatch.setenv("GM_CACHE_DIR", str(packed.cache))
    again = pack(tmp_path / "again.tar", profile="smoke")  # deterministic: same cache, same bytes
    assert _sha(tmp_path / "again.tar") == _sha(packed.archive) == again.sha256
    assert set(again.skipped) == {"tiny_a-000000000000", *[p.name for p in (packed.cache / "runs").glob("tiny_unf*")]}
    import gm_build.share.__main__ as cli

    monkeypatch.setattr(cli, "_report_run_folders", lambda profile: set(packed.runs))  # the report's runs
    assert share_main(["pack", str(tmp_path / "cli.tar"), "--profile", "smoke"]) == 0
    assert _sha(tmp_path / "cli.tar") == again.sha256 and f"sha256 {again.sha256}" in capsys.readouterr().out
    first, *others = sorted(packed.runs)
    only = pack(tmp_path / "only.tar", profile="smoke", only={first})  # a run the report does not use stays out
    assert only.runs == [first]
    assert all(only.skipped[other] == "not one of the report's runs at this profile" for other in others)


# ---------------------------------------------------------------- unpack


def _assert_installed(packed: Packed, cache: Path, monkeypatch) -> None:
    for name, entry in _manifest(packed.archive)["files"].items():
        assert _sha(cache / name) == entry["sha256"], name
    for name, run_dir in packed.runs.items():
        assert runs.stale_reason(cache / "runs" / name) is None
        for score in (run_dir / "metrics").iterdir():
            assert (cache / "runs" / name / "metrics" / score.name).read_bytes() == score.read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("an unpacked run must be loaded, not trained")

    monkeypatch.setattr(runs, "train", no_training)
    for (name, seed, hidden), folder in zip((("tiny_a", 0, 8), ("tiny_b", 1, 4)), sorted(packed.runs), strict=True):
        model, history = runs.get_or_train(name, TinyConfig(hidden=hidden), SPEC,
                                           replace(TINY, seed=seed), progress=False)
        assert history.steps_done == TINY.steps
        state = model.state_dict()
        assert all(torch.equal(state[k], packed.weights[folder][k]) for k in state)


def test_unpack_into_an_empty_cache_makes_every_run_cached(packed, cache, monkeypatch):
    report = unpack(str(packed.archive), progress=False)
    assert sorted(report.cached) == sorted(packed.runs) and not report.retrain and not report.kept
    assert report.results_installed == 3
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # the temporary folder is gone
    assert not (cache / "fid").exists()
    _assert_installed(packed, cache, monkeypatch)


def test_unpack_keeps_a_finished_local_run_and_replaces_an_unfinished_one(packed, cache):
    first, second = sorted(packed.runs)
    shutil.copytree(packed.runs[first], cache / "runs" / first)
    (cache / "runs" / first / "metrics" / next(iter(os.listdir(cache / "runs" / first / "metrics")))).unlink()
    local = shutil.copytree(packed.runs[second], cache / "runs" / second)
    save_checkpoint(local / CHECKPOINT_NAME, {**load_checkpoint(local / CHECKPOINT_NAME), "finished": False})
    report = unpack(str(packed.archive), progress=False)
    assert report.kept == [first] and report.cached == [second]
    assert load_checkpoint(local / CHECKPOINT_NAME)["finished"]
    assert len(os.listdir(cache / "runs" / first / "metrics")) == 1  # the missing score was added
    assert unpack(str(packed.archive), progress=False).results_kept == 3  # again: all already here


def test_a_run_packed_under_other_code_is_listed_will_retrain_and_not_installed(tmp_path, cache, monkeypatch):
    source = tmp_path / "old"
    source.mkdir()
    monkeypatch.setenv("GM_CACHE_DIR", str(source))
    with monkeypatch.context() as patch:
        patch.setattr(runs, "training_code", lambda *configs: {"train.py": "0" * 16})  # the code of another commit
        patch.setattr(runs, "check_current", lambda code: None)  # ... which that commit's process ran
        run_dir, _ = _train("tiny_old", 0)
        pack(tmp_path / "old.tar")
    monkeypatch.setenv("GM_CACHE_DIR", str(cache))
    report = unpack(str(tmp_path / "old.tar"), progress=False)
    assert report.retrain == {run_dir.name: "code changed since it was trained: gm_lib/train.py"}
    assert not report.cached
    assert not (cache / "runs" / run_dir.name).exists()
    assert share_main(["unpack", str(tmp_path / "old.tar"), "--no-progress"]) == 0


def test_a_run_whose_folder_is_not_its_key_is_listed_will_retrain_beside_the_current_ones(packed, tmp_path, cache,
                                                                                         monkeypatch, capsys):
    """Whatever the key function, a run folder renamed to another key is not the current run."""
    source = tmp_path / "source"
    for name, run_dir in packed.runs.items():
        shutil.copytree(run_dir, source / "runs" / name)
    renamed = source / "runs" / "tiny_a-0123456789ab"
    shutil.copytree(next(iter(packed.runs.values())), renamed)
    monkeypatch.setenv("GM_CACHE_DIR", str(source))
    with monkeypatch.context() as patch:
        patch.setattr("gm_build.share.packing.stale_reason", lambda run_dir: None)  # a packer that calls it current
        patch.setattr("gm_build.share.packing.unfinished_reason", lambda run_dir: None)
        pack(tmp_path / "mixed.tar")
    monkeypatch.setenv("GM_CACHE_DIR", str(cache))
    assert share_main(["unpack", str(tmp_path / "mixed.tar"), "--no-progress"]) == 0
    reason = runs.stale_reason(renamed)
    assert reason and "\n" not in reason
    assert f"will retrain  {renamed.name}: {reason}" in capsys.readouterr().out
    assert not (cache / "runs" / renamed.name).exists()
    assert all(runs.stale_reason(cache / "runs" / name) is None for name in packed.runs)


# ---------------------------------------------------------------- refusals: one line, nothing installed


def _rebuild(archive: Path, out: Path, *, drop=(), add=(), edit_manifest=None) -> Path:
    """``archive`` without members ``drop``, with ``(TarInfo, bytes)`` members ``add``, its manifest edited."""
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for member in source.getmembers():
            if member.name in drop:
                continue
            data = source.extractfile(member).read()
            if member.name == "manifest.json" and edit_manifest is not None:
                manifest = json.loads(data)
                edit_manifest(manifest)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
        for info, data in add:
            target.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def _checkpoint_name(archive: Path) -> str:
    return next(name for name in _manifest(archive)["files"] if name.endswith(CHECKPOINT_NAME))


def _flip_byte(archive: Path, out: Path) -> Path:
    with tarfile.open(archive) as tar:
        offset = tar.getmember(_checkpoint_name(archive)).offset_data + 100
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def _wrong_sha(manifest: dict) -> None:
    manifest["files"][_checkpoint_name_in(manifest)]["sha256"] = "0" * 64


def _checkpoint_name_in(manifest: dict) -> str:
    return next(name for name in manifest["files"] if name.endswith(CHECKPOINT_NAME))


def _pickled_checkpoint(archive: Path, out: Path) -> Path:
    """A checkpoint that needs full pickle (a plain Python object): refused by weights_only=True."""
    blob = io.BytesIO()
    torch.save({"model": {}, "payload": Packed}, blob)
    name = _checkpoint_name(archive)

    def edit(manifest):
        manifest["files"][name] = {"sha256": hashlib.sha256(blob.getvalue()).hexdigest(), "size": len(blob.getvalue())}

    return _rebuild(archive, out, drop=(name,), add=[_member(name, data=blob.getvalue())], edit_manifest=edit)


BAD_ARCHIVES = {
    "tampered byte": (_flip_byte, "does not match its sha256"),
    "truncated": (lambda a, out: out.write_bytes(a.read_bytes()[: a.stat().st_size // 2]) and out, "truncated"),
    "not a tar": (lambda a, out: out.write_bytes(b"<html>not found</html>") and out, "not a readable tar archive"),
    "path traversal": (lambda a, out: _rebuild(a, out, add=[_member("runs/../../x")]), "climbs out of the cache"),
    "dotdot at the top": (lambda a, out: _rebuild(a, out, add=[_member("../x")]), "climbs out of the cache"),
    "absolute path": (lambda a, out: _rebuild(a, out, add=[_member("/tmp/gm-lab-x")]), "absolute path"),
    "symlink": (lambda a, out: _rebuild(a, out, add=[_member("runs/x/link", tarfile.SYMTYPE, link="/etc/passwd")]),
                "is a symlink"),
    "hardlink": (lambda a, out: _rebuild(a, out, add=[_member("fid_stats/h", tarfile.LNKTYPE, link="manifest.json")]),
                 "is a hardlink"),
    "device file": (lambda a, out: _rebuild(a, out, add=[_member("fid_stats/dev", tarfile.CHRTYPE)]), "device file"),
    "checksum mismatch": (lambda a, out: _rebuild(a, out, edit_manifest=_wrong_sha), "does not match its sha256"),
    "missing manifest": (lambda a, out: _rebuild(a, out, drop=("manifest.json",)), "no manifest.json"),
    "missing member": (lambda a, out: _rebuild(a, out, drop=(_checkpoint_name(a),)), "lacks 1 file(s)"),
    "extra member": (lambda a, out: _rebuild(a, out, add=[_member("fid_stats/extra.npz")]), "not in its manifest"),
    "outside the cache folders": (lambda a, out: _rebuild(a, out, add=[_member("fid/weights.pth")]),
                                  "not a run or cached-result file"),
    "pickle in a checkpoint": (_pickled_checkpoint, "does not load with torch.load(weights_only=True)"),
}


@pytest.mark.parametrize("case", BAD_ARCHIVES)
def test_a_bad_archive_is_refused_in_one_line_and_the_cache_stays_byte_identical(case, packed, cache, tmp_path,
                                                                                  capsys):
    make, expected = BAD_ARCHIVES[case]
    bad = make(packed.archive, tmp_path / "bad.tar")
    shutil.copytree(next(iter(packed.runs.values())), cache / "runs" / "already-here")  # something to keep
    before = _tree(cache)
    with pytest.raises(ArchiveRefused) as refused:
        unpack(str(bad), progress=False)
    message = str(refused.value)
    assert expected in message and "\n" not in message and "make pack" in message
    assert _tree(cache) == before
    assert share_main(["unpack", str(bad), "--no-progress"]) == 1
    assert capsys.readouterr().err.count("\n") == 1 and _tree(cache) == before


# ---------------------------------------------------------------- data never names code


def _replace_members(archive: Path, out: Path, members: dict[str, bytes]) -> Path:
    """``archive`` with the files ``members`` (cache paths) given new contents, its manifest's sha256 and size too."""

    def edit(manifest):
        for name, data in members.items():
            manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    return _rebuild(archive, out, drop=tuple(members), add=[_member(name, data=data) for name, data in members.items()],
                    edit_manifest=edit)


def _naming(archive: Path, out: Path, model_config: dict, *, in_config=True, in_checkpoint=True) -> Path:
    """``archive`` whose first run's ``config.json`` and/or checkpoint record ``model_config``, checksums updated."""
    checkpoint = _checkpoint_name(archive)
    config = checkpoint.replace(CHECKPOINT_NAME, "config.json")
    with tarfile.open(archive) as tar:
        recorded = json.load(tar.extractfile(config))
        state = torch.load(io.BytesIO(tar.extractfile(checkpoint).read()), weights_only=True)
    members = {}
    if in_config:
        members[config] = json.dumps({**recorded, "model_config": model_config}, indent=2).encode()
    if in_checkpoint:
        blob = io.BytesIO()
        torch.save({**state, "model_config": model_config}, blob)
        members[checkpoint] = blob.getvalue()
    return _replace_members(archive, out, members)


def _callables(tmp_path: Path) -> dict[str, tuple[dict, Path]]:
    """Names of code a config could point at -> (fields that would leave a trace if it were called, that trace)."""
    victim = tmp_path / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "keep.txt").write_text("must survive")
    return {
        "subprocess:run": ({"args": ["touch", str(tmp_path / "ran-subprocess")]}, tmp_path / "ran-subprocess"),
        "os:system": ({"command": f"touch {tmp_path / 'ran-system'}"}, tmp_path / "ran-system"),
        "builtins:open": ({"file": str(tmp_path / "ran-open"), "mode": "w"}, tmp_path / "ran-open"),
        "builtins:eval": ({"source": f"open({str(tmp_path / 'ran-eval')!r}, 'w')"}, tmp_path / "ran-eval"),
        # a gm_lib function that is not a config class: it would delete the victim's files
        "gm_lib.checkpoint:delete_run_files": ({"run_dir": str(victim)}, victim / "keep.txt"),
    }


@pytest.mark.parametrize("name", ["subprocess:run", "os:system", "builtins:open", "builtins:eval",
                                  "gm_lib.checkpoint:delete_run_files"])
def test_an_archive_whose_config_names_code_is_refused_before_anything_runs(name, packed, cache, tmp_path, capsys):
    fields, trace = _callables(tmp_path)[name]
    expected_trace = trace.exists()  # only the victim's file exists before
    shutil.copytree(next(iter(packed.runs.values())), cache / "runs" / "already-here")
    before = _tree(cache)
    for placement in ({}, {"in_config": False}, {"in_checkpoint": False}):
        bad = _naming(packed.archive, tmp_path / "bad.tar", {"__class__": name, "fields": fields}, **placement)
        with pytest.raises(ArchiveRefused) as refused:
            unpack(str(bad), progress=False)
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"refused {bad}: ")
        assert (f"config names class {name!r}, which is not a registered config class (known: " in message
                or "holds another model config than its config.json" in message), message
        assert "gm_lib.models.gan:GANConfig" in message or "another model config" in message
        assert trace.exists() == expected_trace and _tree(cache) == before, placement
        assert share_main(["unpack", str(bad), "--no-progress"]) == 1
        assert capsys.readouterr().err.count("\n") == 1 and _tree(cache) == before


def test_a_registered_config_with_a_gan_loss_that_is_no_family_imports_nothing(packed, cache, tmp_path):
    """GANConfig imports its loss family by name: a name that is not a module of gan_losses is refused first."""
    bad_loss = {"__class__": "gm_lib.models.gan:GANConfig", "fields": {"loss": "os"}}
    bad = _naming(packed.archive, tmp_path / "bad.tar", bad_loss)
    report = unpack(str(bad), progress=False)  # a config of other code: it will retrain, not run anything
    (name, reason), = report.retrain.items()
    assert "loss='os' unknown" in reason and "\n" not in reason
    assert "gm_lib.models.gan_losses.os" not in sys.modules and not (cache / "runs" / name).exists()


def test_an_oversized_manifest_is_refused_in_one_line_without_reading_it(packed, cache, tmp_path, capsys):
    """64 MiB of blanks gzip to ~64 KiB: the header's size refuses it; tracemalloc shows it was never read whole."""
    import gzip
    import tracemalloc

    blanks = 64 << 20
    info = tarfile.TarInfo("manifest.json")
    info.size = blanks
    bad = tmp_path / "bomb.tar.gz"
    with gzip.open(bad, "wb", compresslevel=1) as handle:
        handle.write(info.tobuf(format=tarfile.PAX_FORMAT))
        for _ in range(blanks >> 20):
            handle.write(b" " * (1 << 20))
        handle.write(bytes(1024))
    assert bad.stat().st_size < 1 << 20
    before = _tree(cache)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveRefused, match=r"its manifest.json has 64.0 MiB, more than the 4.0 MiB") as error:
            unpack(str(bad), progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(error.value) and peak < 8 << 20 and _tree(cache) == before
    assert share_main(["unpack", str(bad), "--no-progress"]) == 1 and capsys.readouterr().err.count("\n") == 1


def test_an_archive_larger_than_the_disk_can_hold_is_refused_before_staging(packed, cache, monkeypatch):
    free = shutil.disk_usage(cache).free
    monkeypatch.setattr("gm_build.share.manifest.FREE_SPACE_MARGIN", free)  # no room for a single byte
    before = _tree(cache)
    with pytest.raises(ArchiveRefused, match=r"unpacking it needs .* MiB in .* only .* MiB are free; free some space"):
        unpack(str(packed.archive), progress=False)
    assert _tree(cache) == before


def test_manifest_limits_are_checked_before_any_member(packed, cache, tmp_path, monkeypatch):
    before = _tree(cache)
    monkeypatch.setattr("gm_build.share.manifest.MAX_ARCHIVE_BYTES", 100)
    with pytest.raises(ArchiveRefused, match=r"lists .* MiB of files, more than the 0.0 MiB a pack may hold"):
        unpack(str(packed.archive), progress=False)
    monkeypatch.undo()
    monkeypatch.setenv("GM_CACHE_DIR", str(cache))
    bad = _rebuild(packed.archive, tmp_path / "neg.tar", edit_manifest=lambda m: m["files"].update(
        {"fid_stats/x.npz": {"sha256": "0" * 64, "size": -1}}))
    with pytest.raises(ArchiveRefused, match=r"entry 'fid_stats/x.npz' lacks a sha256 and size"):
        unpack(str(bad), progress=False)
    assert _tree(cache) == before


def test_a_refused_unpack_does_not_even_leave_the_cache_folder_it_made(packed, tmp_path, monkeypatch):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "new-cache"))
    with pytest.raises(ArchiveRefused):
        unpack(str(_flip_byte(packed.archive, tmp_path / "bad.tar")), progress=False)
    assert not (tmp_path / "new-cache").exists()


def test_the_archive_sha256_its_publisher_printed_is_checked_when_given(packed, cache):
    before = _tree(cache)
    with pytest.raises(ArchiveRefused, match="its sha256 is .*, not the 00 you gave"):
        unpack(str(packed.archive), progress=False, sha256="00")
    assert _tree(cache) == before
    assert unpack(str(packed.archive), progress=False, sha256=_sha(packed.archive).upper()).cached


def test_unpack_removes_the_temporary_folder_of_a_killed_unpack(packed, cache):
    dead = 2**22 + 12345  # above the largest pid Linux allows (2**22): no such process
    killed = cache / f".unpack-{dead}-abc" / "cache" / "runs"
    killed.mkdir(parents=True)
    alive = cache / f".unpack-{os.getppid()}-abc"  # a running unpack's folder stays
    alive.mkdir()
    unpack(str(packed.archive), progress=False)
    assert not killed.parent.parent.exists() and alive.exists()


def test_a_missing_archive_is_refused_with_the_forms_it_accepts(cache, tmp_path):
    with pytest.raises(ArchiveRefused, match="no archive at .*hf://owner/repo"):
        unpack(str(tmp_path / "absent.tar"))


# ---------------------------------------------------------------- sources: URL (loopback only) and the Hub (offline)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (``openssl``), and its key: the test server's, trusted by the test."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate for the loopback https server")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _serve(packed: Packed, requests: list[str], context: ssl.SSLContext | None):
    """``packed.archive``'s folder on 127.0.0.1 (a random free port), plus ``/short.tar`` (promises more than it
    sends), ``/to-http`` (redirects to http://), ``/endless`` (no Content-Length, zeros until the client stops)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(packed.archive.parent), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            if self.path == "/to-http":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/models.tar")
                self.end_headers()
            elif self.path == "/endless":
                self.send_response(200)
                self.end_headers()
                self.close_connection = True
                with contextlib.suppress(OSError):  # the client hangs up once it has had too much
                    for _ in range(4096):
                        self.wfile.write(bytes(1 << 16))
            elif self.path == "/short.tar":
                self.send_response(200)  # promises more bytes than it sends, then hangs up
                self.send_header("Content-Length", str(packed.archive.stat().st_size))
                self.end_headers()
                self.wfile.write(packed.archive.read_bytes()[:4096])
                self.close_connection = True
            else:
                super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def served(packed, certificate, monkeypatch):
    """The archive's folder over https on 127.0.0.1 for the test's duration, its certificate trusted (SSL_CERT_FILE);
    ``served.requests`` lists the paths asked for."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    requests: list[str] = []
    server = _serve(packed, requests, context)
    yield Served(f"https://127.0.0.1:{server.server_address[1]}", requests)
    server.shutdown()
    server.server_close()


@dataclass
class Served:
    url: str
    requests: list[str]


def test_unpack_downloads_a_url_then_verifies_it(packed, cache, served, monkeypatch):
    report = unpack(f"{served.url}/{packed.archive.name}", progress=False)
    assert sorted(report.cached) == sorted(packed.runs)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # the download was temporary
    _assert_installed(packed, cache, monkeypatch)


def test_a_failed_download_is_refused_and_installs_nothing(cache, served):
    before = _tree(cache)
    with pytest.raises(ArchiveRefused, match=r"HTTP 404 .*check the URL"):
        unpack(f"{served.url}/absent.tar", progress=False)
    with pytest.raises(ArchiveRefused, match=r"download of .*/short.tar (failed|stopped).*run make unpack again"):
        unpack(f"{served.url}/short.tar", progress=False)
    assert _tree(cache) == before


def test_plain_http_is_refused_in_one_line_before_any_request(packed, cache, capsys):
    requests: list[str] = []
    server = _serve(packed, requests, context=None)
    url = f"http://127.0.0.1:{server.server_address[1]}/{packed.archive.name}"
    before = _tree(cache)
    try:
        with pytest.raises(ArchiveRefused, match=r"^refused http://.*plain http:// can be altered.*https://") as error:
            unpack(url, progress=False)
        assert share_main(["unpack", url, "--no-progress"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert "\n" not in str(error.value) and capsys.readouterr().err.count("\n") == 1
    assert requests == [] and _tree(cache) == before
    for other in ("ftp://127.0.0.1/models.tar", "s3://bucket/models.tar", "file://elsewhere/models.tar"):
        with pytest.raises(ArchiveRefused, match=r"^refused .*FROM=<file>, file:<path>, an https:// URL"):
            unpack(other, progress=False)
    assert _tree(cache) == before


def test_a_file_url_names_a_local_archive(packed, cache):
    assert sorted(unpack(packed.archive.as_uri(), progress=False).cached) == sorted(packed.runs)


def test_a_redirect_away_from_https_is_refused(cache, served):
    before = _tree(cache)
    with pytest.raises(ArchiveRefused, match=r"redirects to http://.*not https://"):
        unpack(f"{served.url}/to-http", progress=False)
    assert served.requests == ["/to-http"] and _tree(cache) == before  # the http:// URL was never asked for


def test_a_download_is_capped_before_and_while_it_streams(packed, cache, served, monkeypatch):
    """A Content-Length above the cap is refused before a byte is read; without one, the stream is cut at the cap;
    one the disk cannot hold twice (archive + unpacked files) is refused before the download."""
    import gm_build.share.sources as sources

    before, size = _tree(cache), packed.archive.stat().st_size
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", size - 1)
    with pytest.raises(ArchiveRefused, match=r"it has .* MiB, more than the .* MiB an archive of make pack may have"):
        unpack(f"{served.url}/{packed.archive.name}", progress=False)
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 3 << 20)
    with pytest.raises(ArchiveRefused, match=r"it sent more than 3.0 MiB, the most it may have"):
        unpack(f"{served.url}/endless", progress=False)  # 256 MiB on offer
    assert _tree(cache) == before
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 1 << 40)
    free = shutil.disk_usage(cache).free
    monkeypatch.setattr("gm_build.share.manifest.FREE_SPACE_MARGIN", free - size)  # room for the archive, not twice
    with pytest.raises(ArchiveRefused, match=r"downloading and unpacking it needs .* MiB .* only .* MiB are free"):
        unpack(f"{served.url}/{packed.archive.name}", progress=False)
    assert _tree(cache) == before


def test_hub_spec_names_repository_file_type_and_revision():
    assert parse_hub_spec("hf://owner/repo") == ("owner/repo", "gm-lab-models.tar", "model", None)
    assert parse_hub_spec("hf://datasets/owner/repo/v2/models.tar@abc") == ("owner/repo", "v2/models.tar", "dataset",
                                                                           "abc")
    with pytest.raises(ArchiveRefused, match="names no repository"):
        parse_hub_spec("hf://owner")


def test_unpack_reads_a_hub_repository_offline(packed, cache, tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--course--gm-lab-models"  # the Hub's cache layout of repo course/gm-lab-models
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    shutil.copy(packed.archive, repo / "snapshots" / commit / "gm-lab-models.tar")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import: a test may run after one
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    report = unpack("hf://course/gm-lab-models", progress=False)
    assert sorted(report.cached) == sorted(packed.runs)
    _assert_installed(packed, cache, monkeypatch)
    with pytest.raises(ArchiveRefused, match="could not get gm-lab-models.tar from hf://course/absent"):
        unpack("hf://course/absent", progress=False)
    import gm_build.share.sources as sources

    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", packed.archive.stat().st_size - 1)  # its cached copy is too big
    before = _tree(cache)
    with pytest.raises(ArchiveRefused, match=r"refused hf://course/gm-lab-models: it has .* MiB, more than the"):
        unpack("hf://course/gm-lab-models", progress=False)
    assert _tree(cache) == before


def test_make_unpack_downloads_a_hub_repository_through_huggingface_hub(packed, cache, tmp_path, monkeypatch):
    """``make unpack FROM=hf://...`` against a Hub on 127.0.0.1 (HF_ENDPOINT), every other host refused.

    ``make unpack`` runs in a fresh process, where only the chapter registries' config classes are known: the
    packed runs (the tests' TinyConfig) are refused there in one line, nothing installed; an archive of the
    cached results alone installs."""
    from gm_lib.paths import repo_root
    from tests.hub_server import HubServer, isolated_env

    results = _rebuild(packed.archive, tmp_path / "results.tar", drop=[n for n in _manifest(packed.archive)["files"]
                                                                       if n.startswith("runs/")],
                       edit_manifest=lambda m: m.update(runs=[], files={n: e for n, e in m["files"].items()
                                                                        if not n.startswith("runs/")}))
    hub = HubServer()
    hub.add_repo("course/gm-lab-models", {"gm-lab-models.tar": packed.archive.read_bytes(),
                                          "results.tar": results.read_bytes()}, "3" * 40, kind="models")
    hub.start()
    env = isolated_env(hub.endpoint, tmp_path, GM_CACHE_DIR=str(cache),
                       PYTHONPATH=os.pathsep.join([str(repo_root()), str(repo_root() / "tests")]))
    before = _tree(cache)
    try:
        refused, installed = (subprocess.run(["make", "--no-print-directory", "unpack", f"FROM={source}"],
                                             cwd=repo_root(), env=env, capture_output=True, text=True, timeout=300)
                              for source in ("hf://course/gm-lab-models", "hf://course/gm-lab-models/results.tar"))
    finally:
        hub.stop()
    assert refused.returncode != 0 and [line for line in refused.stderr.splitlines() if line.startswith("error:")] == [
        f"error: refused hf://course/gm-lab-models: {sorted(packed.runs)[0]}: config names class "
        f"'_train_worker:TinyConfig', which is not a registered config class (known: gm_lib.models.gan:GANConfig, "
        "gm_lib.models.latent_critic:LatentCriticVAEConfig, gm_lib.models.vae:VAEConfig, gm_lib.models.wae:WAEConfig); "
        "nothing of it was run or installed"]
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert ("HEAD", "/course/gm-lab-models/resolve/main/gm-lab-models.tar", None) in hub.requests
    assert any(method == "GET" and path.startswith("/cdn/") for method, path, _ in hub.requests)
    after = _tree(cache)
    assert {k: v for k, v in after.items() if k in before} == before
    assert {name for name in after if name not in before and after[name] != "dir"} == set(_manifest(results)["files"])


def test_a_hub_archive_too_large_for_the_cap_or_the_disk_is_refused_before_its_download(cache, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    downloads = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: downloads.append(a))
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url: type("Meta", (), {"size": 65 << 30}))
    with pytest.raises(ArchiveRefused, match=r"it has 66560.0 MiB, more than the 65536.0 MiB an archive"):
        unpack("hf://course/huge", progress=False)
    monkeypatch.setattr("gm_build.share.manifest.FREE_SPACE_MARGIN", shutil.disk_usage(cache).free)  # a full disk
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda url: type("Meta", (), {"size": 1 << 20}))
    with pytest.raises(ArchiveRefused, match=r"downloading and unpacking it needs .* only .* MiB are free"):
        unpack("hf://course/big", progress=False)
    assert downloads == []


def test_the_readme_states_the_limits_the_code_enforces():
    from gm_build.share import manifest

    text = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert f"`manifest.json` first and at most {manifest.MAX_MANIFEST_BYTES >> 20} MiB" in text
    assert f"at most {manifest.MAX_FILES:,} files and {manifest.MAX_ARCHIVE_BYTES >> 30} GiB in all" in text
    assert f"that much free plus {manifest.FREE_SPACE_MARGIN >> 20} MiB" in text
    assert f"and at {manifest.MAX_ARCHIVE_BYTES >> 30} GiB, follows redirects only to `https://`" in text
