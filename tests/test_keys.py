"""Keys name the code that computed a result, and nothing else.

* plumbing (:data:`gm_lib.code_graph.NOT_KEYED`), error messages and other datasets' readers are in no key
  and no notebook stamp;
* a key is taken from the source the process imported, and a result is never saved under it once a module it
  depends on differs on disk (a kernel not restarted after an edit);
* a config defined outside gm_lib is keyed with the user's own modules it imports.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import gm_lib.train as engine
from gm_build.report import plan
from gm_build.report.manifest import load_manifest, run_parameters
from gm_lib import code_graph
from gm_lib.cache import key_digest, load_or_compute
from gm_lib.code_graph import NOT_KEYED, CodeChanged
from gm_lib.data import READERS
from gm_lib.experiments import AUTOENCODER_MODELS, GAN_MODELS, autoencoder_runs, gan_runs, vae_bmnist_run
from gm_lib.profiles import get_profile
from gm_lib.runs import get_or_train, run_hash, training_code

PACKAGE = code_graph.PACKAGE
REPO = PACKAGE.parent
MNIST_FAMILY = ("mnist", "binarized_mnist", "fashion_mnist")


def _relative(module: str) -> str:
    return code_graph._relative(code_graph.module_path(module))


def _runs():
    """Every registered run of the report on the MNIST family (a new registry entry is tested without edits)."""
    profile = get_profile("smoke")
    runs = [vae_bmnist_run(profile, device="cpu"), *gan_runs("fashion_mnist", profile, device="cpu").values(),
            *autoencoder_runs("mnist", profile, device="cpu").values()]
    assert len(runs) == 1 + len(GAN_MODELS) + len(AUTOENCODER_MODELS)
    assert all(run.data.name in MNIST_FAMILY for run in runs)
    return runs


def _key(run) -> str:
    return run_hash(run.model, run.data, run.train, run.val)


def _stamps() -> dict[str, dict]:
    stamps = {}
    for spec in load_manifest(REPO / "reports" / "manifest.yaml").runs:
        params = run_parameters(spec, profile="smoke", seed=0, device="cpu", precision="auto", output_dir=Path("x"))
        stamps[spec.name] = plan.stamp(spec.notebook, params)
    return stamps


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_plumbing_and_messages_change_no_key_and_no_stamp(package_copy):
    runs = _runs()
    with code_graph.reading_disk():
        keys, stamps = [_key(run) for run in runs], _stamps()
        for module in sorted(NOT_KEYED):
            _append(package_copy / _relative(module), "_EDITED_FOR_A_TEST = 1")
        celeba = package_copy / "celeba.py"
        text = celeba.read_text()
        assert "dataset 'celeba' not found" in text
        celeba.write_text(text.replace("dataset 'celeba' not found", "no CelebA found"))  # a reworded error
        assert [_key(run) for run in runs] == keys
        assert _stamps() == stamps


def test_another_datasets_reader_is_not_in_a_key(package_copy):
    runs = _runs()
    with code_graph.reading_disk():
        keys = [_key(run) for run in runs]
        _append(package_copy / "celeba.py", "CROP = 41")  # CelebA's preprocessing, not a message
        assert [_key(run) for run in runs] == keys
        for run in runs:
            assert "celeba.py" not in training_code(run.model, run.data)
            assert "dataset_files.py" in training_code(run.model, run.data)
    celeba = replace(runs[-1].data, name="celeba", split="train", binarize="none")
    assert "celeba.py" in training_code(runs[-1].model, celeba)


def test_readers_name_the_module_that_reads_each_dataset():
    from gm_lib import celeba, dataset_files

    assert set(READERS) == set(importlib.import_module("gm_lib.data").DATASETS)
    assert READERS["celeba"] == celeba.__name__ and READERS["svhn"] == dataset_files.load_svhn.__module__


def test_the_training_step_and_a_loss_change_exactly_the_runs_that_use_them(package_copy):
    runs = _runs()
    with code_graph.reading_disk():
        before = {run.name: _key(run) for run in runs}
        _append(package_copy / "train.py", "_EDITED_FOR_A_TEST = 1")
        assert all(_key(run) != before[run.name] for run in runs)  # every run trains through the engine
        (package_copy / "train.py").write_text((PACKAGE / "train.py").read_text())
        _append(package_copy / "losses" / "mmd.py", "_EDITED_FOR_A_TEST = 1")
        changed = {run.name for run in runs if _key(run) != before[run.name]}
    assert changed == {run.name for run in runs if "losses/mmd.py" in training_code(run.model, run.data)}
    assert changed and changed != {run.name for run in runs}


# ---------------------------------------------------------------- keys from the code that ran


def _tiny_vae_run():
    run = vae_bmnist_run(get_profile("smoke"), device="cpu")
    small = replace(run.model, latent_dim=2)
    return run, small, replace(run.train, steps=4, checkpoint_every=2, eval_every=None, snapshot_every=None)


def test_keys_are_taken_from_the_imported_code(package_copy):
    run, model, train = _tiny_vae_run()
    key = run_hash(model, run.data, train, run.val)
    _append(package_copy / "losses" / "elbo.py", "_EDITED_FOR_A_TEST = 1")
    assert run_hash(model, run.data, train, run.val) == key  # this process still runs the old loss
    with code_graph.reading_disk():
        assert run_hash(model, run.data, train, run.val) != key  # a fresh kernel would run the new one


@pytest.mark.data
def test_a_loss_edited_after_import_is_never_saved_under_a_key(package_copy, mnist_root):
    run, model, train = _tiny_vae_run()
    _append(package_copy / "losses" / "elbo.py", "_EDITED_FOR_A_TEST = 1")
    with pytest.raises(CodeChanged, match=r"gm_lib/losses/elbo\.py changed on disk .*restart the kernel") as error:
        get_or_train(run.name, model, replace(run.data, n=64), train, progress=False)
    assert "\n" not in str(error.value)
    runs_dir = package_copy.parent / "cache" / "runs"
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.data
def test_an_edit_during_training_stops_it_at_the_last_good_checkpoint(package_copy, mnist_root, monkeypatch):
    run, model, train = _tiny_vae_run()
    data = replace(run.data, n=64)
    original = engine._Run.next_batch

    def next_batch(self):
        if self.step == 3:  # after the checkpoint at step 2: someone saves an edit of the loss
            _append(package_copy / "losses" / "elbo.py", "_EDITED_FOR_A_TEST = 1")
        return original(self)

    monkeypatch.setattr(engine._Run, "next_batch", next_batch)
    with pytest.raises(CodeChanged, match="elbo.py"):
        get_or_train(run.name, model, data, train, progress=False)
    (run_dir,) = (package_copy.parent / "cache" / "runs").iterdir()
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 2 and not state["finished"]  # the old code's weights under the old code's key
    assert run_dir.name.endswith(run_hash(model, data, train))


def test_a_score_is_not_saved_after_its_code_changed(package_copy, tmp_path):
    importlib.import_module("gm_lib.metrics.fid")  # the process runs the code as it was
    path = tmp_path / f"{key_digest({'n': 1}, ('gm_lib.metrics.fid',))}.json"
    _append(package_copy / "metrics" / "fid.py", "_EDITED_FOR_A_TEST = 1")
    with pytest.raises(CodeChanged, match="metrics/fid.py"):
        load_or_compute(path, lambda: {"fid": 1.0}, code=("gm_lib.metrics.fid",))
    assert not path.exists()


def test_a_reloaded_module_is_recorded_anew():
    probe = PACKAGE / "_key_probe_for_a_test.py"
    name, relative = "gm_lib._key_probe_for_a_test", probe.name
    try:
        probe.write_text("VALUE = 1\n")
        module = importlib.import_module(name)
        recorded = code_graph.code_digests([name])
        probe.write_text("VALUE = 2\n")
        with pytest.raises(CodeChanged, match="_key_probe_for_a_test.py"):
            code_graph.check_current(recorded)
        importlib.reload(module)
        assert module.VALUE == 2
        now = code_graph.code_digests([name])
        assert now[relative] != recorded[relative]
        code_graph.check_current(now)  # the reloaded code is what runs and what is on disk
    finally:
        probe.unlink(missing_ok=True)
        sys.modules.pop(name, None)


# ---------------------------------------------------------------- configs defined outside gm_lib


def test_a_config_outside_gm_lib_is_keyed_with_its_own_modules(tmp_path, monkeypatch):
    (tmp_path / "my_helpers_for_a_test.py").write_text("WIDTH = 3\n")
    (tmp_path / "my_config_for_a_test.py").write_text(
        "from dataclasses import dataclass\n\nfrom my_helpers_for_a_test import WIDTH\n"
        "from gm_lib.models.vae import VAEConfig\n\n\n@dataclass(frozen=True)\nclass MyConfig:\n"
        "    width: int = WIDTH\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("my_config_for_a_test")
    try:
        code = code_graph.code_digests([module.__name__])
        assert {"external:my_config_for_a_test", "external:my_helpers_for_a_test", "models/vae.py"} <= set(code)
        (tmp_path / "my_helpers_for_a_test.py").write_text("WIDTH = 4\n")
        assert code_graph.changed_modules(code) == ["external:my_helpers_for_a_test"]
    finally:
        for name in ("my_config_for_a_test", "my_helpers_for_a_test"):
            sys.modules.pop(name, None)


def test_a_recorded_module_name_is_never_imported(tmp_path, monkeypatch):
    """A stamp or config.json is data: a module it names (``external:pkg.mod``) is looked up, never imported."""
    package = tmp_path / "evil_pkg_for_a_test"
    package.mkdir()
    (package / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    (package / "mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert code_graph.changed_modules({"external:evil_pkg_for_a_test.mod": "0" * 16}) == [
        "external:evil_pkg_for_a_test.mod"]
    assert not (tmp_path / "ran").exists() and "evil_pkg_for_a_test" not in sys.modules
