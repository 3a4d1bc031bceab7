"""Saved configs name registered classes only (gm_lib.saved_configs): nothing a file names is imported or called.

The run-folder tests train a tiny run for a few steps on random 8x8 images (DataSpec.load is patched) into a
temporary GM_CACHE_DIR, then point its checkpoint's model_config at code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import pytest
import torch

import gm_lib.experiments.registry as registry
import gm_lib.runs as runs
from gm_lib.checkpoint import CHECKPOINT_NAME, CheckpointError, encode_config, load_checkpoint, save_checkpoint
from gm_lib.data import DataSpec
from gm_lib.metrics.classifiers import Classifier, ClassifierConfig, get_classifier
from gm_lib.models.gan import GANConfig
from gm_lib.saved_configs import (
    ConfigRefused,
    UnknownConfigClass,
    allow_config_class,
    class_path,
    decode_config,
    decode_fields,
    known_config_classes,
)
from gm_lib.train_config import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import TinyConfig, random_dataset  # noqa: E402

CODE_NAMES = ["subprocess:run", "os:system", "builtins:open", "builtins:eval", "builtins:exec",
              "gm_lib.checkpoint:delete_run_files", "gm_lib.runs:get_or_train", "gm_lib.models.vae:VAE",
              "gm_lib.models.vae:VAEConfig.build", "os.path:join", "gm_lib.models.vae", "", 7, None]


# ---------------------------------------------------------------- the allow-list


@dataclass(frozen=True)
class Inner:
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    inner: Inner = Inner()
    inners: tuple[Inner, ...] = ()
    scale: float = 1.0


def test_the_allow_list_is_derived_from_the_registries_and_reaches_nested_configs():
    registered = {class_path(type(entry.config)) for entry in registry.all_models().values()}
    assert registered == {"gm_lib.models.vae:VAEConfig", "gm_lib.models.wae:WAEConfig",
                          "gm_lib.models.latent_critic:LatentCriticVAEConfig", "gm_lib.models.gan:GANConfig"}
    known = known_config_classes()
    assert all(known[class_path(type(entry.config))] is type(entry.config) for entry in registry.all_models().values())
    for entry in registry.all_models().values():  # every registry config reads back equal, tuples as tuples
        assert decode_config(json.loads(json.dumps(encode_config(entry.config)))) == entry.config

    allow_config_class(Outer)
    assert class_path(Inner) in known_config_classes()  # reached through the field's type
    config = Outer(Inner("b"), (Inner(), Inner("b")), 2.5)
    assert decode_config(encode_config(config)) == config


@dataclass
class Hook:
    call: object = None


@dataclass
class HoldsHook:
    hook: Hook | None = None


def test_only_dataclasses_with_fields_a_file_can_hold_are_allowed():
    with pytest.raises(TypeError, match="is not a dataclass"):
        allow_config_class(dict)

    with pytest.raises(TypeError, match=r"field 'call' has type .*which a saved config cannot hold"):
        allow_config_class(Hook)
    with pytest.raises(TypeError, match=r"Hook field 'call' has type"):  # reached through a field's type
        allow_config_class(HoldsHook)
    assert not {class_path(Hook), class_path(HoldsHook)} & set(known_config_classes())  # all or nothing


@pytest.mark.parametrize("name", CODE_NAMES)
def test_a_config_naming_anything_else_is_refused_in_one_line(name):
    with pytest.raises(UnknownConfigClass) as refused:
        decode_config({"__class__": name, "fields": {"args": ["true"]}})
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"config names class {name!r}, which is not a registered config")
    assert "known: " in message and "gm_lib.models.gan:GANConfig" in message


def test_a_class_named_by_a_file_is_never_imported(tmp_path, monkeypatch):
    """A module on sys.path whose import leaves a trace: a config naming it does not import it."""
    (tmp_path / "planted_config.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\n"
        "from dataclasses import dataclass\n@dataclass\nclass Config:\n    x: int = 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownConfigClass, match="'planted_config:Config', which is not a registered"):
        decode_config({"__class__": "planted_config:Config", "fields": {}})
    assert not (tmp_path / "imported").exists() and "planted_config" not in sys.modules


def test_fields_are_checked_against_their_annotated_kinds():
    vae = "gm_lib.models.vae:VAEConfig"
    refusals = {
        "must be int, not '8'": {"latent_dim": "8"},
        "must be int, not True": {"latent_dim": True},
        "has no field 'evil'": {"evil": 1},
        "field 'likelihood' must be Literal": {"likelihood": "poisson"},
        "field 'image_shape' must be tuple": {"image_shape": {"__tuple__": [1, 28]}},
        "field 'betas' must be float, not {'__class__': 'os:system'": {
            "betas": {"__tuple__": [0.9, {"__class__": "os:system", "fields": {}}]}},
    }
    for expected, fields in refusals.items():
        with pytest.raises(ConfigRefused, match=expected) as refused:
            decode_config({"__class__": vae, "fields": fields})
        assert "\n" not in str(refused.value)
    decoded = decode_config({"__class__": vae, "fields": {"lr": 1, "betas": {"__tuple__": [0, 1]}}})
    assert decoded.lr == 1.0 and type(decoded.lr) is float and decoded.betas == (0.0, 1.0)
    with pytest.raises(ConfigRefused, match="must be {'__class__'"):
        decode_config([{"__class__": vae}])
    with pytest.raises(ConfigRefused, match="TrainConfig rejects these fields"):  # `steps` is required
        decode_fields(TrainConfig, {"batch_size": 2})
    assert decode_fields(DataSpec, asdict(DataSpec("svhn", "test", n=9)), plain=True) == DataSpec("svhn", "test", n=9)


def test_a_gan_loss_that_is_no_family_is_refused_before_any_import(monkeypatch):
    """GANConfig imports its loss family by name: a name that is not a module of gan_losses never reaches import."""
    import importlib

    imported = []
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real(name, *a))
    for loss in ("os", "../../tmp/x", "dcgan.evil", "gan_losses"):
        with pytest.raises(ConfigRefused, match=rf"rejects these fields \(loss={loss!r} unknown; use one of"):
            decode_config({"__class__": class_path(GANConfig), "fields": {"loss": loss}})
    assert all(name == "gm_lib.models.gan_losses" for name in imported), imported


# ---------------------------------------------------------------- run folders: load_model, load_snapshots, stale_reason


@pytest.fixture
def run_dir(tmp_path, monkeypatch) -> Path:
    """A finished tiny run (with snapshots) in a temporary cache."""
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(DataSpec, "load", lambda self: random_dataset(n=self.n or 64))
    train_config = TrainConfig(steps=4, batch_size=16, checkpoint_every=2, log_every=2, snapshot_every=2, device="cpu")
    spec = DataSpec("mnist", "train", n=64)
    runs.get_or_train("tiny", TinyConfig(), spec, train_config, progress=False)
    return runs.run_directory("tiny", TinyConfig(), spec, train_config)


def _record(run_dir: Path, model_config: object, *, in_config: bool = True) -> None:
    """Make the run's checkpoint (and its config.json) record ``model_config``."""
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    save_checkpoint(run_dir / CHECKPOINT_NAME, {**state, "model_config": model_config})
    if in_config:
        recorded = json.loads((run_dir / "config.json").read_text())
        (run_dir / "config.json").write_text(json.dumps({**recorded, "model_config": model_config}))


@pytest.mark.parametrize("name", ["subprocess:run", "os:system", "builtins:open", "builtins:eval",
                                  "gm_lib.checkpoint:delete_run_files"])
def test_a_checkpoint_naming_code_is_refused_by_every_loader_before_anything_runs(name, run_dir, tmp_path):
    trace = tmp_path / "ran"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("must survive")
    fields = {"subprocess:run": {"args": ["touch", str(trace)]}, "os:system": {"command": f"touch {trace}"},
              "builtins:open": {"file": str(trace), "mode": "w"},
              "builtins:eval": {"source": f"open({str(trace)!r}, 'w')"},
              "gm_lib.checkpoint:delete_run_files": {"run_dir": str(victim)}}[name]
    _record(run_dir, {"__class__": name, "fields": fields})
    for load in (runs.load_model, runs.load_snapshots):
        with pytest.raises(CheckpointError) as refused:
            load(run_dir, device="cpu")
        message = str(refused.value)
        assert "\n" not in message and f"config names class {name!r}, which is not a registered config" in message
        assert "delete the run folder, or retrain it with force=True" in message
    reason = runs.stale_reason(run_dir)
    assert "\n" not in reason and f"config names class {name!r}, which is not a registered" in reason
    assert not trace.exists() and (victim / "keep.txt").exists()


def test_a_checkpoint_must_hold_the_model_config_its_config_json_records(run_dir):
    model, _ = runs.load_model(run_dir, device="cpu")
    assert model.config == TinyConfig()
    _record(run_dir, encode_config(replace(TinyConfig(), lr=0.5)), in_config=False)  # weights of another run
    for load in (runs.load_model, runs.load_snapshots):
        with pytest.raises(CheckpointError, match="holds another model config than .*config.json records"):
            load(run_dir, device="cpu")
    (run_dir / "config.json").unlink()  # a folder made by train() alone: the checkpoint is all there is
    assert runs.load_model(run_dir, device="cpu")[0].config == replace(TinyConfig(), lr=0.5)
    save_checkpoint(run_dir / CHECKPOINT_NAME, {**load_checkpoint(run_dir / CHECKPOINT_NAME),
                                                "model_config": {"__class__": class_path(TinyConfig),
                                                                 "fields": {"hidden": torch.ones(2)}}})
    with pytest.raises(CheckpointError, match="field 'hidden' must be int, not tensor"):
        runs.load_model(run_dir, device="cpu")


def test_a_cached_classifier_of_another_config_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    config = ClassifierConfig(dataset="mnist", epochs=1)
    path = tmp_path / "classifiers" / f"mnist-{config.hash()}.pt"
    path.parent.mkdir()
    torch.save({"config": asdict(replace(config, hidden=7)), "image_shape": (1, 8, 8), "state_dict": {},
                "test_accuracy": 1.0}, path)
    with pytest.raises(ValueError, match=r"does not hold the classifier of ClassifierConfig\(.*delete it") as refused:
        get_classifier("mnist", config)
    assert "\n" not in str(refused.value)
    weights = Classifier(config, (1, 8, 8)).state_dict()
    torch.save({"config": asdict(config), "image_shape": (1, 8, 8), "state_dict": weights, "test_accuracy": 0.5}, path)
    assert get_classifier("mnist", config).test_accuracy == 0.5  # its own config (tuples as torch saved them)


def test_stale_reason_never_looks_up_a_module_or_path_a_config_json_names(run_dir, tmp_path, monkeypatch):
    """A recorded code digest of "external:<module>" would have the module's spec found, which imports its parent
    package: only the modules the current code names are compared."""
    (tmp_path / "planted_pkg").mkdir()
    (tmp_path / "planted_pkg" / "__init__.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    recorded = json.loads((run_dir / "config.json").read_text())
    recorded["code"] = {**recorded["code"], "external:planted_pkg.sub": "0" * 16, "../../../../etc/hostname": "0"}
    renamed = run_dir.with_name("tiny-0123456789ab")  # another key: stale_reason looks at the recorded code
    run_dir.rename(renamed)
    (renamed / "config.json").write_text(json.dumps(recorded))
    assert runs.stale_reason(renamed) == "its code now imports other gm_lib modules"
    assert not (tmp_path / "imported").exists() and "planted_pkg" not in sys.modules
