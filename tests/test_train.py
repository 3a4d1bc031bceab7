"""Known-answer tests of the training engine (gm_lib.train) with a tiny model defined in _train_worker."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import gm_lib.precision as precision
import gm_lib.runs as runs
import gm_lib.train as engine
from gm_lib.cache import atomic_write
from gm_lib.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    History,
    encode_config,
    load_checkpoint,
)
from gm_lib.data import DataSpec
from gm_lib.runs import get_or_train, load_model, run_hash
from gm_lib.saved_configs import decode_config
from gm_lib.train import TrainingDiverged, set_seed, train
from gm_lib.train_config import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import RESUME_CONFIG, TinyConfig, random_dataset, tiny_setup  # noqa: E402

WORKER = Path(__file__).parent / "_train_worker.py"
SMALL = TrainConfig(steps=8, batch_size=16, checkpoint_every=5, log_every=2, device="cpu")


def _train_tiny(run_dir, seed=0, config=SMALL, **model_config):
    model, data = tiny_setup(seed=seed, **model_config)
    history = train(model, data, replace(config, seed=seed), run_dir, progress=False)
    return model, history


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_set_seed_repeats_every_generator():
    import random

    import numpy as np

    set_seed(3)
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_seed(3)
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_same_seed_same_weights_different_seed_different(tmp_path):
    a, history_a = _train_tiny(tmp_path / "a", seed=0)
    b, history_b = _train_tiny(tmp_path / "b", seed=0)
    c, _ = _train_tiny(tmp_path / "c", seed=1)
    assert _same_weights(a.state_dict(), b.state_dict())
    assert not torch.equal(a.encoder.weight, c.encoder.weight)
    assert [r["loss"] for r in history_a.steps] == [r["loss"] for r in history_b.steps]
    # log_every=2 plus the forced flush at checkpoint step 5: windows end at 2, 4, 5, 6, 8.
    assert [r["step"] for r in history_a.steps] == [2, 4, 5, 6, 8]


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_weights(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the worker uses one thread: identical float reduction order
    try:
        reference, data = tiny_setup()
        reference_history = train(reference, data, RESUME_CONFIG, tmp_path / "reference", progress=False)
    finally:
        torch.set_num_threads(threads)
    run_dir = tmp_path / "killed"
    killed = subprocess.run([sys.executable, str(WORKER), str(run_dir), "8"], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert load_checkpoint(run_dir / CHECKPOINT_NAME)["step"] == 5  # checkpoint_every=5; died before step 8
    resumed = subprocess.run([sys.executable, str(WORKER), str(run_dir)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    assert state["step"] == 12 and state["finished"]
    assert _same_weights(state["model"], reference.state_dict())
    resumed_losses = [(r["step"], r["loss"]) for r in state["history"]["steps"]]
    assert resumed_losses == [(r["step"], r["loss"]) for r in reference_history.steps]


class _Interrupted(Exception):
    pass


def test_resume_on_each_device_continues_the_run(tmp_path, device):
    """Interrupt at step 7 (checkpoint at 5), resume in-process: the weights match an uninterrupted run.

    On CUDA this used to fail: the checkpoint was loaded onto the GPU and numpy's RNG state reached ``.numpy()``.
    """
    config = replace(RESUME_CONFIG, device=device)
    reference, data = tiny_setup()
    train(reference, data, config, tmp_path / "reference", progress=False)
    model, data = tiny_setup()
    original = model.training_step

    def step_or_stop(next_batch, optimizers):
        if model.calls + 1 == 7:
            raise _Interrupted
        return original(next_batch, optimizers)

    model.training_step = step_or_stop
    with pytest.raises(_Interrupted):
        train(model, data, config, tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)["step"] == 5
    resumed, data = tiny_setup(seed=3)  # other initial weights and RNG: everything must come from the checkpoint
    train(resumed, data, config, tmp_path / "run", progress=False)
    assert resumed.encoder.weight.device.type == device
    for name, value in reference.state_dict().items():
        assert torch.allclose(resumed.state_dict()[name], value, rtol=0, atol=1e-6), name


def test_truncated_checkpoint_gives_checkpoint_error_naming_file(tmp_path):
    _train_tiny(tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=f"{CHECKPOINT_NAME}.*(delete it|force=True)"):
        load_checkpoint(path)
    model, data = tiny_setup()
    with pytest.raises(CheckpointError, match=str(path)):
        train(model, data, SMALL, tmp_path, progress=False)


def test_nan_loss_raises_naming_step_and_keeps_last_good_checkpoint(tmp_path):
    model, data = tiny_setup(nan_at=7)
    config = replace(SMALL, steps=12, log_every=10)  # NaN at 7 is caught at the step-10 flush
    with pytest.raises(TrainingDiverged, match=r"step 7: loss term 'loss'.*step 5\) is intact"):
        train(model, data, config, tmp_path, progress=False)
    assert not torch.isfinite(model.encoder.weight).all()  # the NaN really reached the weights
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state["step"] == 5 and not state["finished"]
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert not list(tmp_path.glob(".*.tmp"))


def test_completed_run_returns_immediately_with_saved_weights(tmp_path):
    trained, history = _train_tiny(tmp_path)
    fresh, data = tiny_setup(seed=5)
    again = train(fresh, data, SMALL, tmp_path, progress=False)
    assert again == history
    assert _same_weights(fresh.state_dict(), trained.state_dict())


def test_max_minutes_truncates_and_the_next_call_resumes_to_the_same_weights(tmp_path):
    config = replace(SMALL, steps=8, max_minutes=1e-9)  # the guard fires after every step
    model, history = _train_tiny(tmp_path / "guarded", config=config)
    assert history.truncated and history.stopped_at == 1 and history.steps_done == 1
    assert history.steps[-1]["step"] == 1
    state = load_checkpoint(tmp_path / "guarded" / CHECKPOINT_NAME)
    assert not state["finished"] and state["step"] == 1  # never cached as a finished run
    assert History.load(tmp_path / "guarded") == history
    for _ in range(7):  # each call trains one more step until the budget of steps is reached
        history = train(model, tiny_setup()[1], config, tmp_path / "guarded", progress=False)
    assert not history.truncated and history.steps_done == 8
    assert load_checkpoint(tmp_path / "guarded" / CHECKPOINT_NAME)["finished"]
    uninterrupted, _ = _train_tiny(tmp_path / "plain", config=replace(config, max_minutes=None))
    assert _same_weights(model.state_dict(), uninterrupted.state_dict())


def test_cosine_schedule_follows_the_formula_and_resumes_exactly(tmp_path):
    config = replace(SMALL, steps=8, lr_schedule="cosine")
    model, data = tiny_setup()
    seen = []
    step = model.training_step
    model.training_step = lambda next_batch, optimizers: (seen.append(optimizers["model"].param_groups[0]["lr"]),
                                                           step(next_batch, optimizers))[1]
    train(model, data, config, tmp_path / "a", progress=False)
    base = model.configure_optimizers()["model"].param_groups[0]["lr"]
    assert seen == pytest.approx([base * 0.5 * (1 + math.cos(math.pi * t / 8)) for t in range(8)])
    stopped, _ = _train_tiny(tmp_path / "b", config=replace(config, max_minutes=1e-9))
    for _ in range(7):
        train(stopped, data, replace(config, max_minutes=1e-9), tmp_path / "b", progress=False)
    straight, _ = _train_tiny(tmp_path / "c", config=config)
    assert _same_weights(stopped.state_dict(), straight.state_dict())
    with pytest.raises(ValueError, match="lr_schedule"):
        replace(SMALL, lr_schedule="step")


def test_evaluation_is_the_mean_over_validation_batches(tmp_path):
    model, data = tiny_setup()
    val = random_dataset(n=48, seed=9)
    config = replace(SMALL, steps=10, eval_every=5, eval_batches=2)
    history = train(model, data, config, tmp_path, val_data=val, progress=False)
    assert [e["step"] for e in history.evals] == [5, 10]
    torch.manual_seed(config.seed + 1)  # the engine evaluates under a forked RNG seeded this way
    batches = list(val.batches(16))[:2]
    expected = sum(model.evaluation_losses(x)["rec"].item() * len(x) for x, _ in batches) / 32
    assert history.evals[-1]["rec"] == pytest.approx(expected, rel=1e-6)


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    _train_tiny(tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    before = path.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))

    def save_half_then_fail(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, obj={"x": 1})
    assert path.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))


def test_config_roundtrip_keeps_tuples_and_compares_equal():
    config = TinyConfig(hidden=3, shape=(1, 4, 4))
    decoded = decode_config(encode_config(config))
    assert decoded == config and isinstance(decoded.shape, tuple)


def test_run_hash_changes_with_any_config():
    spec, config = DataSpec("mnist", "train", n=256), TinyConfig()
    base = run_hash(config, spec, SMALL)
    assert base == run_hash(TinyConfig(), DataSpec("mnist", "train", n=256), replace(SMALL))
    assert len({base, run_hash(TinyConfig(lr=0.1), spec, SMALL), run_hash(config, replace(spec, n=128), SMALL),
                run_hash(config, spec, replace(SMALL, steps=9))}) == 4


@pytest.mark.data
def test_get_or_train_trains_once_then_loads(tmp_path, monkeypatch, mnist_root):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    spec, config = DataSpec("mnist", "train", n=256), TinyConfig(shape=(1, 28, 28))
    model, history = get_or_train("tiny", config, spec, SMALL, progress=False)
    run_dirs = list((tmp_path / "runs").iterdir())
    assert [d.name for d in run_dirs] == [f"tiny-{run_hash(config, spec, SMALL)}"]
    assert (run_dirs[0] / "config.json").exists() and (run_dirs[0] / "history.csv").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run must be loaded, not trained")

    monkeypatch.setattr(runs, "train", no_training)
    loaded, loaded_history = get_or_train("tiny", config, spec, SMALL, progress=False)
    assert not loaded.training and loaded.config == config and loaded_history == history
    assert _same_weights(loaded.state_dict(), model.state_dict())
    again, _ = load_model(run_dirs[0], device="cpu")
    assert _same_weights(again.state_dict(), model.state_dict())
    assert math.isfinite(history.wall_time) and history.wall_time > 0


@pytest.mark.data
def test_get_or_train_config_change_gives_new_run_dir_and_force_retrains(tmp_path, monkeypatch, mnist_root):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    spec = DataSpec("mnist", "train", n=256)
    get_or_train("tiny", TinyConfig(shape=(1, 28, 28)), spec, SMALL, progress=False)
    get_or_train("tiny", TinyConfig(shape=(1, 28, 28), hidden=4), spec, SMALL, progress=False)
    assert len(list((tmp_path / "runs").iterdir())) == 2
    calls = []
    monkeypatch.setattr(runs, "train", lambda *a, **k: calls.append(k) or History())
    get_or_train("tiny", TinyConfig(shape=(1, 28, 28)), spec, SMALL, force=True, progress=False)
    assert len(calls) == 1 and os.listdir(tmp_path / "runs")


def test_snapshots_hold_the_weights_of_their_step(tmp_path):
    """Snapshots at 0, every k steps and at the end; the last one equals the final weights."""
    config = replace(SMALL, snapshot_every=3)
    model, data = tiny_setup()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, data, config, tmp_path, progress=False)
    snapshots = runs.load_snapshots(tmp_path, device="cpu")
    assert [step for step, _ in snapshots] == [0, 3, 6, 8]
    assert _same_weights(snapshots[0][1].state_dict(), initial)
    assert _same_weights(snapshots[-1][1].state_dict(), model.state_dict())
    assert not _same_weights(snapshots[1][1].state_dict(), snapshots[2][1].state_dict())


def test_public_evaluate_is_an_image_weighted_mean_and_leaves_rng_alone(tmp_path):
    model, data = tiny_setup()
    model.eval()
    batches = list(data.batches(7))  # uneven last batch: weighting matters
    torch.manual_seed(1)  # evaluate() draws its noise from a forked RNG seeded with seed=1
    expected = sum(float(model.evaluation_losses(x)["rec"]) * len(x) for x, _ in batches) / len(data)
    state = torch.get_rng_state()
    result = engine.evaluate(model, data, batch_size=7, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    assert math.isclose(result["rec"], expected, rel_tol=1e-5)


@pytest.mark.parametrize(("keeps_quality", "faster", "expected"), [
    (True, True, "bf16"),
    (True, False, "fp32"),  # quality kept but no speed-up on this device: fp32
    (False, True, "fp32"),  # lost, or not measured: fp32
])
def test_auto_precision_is_bf16_only_where_quality_is_kept_and_it_is_faster(monkeypatch, keeps_quality, faster,
                                                                            expected):
    monkeypatch.setattr(precision, "bf16_is_faster", lambda device: faster)
    cpu = torch.device("cpu")
    assert precision.resolve_precision("auto", keeps_quality, cpu) == expected
    assert [precision.resolve_precision(p, keeps_quality, cpu) for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    with pytest.raises(ValueError, match="fp16"):
        precision.resolve_precision("fp16", keeps_quality, cpu)
    with pytest.raises(ValueError, match="precision='fp16'"):
        TrainConfig(steps=1, precision="fp16")


def test_auto_precision_is_resolved_before_hashing_and_saved_resolved(tmp_path, monkeypatch):
    from gm_lib.experiments import Run

    monkeypatch.setattr(precision, "bf16_is_faster", lambda device: True)
    spec, config, auto = DataSpec("mnist", "train", n=64), TinyConfig(), replace(SMALL, precision="auto")
    run = Run("tiny", config, spec, auto, bf16_keeps_quality=True)  # the registry's verdict resolves "auto"
    assert run.train.precision == "bf16"
    assert run_hash(config, spec, run.train) == run_hash(config, spec, replace(SMALL, precision="bf16"))
    assert run_hash(config, spec, auto) == run_hash(config, spec, replace(SMALL, precision="fp32"))  # not measured
    set_seed(0)
    train(config.build(), random_dataset(), run.train, tmp_path, progress=False)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["train_config"]["precision"] == "bf16"


def test_report_runs_record_the_precision_they_train_at(monkeypatch):
    from gm_lib.experiments import AUTOENCODER_MODELS, GAN_MODELS, autoencoder_runs, gan_runs
    from gm_lib.profiles import get_profile

    monkeypatch.setattr(precision, "bf16_is_faster", lambda device: True)
    profile = get_profile("smoke")
    assert profile.precision == "auto"
    for entries, chapter_runs in ((GAN_MODELS, gan_runs("fashion_mnist", profile, device="cpu")),
                          (AUTOENCODER_MODELS, autoencoder_runs("mnist", profile, device="cpu"))):
        for entry in entries:
            assert chapter_runs[entry.label].train.precision == ("bf16" if entry.bf16_keeps_quality else "fp32")


def test_notebook_04_compares_like_with_like_and_never_validates_on_test():
    """Both VAEs have the same decoder likelihood; validation is a held-out part of train, disjoint from it."""
    from gm_lib.experiments import autoencoder_runs
    from gm_lib.profiles import get_profile

    for profile in ("smoke", "default", "full"):
        runs = autoencoder_runs("mnist", get_profile(profile), device="cpu")
        vae, critic = runs["VAE"].model, runs["Latent-critic VAE"].model
        assert (critic.likelihood, critic.sigma, critic.log_sigma) == (vae.likelihood, vae.sigma, vae.log_sigma)
        for run in runs.values():
            assert (run.data.split, run.val.split) == ("train", "valid") and run.val.name == run.data.name
            assert run.val.holdout == run.data.holdout > 0  # the same cut: train ends where valid begins
