"""The chapter registries: one entry per model, and everything else loops over them."""

import dataclasses
import json
import re

import pytest
import torch

from gm_build import docs
from gm_lib.checkpoint import delete_run_files
from gm_lib.experiments import GAN_MODELS, budget_steps, models_table
from gm_lib.experiments.registry import CHAPTER_MODELS, all_models, model_list, update_generated
from gm_lib.models.gan import GANConfig, gan_losses
from gm_lib.paths import repo_root


@pytest.mark.parametrize("notebook", CHAPTER_MODELS)
def test_a_chapter_names_each_model_once(notebook):
    entries = CHAPTER_MODELS[notebook]
    assert len({e.label for e in entries}) == len({e.key for e in entries}) == len(entries)
    for entry in entries:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", entry.key), f"{entry.key!r}: keys name files and metrics"
        assert isinstance(entry.bf16_keeps_quality, bool) and entry.step_cost > 0
        assert dataclasses.is_dataclass(entry.config) and callable(entry.config.build)
    assert entries[0].step_cost == 1.0  # costs are relative to the chapter's first model


def test_every_registered_model_builds_and_takes_a_training_step():
    """A new entry is exercised here without a line of its own (shapes as MNIST)."""
    for name, entry in all_models().items():
        torch.manual_seed(0)
        model = dataclasses.replace(entry.config, image_shape=(1, 28, 28)).build()
        optimizers = model.configure_optimizers()
        out = model.training_step(lambda: torch.rand(8, 1, 28, 28), optimizers)
        assert torch.isfinite(out.loss), name


def test_gan_losses_are_the_family_modules_and_an_unknown_one_is_named():
    assert set(gan_losses()) >= {"dcgan", "wgan", "wgan_gp"}
    with pytest.raises(ValueError, match=r"loss='not-a-loss' unknown; use one of .*dcgan"):
        GANConfig(loss="not-a-loss")  # not a module name: no family will ever take it


def test_budget_steps_gives_equal_cpu():
    assert budget_steps(5_600, 1.0, 50) == 5_600
    assert budget_steps(5_600, 5.18, 50) == 1_100 and budget_steps(5_600, 2.61, 50) == 2_150
    assert budget_steps(3, 5.18) == 1  # at least one step


def test_models_table_lists_every_model():
    table = models_table(CHAPTER_MODELS["03_wgan"], steps={e.label: 10 for e in CHAPTER_MODELS["03_wgan"]})
    assert table.count("\n") == 1 + len(CHAPTER_MODELS["03_wgan"])
    assert all(f"`{e.key}`" in table for e in CHAPTER_MODELS["03_wgan"])


def test_delete_run_files_removes_everything_of_the_run(tmp_path):
    for name in ("checkpoint.pt", "history.json", "history.csv", "snapshots/step_0000010.pt", "metrics/a.json",
                 ".checkpoint.pt.123.tmp"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "config.json").write_text("{}")
    delete_run_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_generated_docs_are_up_to_date():
    """README.md's and the notebooks' generated text is what the registries give now (a model added, a label
    changed: `make docs` rewrites it)."""
    text = (repo_root() / "README.md").read_text()
    assert all(f"<!-- models:{notebook} -->" in text for notebook in ("03_wgan", "04_wae_vs_vae"))
    stale = [path.relative_to(repo_root()) for path in docs.stale_files()]
    what = {".md": "model table", ".ipynb": "model list"}
    assert not stale, "; ".join(f"{path}'s {what[path.suffix]} is stale" for path in stale) + ": run `make docs`"


def test_make_report_runs_make_docs_first():
    makefile = (repo_root() / "Makefile").read_text()
    assert re.search(r"^docs:.*\n\t\$\(BIN\)/python -m gm_build\.docs$", makefile, flags=re.MULTILINE)
    assert re.search(r"^report: .*\bdocs\b", makefile, flags=re.MULTILINE), "make report must run make docs"


def _project(root, readme: str, cells: list[tuple[str, str]]):
    (root / "notebooks").mkdir(parents=True)
    (root / "README.md").write_text(readme)
    notebook = {"cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
                          for kind, source in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "notebooks" / "03_wgan.ipynb").write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return root / "README.md", root / "notebooks" / "03_wgan.ipynb"


def test_make_docs_rewrites_the_generated_spans_and_nothing_else(tmp_path):
    labels = [entry.label for entry in GAN_MODELS]
    stale_list = "<!-- model-list:03_wgan -->DCGAN vs WGAN<!-- /model-list -->"
    readme, notebook = _project(
        tmp_path, f"# Title · ünïcode\n\n<!-- models:03_wgan -->\n| old |\n<!-- /models -->\n\nrow: {stale_list} |\n",
        [("markdown", f"# 03 · {stale_list}\n\nprose kept"), ("code", f"x = 1  # {stale_list}")])
    assert docs.stale_files(tmp_path) == [readme, notebook]
    assert docs.write_docs(tmp_path) == [readme, notebook] and docs.stale_files(tmp_path) == []
    text = readme.read_text()
    assert text.startswith("# Title · ünïcode\n\n<!-- models:03_wgan -->\n| model | key |")
    assert "| old |" not in text and all(f"| {label} |" in text for label in labels)
    assert text.endswith(f"row: <!-- model-list:03_wgan -->{' vs '.join(labels)}<!-- /model-list --> |\n")
    cells = json.loads(notebook.read_text())["cells"]
    assert "".join(cells[0]["source"]) == f"# 03 · <!-- model-list:03_wgan -->{model_list('03_wgan')}" \
                                         "<!-- /model-list -->\n\nprose kept"
    assert "".join(cells[1]["source"]) == f"x = 1  # {stale_list}"  # code cells are never rewritten
    assert docs.write_docs(tmp_path) == []  # rewriting is idempotent


def test_a_marker_naming_no_chapter_is_named_and_nothing_is_written(tmp_path):
    readme, notebook = _project(tmp_path, "<!-- models:03_wgan -->\n| old |\n<!-- /models -->\n",
                                [("markdown", "<!-- model-list:99_nothing -->x<!-- /model-list -->")])
    before = readme.read_bytes(), notebook.read_bytes()
    with pytest.raises(ValueError, match=r"03_wgan.ipynb: <!-- model-list:99_nothing -->: no such chapter"):
        docs.write_docs(tmp_path)
    assert (readme.read_bytes(), notebook.read_bytes()) == before  # the stale README was not written either
    with pytest.raises(ValueError, match="no such chapter; use one of"):
        update_generated("<!-- models:99_nothing -->\n<!-- /models -->")


@pytest.mark.parametrize("notebook", CHAPTER_MODELS)
def test_every_registered_model_is_described_in_its_chapters_prose(notebook):
    """A model added to a registry needs the notebook's words (its paper, its loss), not only the generated list."""
    cells = json.loads((repo_root() / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    prose = re.sub(r"<!-- (model-list|models):\S+ -->.*?<!-- /(model-list|models) -->", "", prose, flags=re.DOTALL)
    missing = [entry.label for entry in CHAPTER_MODELS[notebook] if entry.label not in prose]
    assert not missing, f"{notebook}.ipynb's prose names no {missing}: describe each registered model there"


def test_the_time_guard_scales_with_the_run_and_is_not_part_of_its_key():
    from gm_lib.experiments import gan_runs
    from gm_lib.experiments.base import GUARD_FLOOR_MINUTES
    from gm_lib.experiments.gans import REFERENCE_STEP_SECONDS
    from gm_lib.profiles import get_profile
    from gm_lib.runs import run_hash

    profile = get_profile("default")
    runs = gan_runs("fashion_mnist", profile, device="cpu")
    for entry in GAN_MODELS:
        train = runs[entry.label].train
        expected_min = train.steps * entry.step_cost * REFERENCE_STEP_SECONDS / 60
        assert train.max_minutes == pytest.approx(max(GUARD_FLOOR_MINUTES, profile.guard_factor * expected_min),
                                                  abs=0.06)
    run = runs["DCGAN"]
    longer = dataclasses.replace(run.train, max_minutes=run.train.max_minutes * 10)  # a slower machine's guard
    assert run_hash(run.model, run.data, longer) == run_hash(run.model, run.data, run.train)
    assert all(r.train.max_minutes is None for r in gan_runs("fashion_mnist", get_profile("full")).values())
