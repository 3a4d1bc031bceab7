"""Package versions: recorded in results.json, beside each trained run and in the pack manifest; PLAN=1 says when a
cached run or result was made with other versions (information: nothing retrains)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import gm_build.report.plan as plan
from gm_lib.experiments import train_run
from gm_lib.versions import VERSIONS_FILE, changed_versions, collect_versions, read_run_versions

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import GUARDED_CONFIG, mnist_run  # noqa: E402

CONFIG = replace(GUARDED_CONFIG, max_minutes=None)


def test_versions_name_every_package_that_decides_the_numbers():
    from importlib import metadata

    versions = collect_versions()
    assert {"python", "torch", "torchvision", "numpy", "scipy", "openvino", "gm_lib"} == set(versions)
    assert versions["scipy"] == metadata.version("scipy") and versions["torch"] == metadata.version("torch")


def test_changed_versions_lists_each_package_that_differs():
    now = {"torch": "2.5.1", "numpy": "2.1.0", "openvino": "not installed"}
    assert changed_versions({"torch": "2.4.0", "numpy": "2.1.0", "openvino": "2024.5.0"}, now) == [
        "openvino 2024.5.0 → not installed", "torch 2.4.0 → 2.5.1"]
    assert changed_versions(dict(now), now) == []
    assert changed_versions(None, now) == [] and changed_versions({"jax": "0.4"}, now) == []  # unknown: not compared


@pytest.mark.data
def test_train_run_records_versions_when_it_trains_and_plan_says_when_they_differ(tmp_path, monkeypatch,
                                                                                  mnist_root, one_thread):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    run = mnist_run(CONFIG)
    train_run(run, progress=False)
    assert read_run_versions(run.directory) == collect_versions()
    older = collect_versions() | {"torch": "0.0.1"}
    (run.directory / VERSIONS_FILE).write_text(json.dumps({"versions": older}))  # as if trained with another torch
    train_run(run, progress=False)  # loaded, not trained: the record of what trained it stays
    assert read_run_versions(run.directory) == older

    notebook = tmp_path / "tiny.ipynb"
    notebook.write_text(json.dumps({"cells": []}))
    monkeypatch.setattr(plan, "notebook_runs", lambda nb, params: {"tiny": run})
    [model] = plan.model_plans(notebook, {})
    assert model.action == "cached"  # information only: it is not retrained
    assert model.reason == f"made with other versions: torch 0.0.1 → {collect_versions()['torch']}; kept, not retrained"
    (run.directory / VERSIONS_FILE).unlink()  # trained before versions were recorded: nothing to say
    assert plan.model_plans(notebook, {})[0].reason == ""


def test_plan_says_when_a_cached_notebook_run_was_made_with_other_versions(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"versions": collect_versions() | {"scipy": "1.0.0"}}))
    note = plan.results_versions_note(tmp_path, "results.json")
    assert note == f"made with other versions: scipy 1.0.0 → {collect_versions()['scipy']}; kept, not retrained"
    assert plan.format_plan("vae_bmnist", "", [], [], note) == [f"vae_bmnist: cached ({note})"]
    (tmp_path / "results.json").write_text(json.dumps({"versions": collect_versions()}))
    assert plan.results_versions_note(tmp_path, "results.json") == ""
    assert plan.results_versions_note(tmp_path / "missing", "results.json") == ""


def test_the_report_provenance_table_shows_the_versions_of_each_run(tmp_path):
    from gm_build.report.build import _provenance_table
    from gm_build.report.manifest import RunSpec
    from gm_build.report.run import Outcome
    from gm_lib.results import Recorder

    Recorder(tmp_path, "unit", "smoke", 0).save(wall_time=1.0)
    table = _provenance_table([Outcome(RunSpec("unit", tmp_path / "x.ipynb"), "ok", tmp_path)])
    header, _, row = table.splitlines()[:3]
    versions = collect_versions()
    assert "| scipy | openvino |" in header
    assert f"| {versions['numpy']} | {versions['scipy']} | {versions['openvino']} | {versions['gm_lib']} |" in row
