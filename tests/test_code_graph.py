"""Cache keys cover exactly the code a result uses: the import closure, at module granularity."""

import ast
import json
from pathlib import Path

import pytest

from gm_build.report import plan
from gm_lib import code_graph
from gm_lib.experiments import AUTOENCODER_MODELS, GAN_MODELS, autoencoder_runs, gan_runs, vae_bmnist_run
from gm_lib.profiles import get_profile
from gm_lib.runs import run_hash, training_code

PACKAGE = code_graph.PACKAGE
NOTEBOOKS = PACKAGE.parent / "notebooks"


def _registered_runs():
    """Every run of every chapter registry (a new entry is tested without editing this file)."""
    profile = get_profile("smoke")
    runs = {"vae_bmnist": vae_bmnist_run(profile, device="cpu")}
    for run in [*gan_runs("fashion_mnist", profile, device="cpu").values(),
                *autoencoder_runs("mnist", profile, device="cpu").values()]:
        runs[run.name] = run
    assert len(runs) == 1 + len(GAN_MODELS) + len(AUTOENCODER_MODELS)
    return runs


def _key(run) -> str:
    return run_hash(run.model, run.data, run.train, run.val)


@pytest.fixture(autouse=True)
def _reading_disk():
    """Every test here edits files (in ``package_copy``) and asks for their keys, as the report's plan does."""
    with code_graph.reading_disk():
        yield


def _edit_code(path: Path) -> None:
    path.write_text(path.read_text() + "\n_EDITED_FOR_A_TEST = 1\n")


def test_package_inits_only_reexport():
    """Package __init__ files are not part of any key, so they may hold nothing a result depends on."""
    for init in PACKAGE.rglob("__init__.py"):
        for node in ast.parse(init.read_text()).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            names = [t.id for t in node.targets] if isinstance(node, ast.Assign) else []
            dunder = names in (["__all__"], ["__version__"])
            allowed = docstring or isinstance(node, ast.Import | ast.ImportFrom) or dunder
            assert allowed, f"{init.relative_to(PACKAGE.parent)} line {node.lineno}: an __init__ holds only re-exports"


def test_every_registered_run_key_changes_exactly_with_the_modules_it_imports(package_copy):
    runs = _registered_runs()
    before = {name: _key(run) for name, run in runs.items()}
    closures = {name: set(training_code(run.model, run.data)) for name, run in runs.items()}
    modules = sorted(p.relative_to(package_copy).as_posix() for p in package_copy.rglob("*.py")
                     if p.name != "__init__.py")
    for relative in modules:
        original = (package_copy / relative).read_text()
        _edit_code(package_copy / relative)
        for name, run in runs.items():
            changed = _key(run) != before[name]
            assert changed == (relative in closures[name]), f"{name}: editing {relative} changed its key: {changed}"
        (package_copy / relative).write_text(original)


def test_one_family_does_not_retrain_another():
    runs = {run.name: run for run in [vae_bmnist_run(get_profile("smoke")),
                                      *gan_runs("fashion_mnist", get_profile("smoke")).values()]}
    dcgan = set(training_code(runs["gan_fashion_mnist_dcgan"].model, runs["gan_fashion_mnist_dcgan"].data))
    assert "models/gan_losses/dcgan.py" in dcgan and "models/gan_losses/wgan_gp.py" not in dcgan
    assert "losses/wasserstein.py" not in dcgan  # gradient penalty and clipping are the WGANs' code
    vae = set(training_code(runs["vae_bmnist"].model, runs["vae_bmnist"].data))
    assert {"models/vae.py", "nets/conv.py", "losses/elbo.py", "train.py", "data.py"} <= vae
    assert not vae & {"models/gan.py", "nets/critic.py", "losses/wasserstein.py", "metrics/fid.py", "plots.py"}
    assert not any(m.startswith(("report/", "experiments/")) for m in vae)


def test_docstrings_comments_and_layout_are_not_code(package_copy):
    run = vae_bmnist_run(get_profile("smoke"))
    key = _key(run)
    path = package_copy / "losses" / "elbo.py"
    source = path.read_text()
    path.write_text(source.replace('"""', '"""A typo fixed. ', 1).replace("\n\n\n", "\n\n\n# a comment\n", 1))
    assert _key(run) == key
    path.write_text(source.replace("0.5 * math.log(2 * math.pi)", "0.5 * math.log(2.0 * math.pi)"))
    assert _key(run) != key  # a change of a constant is a change of the code


def test_names_resolve_through_package_reexports():
    found = code_graph.imported_modules("from gm_lib.models import GANConfig\nfrom gm_lib import plots\n%time x = 1\n")
    assert found == {"gm_lib.models.gan", "gm_lib.plots"}
    with pytest.raises(ValueError, match="not a gm_lib module"):
        code_graph.module_closure(["gm_lib.no_such_module"])


def test_notebook_stamps_cover_their_chapter_and_not_the_report_builder():
    from gm_build.report.manifest import load_manifest

    executed = {spec.notebook for spec in load_manifest(PACKAGE.parent / "reports" / "manifest.yaml").runs}
    closures = {nb.stem: set(code_graph.module_closure(plan.notebook_modules(nb))) for nb in executed}
    assert "experiments/gans.py" in closures["03_wgan"]
    assert "experiments/gans.py" not in closures["01_vae_binarized_mnist"]
    assert "models/gan.py" not in closures["01_vae_binarized_mnist"]
    assert "models/gan.py" not in closures["05_tsne_latents"]  # 05 loads 01's and 04's models only


def test_a_family_edit_reexecutes_only_the_notebook_that_trains_it(package_copy, tmp_path):
    params = {"profile": "smoke", "seed": 0, "device": "cpu", "precision": "auto", "output_dir": "x", "run_name": "x"}
    notebooks = {"01_vae_binarized_mnist": {}, "03_wgan": {"dataset": "fashion_mnist"}, "04_wae_vs_vae": {}}
    folders = {}
    for stem, extra in notebooks.items():
        folders[stem] = tmp_path / stem
        folders[stem].mkdir()
        (folders[stem] / "results.json").write_text("{}")
        recorded = plan.stamp(NOTEBOOKS / f"{stem}.ipynb", params | extra)
        (folders[stem] / plan.STAMP_FILE).write_text(json.dumps(recorded))
        assert plan.stale_reasons(NOTEBOOKS / f"{stem}.ipynb", params | extra, folders[stem], "results.json") == []
    _edit_code(package_copy / "models" / "gan_losses" / "wgan_gp.py")  # imported by name: only the run key shows it
    reasons = {stem: plan.stale_reasons(NOTEBOOKS / f"{stem}.ipynb", params | extra, folders[stem], "results.json")
               for stem, extra in notebooks.items()}
    assert reasons["01_vae_binarized_mnist"] == [] and reasons["04_wae_vs_vae"] == []
    assert len(reasons["03_wgan"]) == 1 and "gan_fashion_mnist_wgan_gp-" in reasons["03_wgan"][0]

