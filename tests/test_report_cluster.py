"""`make report EXECUTOR=slurm`: the submitit job path, exercised with submitit's local executor."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime

import pytest

from gm_build.report import main
from gm_build.report.manifest import load_manifest
from gm_build.report.run import check_kernel
from gm_lib.paths import repo_root

FIXTURE = repo_root() / "tests" / "notebooks" / "fixture_ok.ipynb"


def _papermill_times(executed) -> tuple[datetime, datetime]:
    meta = json.loads(executed.read_text())["metadata"]["papermill"]
    return datetime.fromisoformat(meta["start_time"]), datetime.fromisoformat(meta["end_time"])


@pytest.mark.slow
def test_submitit_jobs_run_each_notebook_and_respect_after(tmp_path):
    check_kernel()
    runs = [{"name": "first", "notebook": str(FIXTURE), "parameters": {"dataset": "mnist"}},
            {"name": "second", "notebook": str(FIXTURE), "parameters": {"dataset": "fashion_mnist"},
             "after": ["first"]}]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"seed": 3, "runs": runs}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["--profile", "smoke", "--executor", "submitit-local", "--manifest", str(manifest),
                       "--reports-dir", str(tmp_path / "reports"), "--figures-dir", str(tmp_path / "figures")])
    text = out.getvalue()
    assert status == 0, text
    assert "executor submitit-local" in text and "submitted second (fixture_ok.ipynb) as job" in text
    assert "after first" in text
    for name, dataset in [("first", "mnist"), ("second", "fashion_mnist")]:
        results = json.loads((tmp_path / "figures" / name / "results.json").read_text())
        assert results["seed"] == 3 and results["config"]["dataset"] == dataset  # the job got its parameters
        assert (tmp_path / "reports" / "jobs").is_dir()  # submitit's pickles and logs
    _, first_end = _papermill_times(tmp_path / "reports" / "executed" / "first.ipynb")
    second_start, _ = _papermill_times(tmp_path / "reports" / "executed" / "second.ipynb")
    assert second_start >= first_end  # "after" held: the second job started once the first had finished
    assert "| [second](#run-second) |" in (tmp_path / "reports" / "report.md").read_text()


@pytest.mark.slow
def test_submitit_jobs_run_each_seed_and_wait_for_the_same_seed(tmp_path):
    """SEEDS=3,4: one job per run and seed, each into its seed's folder; 'after' holds seed by seed."""
    check_kernel()
    runs = [{"name": "first", "notebook": str(FIXTURE)},
            {"name": "second", "notebook": str(FIXTURE), "after": ["first"]}]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(json.dumps({"seed": 0, "runs": runs}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["--profile", "smoke", "--executor", "submitit-local", "--manifest", str(manifest), "--seeds",
                       "3,4", "--reports-dir", str(tmp_path / "reports"), "--figures-dir", str(tmp_path / "figures")])
    text = out.getvalue()
    assert status == 0, text
    assert text.count("submitted ") == 4 and "submitted second seed 4 (fixture_ok.ipynb) as job" in text
    for name in ("first", "second"):
        for seed in (3, 4):
            results = json.loads((tmp_path / "figures" / name / f"seed{seed}" / "results.json").read_text())
            assert results["seed"] == seed
    executed = tmp_path / "reports" / "executed"
    for seed in (3, 4):
        _, first_end = _papermill_times(executed / f"first-seed{seed}.ipynb")
        second_start, _ = _papermill_times(executed / f"second-seed{seed}.ipynb")
        assert second_start >= first_end
    assert "Profile **smoke** · seeds 3, 4 (n=2)" in (tmp_path / "reports" / "report.md").read_text()


def test_manifest_after_must_name_an_earlier_run(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(json.dumps({"runs": [{"name": "a", "notebook": str(FIXTURE), "after": ["b"]},
                                             {"name": "b", "notebook": str(FIXTURE)}]}))
    with pytest.raises(ValueError, match=r"run 'a' is 'after' \['b'\], which are not listed before it"):
        load_manifest(manifest)


def test_repository_manifest_makes_tsne_wait_for_the_models_it_loads():
    runs = {run.name: run for run in load_manifest(repo_root() / "reports" / "manifest.yaml").runs}
    assert set(runs["tsne"].after) == {"vae_bmnist", "wae_mnist"}
