"""The report pipeline end to end on tiny fixture notebooks, plus profiles and results.json.

The pipeline test executes three fixture notebooks (tests/notebooks/) on the gm-lab kernel once
(~30 s on 2 cores): one succeeds, one raises, one raises DatasetUnavailable. A second, narrower run
re-uses the successful run through the runner's cache and checks the exit status without a failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
from pathlib import Path

import pytest

from gm_build.report import main
from gm_build.report.manifest import load_manifest
from gm_build.report.plan import stamp
from gm_build.report.run import _split_fix, check_kernel
from gm_lib.paths import repo_root
from gm_lib.profiles import PROFILES, Profile, get_profile
from gm_lib.results import Recorder, load_results

FIXTURES = repo_root() / "tests" / "notebooks"


def _manifest(tmp: Path, runs: list[str]) -> Path:
    entries = {
        "ok": {"name": "ok_run", "notebook": str(FIXTURES / "fixture_ok.ipynb"), "title": "Fixture that succeeds",
               "parameters": {"dataset": "fashion_mnist"}},
        "fail": {"name": "fail_run", "notebook": str(FIXTURES / "fixture_fail.ipynb")},
        "svhn": {"name": "svhn_run", "notebook": str(FIXTURES / "fixture_unavailable.ipynb"),
                 "parameters": {"data_root": str(tmp / "no-data")}},
    }
    path = tmp / f"manifest-{'-'.join(runs)}.yaml"
    path.write_text(json.dumps({"seed": 7, "runs": [entries[r] for r in runs]}))  # JSON is valid YAML
    return path


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One pipeline run over the three fixtures into a temporary reports/ and figures/."""
    check_kernel()  # a clear error ("run make setup") rather than three failed runs
    tmp = tmp_path_factory.mktemp("report")
    dirs = ["--reports-dir", str(tmp / "reports"), "--figures-dir", str(tmp / "figures")]
    manifest = str(_manifest(tmp, ["ok", "fail", "svhn"]))
    status, out, err = _run(["--profile", "smoke", "--precision", "fp32", "--manifest", manifest, *dirs])
    return {"tmp": tmp, "dirs": dirs, "status": status, "out": out, "err": err,
            "md": (tmp / "reports" / "report.md").read_text(), "html": (tmp / "reports" / "report.html").read_text()}


@pytest.mark.slow
def test_report_promises_every_section_figure_and_table(report: dict) -> None:
    md = report["md"]
    for heading in ("# gm-lab report", "## Runs", "## Summary across models", "## Real-vs-real FID floor",
                    "## Published numbers", "Fixture that succeeds (ok_run)", "## Provenance",
                    "### Not run: data unavailable", "### FAILED runs"):
        assert heading in md, heading
    assert "Profile **smoke** · seed 7 · device cpu · precision fp32" in md
    n = PROFILES["smoke"].fid_n
    assert f"| ok_run | Alpha-VAE | fashion_mnist | 12.35 (N={n}, test †) | 0.0123 (N={n}, test) | — |" in md
    smoke = PROFILES["smoke"]
    assert f"91.5 (N={smoke.nll_n}, k={smoke.nll_k}, test)" in md
    assert f"FID 1.75 (N={n}, test)" in md  # the real-vs-real floor
    assert "| alpha | 1.25 |" in md and "Two fixture scores." in md
    assert "The fixture finding: alpha beats beta." in md
    assert "Burda, Grosse & Salakhutdinov" in md and "86.76" in md
    images = re.findall(r'<img src="([^"]+)"', report["html"])
    assert images == ["../figures/ok_run/fixture_curve.png"]
    assert (report["tmp"] / "reports" / images[0]).is_file()  # the relative path resolves from report.html
    pdf = (report["tmp"] / "reports" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" in pdf  # the figure is embedded, not a broken link
    executed = report["tmp"] / "reports" / "executed"
    assert {p.name for p in executed.glob("ok_run.*")} == {"ok_run.ipynb", "ok_run.html"}


@pytest.mark.slow
def test_results_json_carries_provenance_and_parameters(report: dict) -> None:
    results = load_results(report["tmp"] / "figures" / "ok_run")
    assert results["profile"] == "smoke" and results["seed"] == 7 and results["run_name"] == "ok_run"
    assert results["config"] == {"dataset": "fashion_mnist", "latent_dim": 2}  # manifest parameter reached the cell
    assert results["profile_values"]["fid_n"] == PROFILES["smoke"].fid_n
    assert results["profile_values"]["precision"] == "fp32"  # --precision reached the notebook
    assert set(results["versions"]) == {"python", "torch", "torchvision", "numpy", "scipy", "openvino", "gm_lib"}
    assert results["git_commit"] and results["wall_time_s"] >= 0


@pytest.mark.slow
def test_failure_names_notebook_and_cell_and_keeps_partial_output(report: dict) -> None:
    assert report["status"] == 1
    cell = "cell 2 (`raise ValueError('fixture failure: x is ' + str(x))`)"
    assert f"fixture_fail.ipynb failed in {cell}" in report["err"]
    assert "ValueError: fixture failure: x is 1" in report["err"]
    executed = json.loads((report["tmp"] / "reports" / "executed" / "fail_run.ipynb").read_text())
    outputs = [o.get("text", "") for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("before the failure" in "".join(text) for text in outputs)  # the cells before the error ran
    assert "| [fail_run](#run-fail-run) | `tests/notebooks/fixture_fail.ipynb` | FAILED |" in report["md"]


@pytest.mark.slow
def test_unavailable_data_is_not_run_with_reason_and_fix_and_exit_zero(report: dict) -> None:
    assert "svhn_run" in report["out"] and "NOT RUN (data unavailable): dataset 'svhn' not found" in report["out"]
    assert re.search(r"\*\*Fix:\*\* run make data DATASETS=svhn, or point GM_DATA_DIR", report["md"])
    assert "missing data: make data DATASETS=svhn fetches it" in report["out"]
    tmp, dirs = report["tmp"], report["dirs"]
    status, out, _ = _run(["--profile", "smoke", "--manifest", str(_manifest(tmp, ["ok", "svhn"])), *dirs])
    assert status == 0
    # Normally cached ("unchanged since its last run"); re-executed instead when gm_lib's source changed meanwhile.
    header = r"ok_run \(fixture_ok.ipynb(, expected ~[\d:]+)?\) \.\.\.\n"
    assert re.search(header + r"    (unchanged since its last run|ok \()", out)


def test_run_stamp_changes_with_parameters_only() -> None:
    notebook = FIXTURES / "fixture_ok.ipynb"
    assert stamp(notebook, {"seed": 1}) == stamp(notebook, {"seed": 1})
    assert stamp(notebook, {"seed": 1}) != stamp(notebook, {"seed": 2})


def test_bad_arguments_exit_2_with_a_clear_message(tmp_path: Path) -> None:
    status, _, err = _run(["--manifest", str(tmp_path / "missing.yaml")])
    assert status == 2 and "manifest" in err and "not found" in err
    status, _, err = _run(["--manifest", str(_manifest(tmp_path, ["ok"])), "--only", "nope"])
    assert status == 2 and "unknown run(s) ['nope']" in err


def test_manifest_rejects_reserved_parameters(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("runs:\n  - {name: a, notebook: x.ipynb, parameters: {seed: 3}}\n")
    with pytest.raises(ValueError, match="reserved parameter"):
        load_manifest(path)


def test_repository_manifest_lists_the_runs_in_dependency_order() -> None:
    manifest = load_manifest(repo_root() / "reports" / "manifest.yaml")
    names = [run.name for run in manifest.runs]
    assert names == ["vae_bmnist", "toy", "wgan_fashion_mnist", "wgan_svhn", "wae_mnist", "wae_svhn", "wae_celeba",
                     "tsne"]
    assert manifest.runs[3].parameters == {"dataset": "svhn"}
    assert manifest.runs[6].parameters == {"dataset": "celeba"}


def test_split_fix_reads_gm_lib_data_messages() -> None:
    reason, fix = _split_fix("dataset 'svhn' not found under /d: put the files in /d/SVHN (torchvision's raw layout)")
    assert reason == "dataset 'svhn' not found under /d" and fix.startswith("put the files in /d/SVHN")


def test_profiles_overrides_win_and_none_is_ignored() -> None:
    p = get_profile("default", fid_n=4096, vae_steps=None, toy_thetas=[0, 1])
    assert isinstance(p, Profile) and p.fid_n == 4096 and p.vae_steps == PROFILES["default"].vae_steps
    assert p.toy_thetas == (0.0, 1.0)
    with pytest.raises(ValueError, match="unknown profile field"):
        get_profile("smoke", fid_samples=10)
    with pytest.raises(ValueError, match="unknown profile 'tiny'"):
        get_profile("tiny")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision"):
        get_profile("full", precision="fp16")


def test_profiles_respect_the_reporting_floors() -> None:
    assert PROFILES["smoke"].fid_preview and not PROFILES["default"].fid_preview
    for name in ("default", "full"):
        assert PROFILES[name].fid_n >= 2048 and PROFILES[name].nll_k >= 1000, name


def test_recorder_round_trip(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    rec = Recorder(tmp_path / "out", "unit", get_profile("smoke"), seed=3, config={"shape": (2, 3)})
    rec.metric("fid/m", np.float32(1.5), n=np.int64(10), split="test")
    rec.metric("nan", float("nan"))
    rec.table("df", pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]}))
    rec.table("rows", [[1, "x"]], columns=["n", "s"])
    path = rec.save(wall_time=2.0)
    data = load_results(path)
    assert data["metrics"] == {"fid/m": 1.5, "nan": None} and data["metric_meta"]["fid/m"] == {"n": 10, "split": "test"}
    assert data["tables"]["df"] == {"columns": ["a", "b"], "rows": [[1, 0.5], [2, 0.25]], "caption": None}
    assert data["tables"]["rows"]["rows"] == [[1, "x"]] and data["config"] == {"shape": [2, 3]}
    assert data["wall_time_s"] == 2.0 and data["profile"] == "smoke"
    from importlib import metadata

    assert {package: data["versions"][package] for package in ("torch", "numpy", "scipy")} == {
        package: metadata.version(package) for package in ("torch", "numpy", "scipy")}
    assert {"torchvision", "openvino"} < set(data["versions"])  # "not installed" when a package is missing
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.json"]  # no temp file left behind
    with pytest.raises(ValueError, match="columns"):
        rec.table("bad", [[1, 2]])


def test_recorder_save_leaves_exactly_the_figures_it_recorded(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = tmp_path / "out"
    out.mkdir()
    (out / "snapshots_removed_model.png").write_bytes(b"an earlier version's figure")
    rec = Recorder(out, "unit", get_profile("smoke"), seed=0)
    rec.figure(plt.figure(), "curves", "kept")
    rec.save()
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "results.json"]


def test_recorder_flags_a_truncated_training_run_and_the_report_shows_it(tmp_path: Path) -> None:
    from gm_build.report.build import _training_lines
    from gm_lib.checkpoint import History

    rec = Recorder(tmp_path / "out", "unit", get_profile("smoke"), seed=0)
    rec.training_run("DCGAN", History(wall_time=90.0, steps_done=1_000), target_steps=1_000)
    rec.training_run("WGAN-GP", History(wall_time=60.0, steps_done=310, stopped_early=True, stopped_at=310), 1_000)
    data = load_results(rec.save())
    assert data["training"]["DCGAN"] == {"steps": 1000, "target_steps": 1000, "truncated": False, "minutes": 1.5}
    assert data["training"]["WGAN-GP"]["truncated"] and data["training"]["WGAN-GP"]["steps"] == 310
    lines = _training_lines(data["training"])
    assert len(lines) == 2 and "TRUNCATED: WGAN-GP stopped at step 310 of 1000" in lines[0]
    assert "DCGAN 1,000 steps (1.5 min)" in lines[1]


def test_notebook_03_runs_follow_the_registry_at_equal_cpu(monkeypatch) -> None:
    from gm_lib.experiments import GAN_MODELS, budget_steps, gan_runs, gans

    profile = get_profile("default", gan_budget=None)
    runs = gan_runs("fashion_mnist", profile)
    assert list(runs) == [entry.label for entry in GAN_MODELS]
    for entry in GAN_MODELS:
        run = runs[entry.label]
        assert run.model == dataclasses.replace(entry.config, image_shape=(1, 28, 28))
        assert run.name == f"gan_fashion_mnist_{entry.key}"
        assert run.train.steps == budget_steps(profile.gan_budget, entry.step_cost, profile.step_quantum)
        # equal CPU: steps × cost within half a quantum's cost of the budget
        assert abs(run.train.steps * entry.step_cost - profile.gan_budget) <= entry.step_cost * profile.step_quantum
        assert run.train.batch_size == profile.gan_batch_size
    assert len({run.name for run in runs.values()}) == len(runs)  # every model its own cache folder and figures
    # A model added to the registry takes its own budget, not a share of the others': the published numbers keep
    # their steps (README's generated table shows them, and its staleness test names a change).
    extra = dataclasses.replace(GAN_MODELS[0], label="added", key="added", step_cost=3.0)
    monkeypatch.setattr(gans, "GAN_MODELS", (*GAN_MODELS, extra))
    with_extra = gan_runs("fashion_mnist", profile)
    assert {label: run.train.steps for label, run in with_extra.items() if label != "added"} == {
        label: run.train.steps for label, run in runs.items()}
    assert with_extra["added"].train.steps == budget_steps(profile.gan_budget, 3.0, profile.step_quantum)
    # Each family keeps its paper's algorithm; only the learning rates are ours (measured, see GAN_MODELS).
    wgan, wgan_gp = runs["WGAN (clipping)"].model, runs["WGAN-GP"].model
    assert (wgan.paper.optimizer, wgan.resolved_lr, wgan.resolved_n_critic, wgan.clip) == ("rmsprop", 5e-5, 5, 0.01)
    assert (wgan_gp.resolved_n_critic, wgan_gp.lambda_gp, wgan_gp.resolved_critic_norm) == (5, 10.0, "none")
    generator, vae = runs["DCGAN"].model, runs["VAE"].model
    assert (vae.width, vae.hidden, vae.latent_dim) == (generator.width, generator.hidden, generator.latent_dim)
    assert get_profile("default", gan_budget=7).gan_budget == 7


@pytest.mark.slow
def test_plan_says_what_would_run_and_why_and_runs_nothing(report: dict) -> None:
    tmp, dirs = report["tmp"], report["dirs"]
    manifest = str(_manifest(tmp, ["ok"]))
    stamp_file = tmp / "figures" / "ok_run" / ".run-stamp.json"
    before = stamp_file.read_bytes()
    ran_at = json.loads(before)["params"]["precision"]  # what the last execution of ok_run used
    other = "fp32" if ran_at == "auto" else "auto"
    status, out, _ = _run(["--profile", "smoke", "--precision", ran_at, "--manifest", manifest, "--plan", *dirs])
    assert status == 0 and "ok_run: cached" in out  # the fixture trains no model: no model lines
    status, out, _ = _run(["--profile", "smoke", "--precision", other, "--manifest", manifest, "--plan", *dirs])
    assert f"ok_run: re-execute (parameters changed: precision '{ran_at}' → '{other}')" in out
    assert stamp_file.read_bytes() == before  # nothing ran
