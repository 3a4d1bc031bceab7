"""The RGB chapters end to end: notebooks 03 and 04 with ``dataset=svhn`` through the report runner.

Real SVHN cannot be had offline here, so the test writes a small synthetic SVHN in the real on-disk format
(``SVHN/{train,test}_32x32.mat``: X (32, 32, 3, N) uint8, y (N, 1) with 10 for digit 0) into a temporary
GM_DATA_DIR: MNIST digits, padded to 32×32, tinted on coloured backgrounds, labelled with their digit. The
checkpoint cache is temporary too (the FID weights are linked in), so nothing is read from earlier runs.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from scipy.io import savemat

from gm_build.report import main as report_main
from gm_build.report.run import _split_fix
from gm_lib.data import DatasetUnavailable, load_dataset
from gm_lib.experiments import AUTOENCODER_MODELS, GAN_MODELS
from gm_lib.metrics import ensure_fid_weights
from gm_lib.models import GANConfig
from gm_lib.paths import data_root

SIZES = {"train": 2_000, "test": 500}  # smoke uses 2,000 training and 500 test images


def _tinted_digits(x: torch.Tensor, seed: int) -> np.ndarray:
    """MNIST ``(N, 1, 28, 28)`` in [0, 1] -> SVHN's ``X`` layout ``(32, 32, 3, N)`` uint8, colour on colour."""
    rng = np.random.default_rng(seed)
    n = len(x)
    ink = torch.nn.functional.pad(x, (2, 2, 2, 2)).numpy()  # (N, 1, 32, 32)
    background = rng.uniform(0.0, 0.6, size=(n, 3, 1, 1))
    foreground = np.clip(background + rng.choice([-1, 1], size=(n, 1, 1, 1)) * rng.uniform(0.35, 0.5, (n, 3, 1, 1)),
                         0, 1)
    images = background * (1 - ink) + foreground * ink  # (N, 3, 32, 32)
    return np.ascontiguousarray((images * 255).round().astype(np.uint8).transpose(2, 3, 1, 0))


def _write_synthetic_svhn(root: Path, mnist_root: Path) -> None:
    folder = root / "SVHN"
    folder.mkdir(parents=True)
    for seed, (split, n) in enumerate(SIZES.items()):
        x, y = load_dataset("mnist", split, n=n, root=mnist_root).tensors()
        labels = y.numpy().astype(np.uint8).reshape(-1, 1)
        labels[labels == 0] = 10  # SVHN's convention
        savemat(folder / f"{split}_32x32.mat", {"X": _tinted_digits(x, seed), "y": labels})


@pytest.fixture(scope="module")
def svhn_report(tmp_path_factory):
    """Synthetic SVHN + links to the MNIST mirrors in a temporary data root; 03 and 04 run on it (smoke)."""
    real_root, real_fid = data_root(), ensure_fid_weights().parent  # converted once by `make setup`
    if not (real_root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST mirror not found under {real_root}: set GM_DATA_DIR=../shared/data")
    tmp = tmp_path_factory.mktemp("rgb")
    root, cache = tmp / "data", tmp / "cache"
    root.mkdir()
    cache.mkdir()
    for name in ("MNIST", "FashionMNIST"):
        if (real_root / name).exists():
            (root / name).symlink_to(real_root / name)
    (cache / "fid").symlink_to(real_fid)  # converted Inception weights: read-only use
    _write_synthetic_svhn(root, real_root)
    manifest = tmp / "manifest.yaml"
    runs = [{"name": "wgan_svhn", "notebook": "notebooks/03_wgan.ipynb", "title": "WGAN on SVHN",
             "parameters": {"dataset": "svhn"}},
            {"name": "wae_svhn", "notebook": "notebooks/04_wae_vs_vae.ipynb", "title": "WAE vs VAE on SVHN",
             "parameters": {"dataset": "svhn"}}]
    manifest.write_text(json.dumps({"seed": 0, "runs": runs}))
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GM_DATA_DIR", str(root))  # the kernels inherit these
        env.setenv("GM_CACHE_DIR", str(cache))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = report_main(["--profile", "smoke", "--manifest", str(manifest), "--device", "cpu",
                                  "--reports-dir", str(tmp / "reports"), "--figures-dir", str(tmp / "figures")])
    return {"status": status, "out": out.getvalue(), "err": err.getvalue(), "figures": tmp / "figures",
            "md": (tmp / "reports" / "report.md").read_text()}


def _results(report: dict, run: str) -> dict:
    assert report["status"] == 0, report["out"] + report["err"]
    return json.loads((report["figures"] / run / "results.json").read_text())


def _is_colour(png: Path) -> bool:
    """True when the figure holds coloured pixels (channels differ), i.e. RGB reached the plots."""
    rgb = imread(png)[..., :3]
    return float(np.abs(rgb[..., 0] - rgb[..., 1]).max()) > 0.2


@pytest.mark.slow
def test_synthetic_svhn_is_read_in_the_real_format(tmp_path, mnist_root):
    _write_synthetic_svhn(tmp_path, mnist_root)
    data = load_dataset("svhn", "test", root=tmp_path)
    x, y = data.tensors()
    assert x.shape == (SIZES["test"], 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    _, y_mnist = load_dataset("mnist", "test", n=SIZES["test"], root=mnist_root).tensors()
    assert torch.equal(y, y_mnist)  # label 10 read back as digit 0


@pytest.mark.slow
def test_gans_on_svhn_score_samples_cover_classes_and_walk_the_latent_space(svhn_report):
    results = _results(svhn_report, "wgan_svhn")
    metrics, meta = results["metrics"], results["metric_meta"]
    keys = [f"fid/gan_svhn_{entry.key}" for entry in GAN_MODELS]  # fid/<run name>, every model of the registry
    gans = [entry.key for entry in GAN_MODELS if isinstance(entry.config, GANConfig)]
    for key in keys:
        assert np.isfinite(metrics[key]) and metrics[key] > 0
        assert meta[key]["dataset"] == "svhn" and meta[key]["preview"] is True
    assert 0 <= metrics["fid/real"] < min(metrics[key] for key in keys)
    table = results["tables"]["fid"]
    labels = [entry.label for entry in GAN_MODELS]
    models = [row for row in table["rows"] if row[table["columns"].index("model")] in labels]
    assert len(models) == len(labels)  # every model's row (the real-data floor is the table's last)
    covered = [row[table["columns"].index("classes covered")] for row in models]
    assert all(1 <= c <= 10 for c in covered)  # the SVHN domain classifier labelled the samples
    files = {f["file"] for f in results["figures"]}
    for model in gans:  # figures named by run
        assert {f"snapshots_gan_svhn_{model}.png", f"curves_gan_svhn_{model}.png"} <= files
    for model in (entry.key for entry in GAN_MODELS):  # latent walks of every model
        assert {f"perturbation_gan_svhn_{model}.png", f"interpolation_gan_svhn_{model}.png"} <= files
    assert "coverage.png" in files
    assert "(3, 32, 32)" in json.dumps(results["config"])


@pytest.mark.slow
def test_autoencoders_on_svhn_score_and_show_colour_images(svhn_report):
    results = _results(svhn_report, "wae_svhn")
    metrics = results["metrics"]
    fids = {k: v for k, v in metrics.items() if k.startswith("fid/ae_svhn_")}
    assert len(fids) == len(AUTOENCODER_MODELS) and all(np.isfinite(v) and v > 0 for v in fids.values())
    assert metrics["sharpness/real"] > 0 and all(np.isfinite(v) for k, v in metrics.items() if k.startswith("mse/"))
    folder = svhn_report["figures"] / "wae_svhn"
    assert {"samples.png", "interpolation.png", "reconstructions.png"} <= {f["file"] for f in results["figures"]}
    assert _is_colour(folder / "reconstructions.png")  # the data row is tinted digits on coloured backgrounds
    assert "WAE vs VAE on SVHN" in svhn_report["md"] and "data unavailable" not in svhn_report["md"]


def test_missing_svhn_names_both_files_and_the_fix(tmp_path):
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset("svhn", "test", root=tmp_path)
    reason, fix = _split_fix(str(error.value))
    assert reason.startswith(f"dataset 'svhn' not found under {tmp_path}")
    assert "train_32x32.mat and test_32x32.mat" in reason and fix.startswith("run make data DATASETS=svhn")


def test_the_real_data_root_has_no_svhn_so_the_report_says_not_run():
    # The project's data root here holds no SVHN: the repository's report lists its runs as not run.
    if (data_root() / "SVHN" / "test_32x32.mat").exists():
        pytest.skip("real SVHN is present under GM_DATA_DIR")
    with pytest.raises(DatasetUnavailable, match="train_32x32.mat and test_32x32.mat"):
        load_dataset("svhn", "test")
