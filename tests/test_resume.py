"""A run the time guard stopped: its notebook is stale, re-executing it resumes the run exactly, and a notebook
that only loads the model (05) refuses it until the notebook that trains it has finished it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import gm_build.report.plan as plan
from gm_lib.cache import atomic_write
from gm_lib.data import DataSpec
from gm_lib.experiments import Run, load_run, train_run
from gm_lib.runs import RunNotFinished, get_or_train
from gm_lib.train_config import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import GUARDED_CONFIG, TinyConfig, mnist_run  # noqa: E402

CONFIG = TrainConfig(steps=8, batch_size=16, checkpoint_every=5, log_every=2, device="cpu", precision="fp32")
GUARDED = replace(CONFIG, max_minutes=1e-9)  # the guard fires after every step: each call trains one step
PARAMS = {"profile": "smoke", "seed": 0}


def _run(train_config: TrainConfig = GUARDED) -> Run:
    return Run("tiny", TinyConfig(shape=(1, 28, 28)), DataSpec("mnist", "train", n=64), train_config)


def _train(run: Run):
    return get_or_train(run.name, run.model, run.data, run.train, val_data=run.val, progress=False)


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    """A notebook whose one model is the tiny run (plan.notebook_runs answers for it as a chapter module would)."""
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "from gm_lib.runs import get_or_train"}]}))
    monkeypatch.setattr(plan, "notebook_runs", lambda nb, params: {"tiny": _run()} if nb == path else {})
    return path


def _record_success(notebook: Path, output_dir: Path) -> None:
    """What the runner does after a notebook ran without error: results.json is there, the stamp is written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text("{}")
    atomic_write(output_dir / plan.STAMP_FILE, json.dumps(plan.stamp(notebook, PARAMS)).encode())


@pytest.mark.data
def test_a_truncated_run_makes_its_notebook_stale_and_reexecution_resumes_it_exactly(
        notebook, tmp_path, monkeypatch, mnist_root, one_thread):
    output_dir = tmp_path / "figures" / "tiny"
    for _ in range(3):  # the guard stops it at step 1, then 2, then 3
        _, history = _train(_run())
    assert history.truncated and history.steps_done == 3
    _record_success(notebook, output_dir)
    directory = _run().directory
    assert plan.stale_reasons(notebook, PARAMS, output_dir, "results.json") == [
        f"model {directory.name} unfinished at step 3 of 8"]
    [model_plan] = plan.model_plans(notebook, PARAMS)
    assert model_plan.action == "train" and "unfinished at step 3 of 8" in model_plan.reason

    resumed, history = _train(_run(CONFIG))  # the next execution (a slower machine's guard does not fire)
    assert resumed.calls == 5 and history.steps_done == 8 and not history.truncated  # steps 4..8 only
    assert plan.stale_reasons(notebook, PARAMS, output_dir, "results.json") == []  # finished: current again

    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "uninterrupted"))
    uninterrupted, _ = _train(_run(CONFIG))
    assert uninterrupted.calls == 8
    resumed_state, plain_state = resumed.state_dict(), uninterrupted.state_dict()
    assert all(torch.equal(resumed_state[k], plain_state[k]) for k in plain_state)


@pytest.mark.data
def test_a_notebook_that_only_loads_a_model_refuses_an_absent_or_unfinished_one(notebook, mnist_root, one_thread):
    loaded_only = replace(_run(), trained_by="01_trainer")
    with pytest.raises(ValueError, match="trained by notebook 01_trainer: load it with load_run"):
        train_run(loaded_only)
    with pytest.raises(RunNotFinished, match=r"tiny-\w{12} has not been trained here: notebook 01_trainer trains it"):
        load_run(loaded_only)
    _train(_run())  # stopped by the guard at step 1
    with pytest.raises(RunNotFinished, match=r"is unfinished at step 1 of 8: notebook 01_trainer trains it; run that"):
        load_run(loaded_only)
    assert "\n" not in str(pytest.raises(RunNotFinished, load_run, loaded_only).value)
    after = torch.load(loaded_only.directory / "checkpoint.pt", weights_only=True)
    assert after["step"] == 1 and not after["finished"]  # loading never trained it further

    finished, _ = _train(_run(CONFIG))
    model, history = load_run(loaded_only)
    assert history.steps_done == 8 and not model.training
    loaded_state, finished_state = model.state_dict(), finished.state_dict()
    assert all(torch.equal(loaded_state[k], finished_state[k]) for k in finished_state)


@pytest.mark.data
def test_plan_says_a_loaded_only_model_waits_for_the_notebook_that_trains_it(notebook, monkeypatch, mnist_root,
                                                                             one_thread):
    monkeypatch.setattr(plan, "notebook_runs", lambda nb, params: {"tiny (01)": replace(_run(), trained_by="01_x")})
    _train(_run())
    [model_plan] = plan.model_plans(notebook, PARAMS)
    assert model_plan.action == "unavailable"
    assert "unfinished at step 1" in model_plan.reason and model_plan.reason.endswith("; notebook 01_x trains it")


def test_notebook_05_loads_the_models_of_01_and_04_and_trains_none():
    from gm_lib.experiments import tsne

    _, runs = tsne.notebook_runs("smoke")
    assert {run.trained_by for run in runs.values()} == {"01_vae_binarized_mnist", "04_wae_vs_vae"}
    cells = json.loads((Path(__file__).parents[1] / "notebooks" / "05_tsne_latents.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "load_run(run)" in code and "train_run" not in code


@pytest.mark.slow
@pytest.mark.data
def test_make_report_resumes_a_truncated_run_until_it_is_finished(tmp_path, monkeypatch, mnist_root, one_thread):
    """Through the runner and a real kernel: each execution of the fixture resumes its model by one step (the guard
    fires after every step), the stamp stays stale while the model is unfinished, and the finished weights equal a
    never-stopped run's."""
    from gm_build.report.manifest import RunSpec, run_parameters
    from gm_build.report.run import check_kernel, execute_run
    from gm_lib.paths import repo_root
    from gm_lib.runs import load_model

    check_kernel()
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))
    fixture = repo_root() / "tests" / "notebooks" / "fixture_resume.ipynb"
    monkeypatch.setattr(plan, "notebook_runs", lambda nb, params: {"tiny": mnist_run()} if nb == fixture else {})
    spec = RunSpec("resume_run", fixture)
    kwargs = dict(profile="smoke", seed=0, device="cpu", precision="fp32", reports_dir=tmp_path / "reports",
                  figures_dir=tmp_path / "figures")
    output_dir = tmp_path / "figures" / spec.name
    params = run_parameters(spec, profile="smoke", seed=0, device="cpu", precision="fp32", output_dir=output_dir)
    directory = mnist_run().directory
    for step in (1, 2):
        outcome = execute_run(spec, **kwargs)
        assert outcome.status == "ok", outcome.reason
        assert json.loads((output_dir / "results.json").read_text())["training"]["tiny"]["truncated"]
        assert plan.stale_reasons(fixture, params, output_dir, "results.json") == [
            f"model {directory.name} unfinished at step {step} of 3"]
    assert execute_run(spec, **kwargs).status == "ok"  # the third execution finishes it
    training = json.loads((output_dir / "results.json").read_text())["training"]["tiny"]
    assert (training["steps"], training["truncated"]) == (3, False)
    assert execute_run(spec, **kwargs).status == "cached"

    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "uninterrupted"))
    uninterrupted, _ = _train(mnist_run(replace(GUARDED_CONFIG, max_minutes=None)))
    finished, _ = load_model(tmp_path / "cache" / "runs" / directory.name, device="cpu")
    finished_state, plain_state = finished.state_dict(), uninterrupted.state_dict()
    assert all(torch.equal(finished_state[k], plain_state[k]) for k in plain_state)
