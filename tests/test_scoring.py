"""Score rows: each number in the row is the one recorded, under ``<metric>/<run name>``, and known answers hold."""

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import gm_lib.evaluation as evaluation
import gm_lib.scoring as scoring
from gm_lib.data import DataSpec, ImageDataset
from gm_lib.experiments import Run
from gm_lib.metrics import FIDResult, sharpness
from gm_lib.results import Recorder
from gm_lib.train_config import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import TinyConfig  # noqa: E402

PROFILE = SimpleNamespace(fid_n=16, fid_preview=True, train_subset=None, tsne_n=40)


def _run(name="tiny"):
    return Run(name, TinyConfig(), DataSpec("mnist", "train", n=32), TrainConfig(steps=1, device="cpu"))


def _dataset(x: torch.Tensor, y: torch.Tensor) -> ImageDataset:
    """float images in [0, 1] -> an in-memory split (uint8, as loaded from disk)."""
    return ImageDataset(DataSpec("mnist", "test", n=len(x)), (x * 255).round().to(torch.uint8), y)


class _Model:
    """Samples seeded uniform noise; reconstructs ``x + shift``; decodes codes to constant images."""

    device = torch.device("cpu")

    def __init__(self, shift=0.0, label=3):
        self.shift, self.label = shift, label

    def sample(self, n, generator=None):
        return torch.rand(n, 1, 8, 8, generator=generator)

    def reconstruct(self, x):
        return x + self.shift

    def decode(self, z):
        return z[:, :1, None, None].expand(-1, 1, 8, 8)


class _OneClass(torch.nn.Module):
    """Stand-in domain classifier: every image is class 3; features are the flattened pixels."""

    class config:  # noqa: N801 - mimics ClassifierConfig's hash()
        hash = staticmethod(lambda: "oneclass")

    device = torch.device("cpu")

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()

    def embed(self, x):
        return x.flatten(1)[:, :4]


def _fake_fid(samples, reference, kid, preview):  # Inception is tested in test_fid.py
    return FIDResult(float(samples.mean()), 0.25, 0.5, len(samples), reference, preview, "", "torch")


@pytest.fixture
def rec(tmp_path, monkeypatch):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluation, "fid", _fake_fid)
    return Recorder(tmp_path / "out", run_name="t", profile="smoke", seed=0)


def test_score_row_is_the_recorded_scores_of_one_draw(rec):
    history = SimpleNamespace(wall_time=90.0)
    errors = np.array([1.0, 2.0, 6.0])
    row = scoring.score_row(rec, "GAN", _run("gan_mnist_x"), _Model(), history, PROFILE, seed=1,
                            classifier=_OneClass(), errors=errors)
    scores = evaluation.score_run(_run("gan_mnist_x"), _Model(), 16, reference="mnist:test", preview=True, seed=1,
                                  classifier=_OneClass())  # the cached scores the row was made of
    assert row["FID"] == scores.fid.fid and row["KID"] == 0.25 and row["KID std"] == 0.5
    assert row["sharpness"] == scores.sharpness == pytest.approx(sharpness(evaluation.draw_samples(_Model(), 16, 1)))
    assert row["classes covered"] == 1 and row["KL to uniform"] == pytest.approx(math.log(10))
    assert row["test MSE"] == 3.0 and row["N"] == 16 and row["train min"] == 1.5
    assert list(row) == ["model", "FID", "KID", "KID std", "sharpness", "classes covered", "KL to uniform",
                         "test MSE", "N", "train min"]
    names = ["fid/gan_mnist_x", "kid/gan_mnist_x", "sharpness/gan_mnist_x", "mse/gan_mnist_x"]
    assert list(rec.metrics) == names
    assert [rec.metrics[n] for n in names] == [row["FID"], row["KID"], row["sharpness"], row["test MSE"]]
    assert rec.metric_meta["fid/gan_mnist_x"] == {"n": 16, "split": "mnist:test", "preview": True, "model": "GAN",
                                                  "dataset": "mnist", "backend": "torch"}
    assert rec.metric_meta["kid/gan_mnist_x"]["std"] == 0.5 and rec.metric_meta["mse/gan_mnist_x"]["n"] == 3


def test_score_row_without_classifier_or_errors_has_only_sample_columns(rec):
    row = scoring.score_row(rec, "VAE", _run(), _Model(), SimpleNamespace(wall_time=0.0), PROFILE, seed=0)
    assert list(row) == ["model", "FID", "KID", "KID std", "sharpness", "N", "train min"]
    assert list(rec.metrics) == ["fid/tiny", "kid/tiny", "sharpness/tiny"]


def test_floor_row_records_the_real_data_under_real(rec, monkeypatch):
    floor = FIDResult(0.5, 0.001, 0.002, 16, "mnist:test", True, "mnist:train", "torch")
    monkeypatch.setattr(scoring, "fid_floor", lambda dataset, n, preview: floor)
    real = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    row = scoring.floor_row(rec, "mnist", PROFILE, real)
    # N is the FID's (16); the sharpness is over the 10 images given, and the label says so.
    assert row == {"model": "real (FID: train vs test; sharpness: 10 test images)", "FID": 0.5, "KID": 0.001,
                   "KID std": 0.002, "sharpness": sharpness(real), "N": 16}
    assert rec.metrics == {"fid/real": 0.5, "sharpness/real": sharpness(real)}
    assert rec.metric_meta["fid/real"]["model"] == rec.metric_meta["sharpness/real"]["model"] == "real"
    assert scoring.floor_row(rec, "mnist", PROFILE, torch.rand(16, 1, 8, 8))["model"] == "real (train vs test)"


def test_reconstruction_errors_are_zero_for_a_perfect_model_and_sum_over_pixels():
    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.5
    data = _dataset(x, torch.zeros(7, dtype=torch.long))
    assert np.array_equal(scoring.reconstruction_errors(_Model(), data, batch_size=3), np.zeros(7))
    errors = scoring.reconstruction_errors(_Model(shift=0.1), data, batch_size=3)
    assert errors.shape == (7,) and np.allclose(errors, 64 * 0.1**2, rtol=1e-5)  # 64 pixels, each off by 0.1


def test_snapshot_curve_has_one_row_per_snapshot(monkeypatch):
    snapshots = [(0, _Model()), (10, _Model())]
    monkeypatch.setattr(scoring, "snapshot_models", lambda run: snapshots)
    real = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    z = torch.linspace(0, 1, 5).view(5, 1).expand(5, 3)
    curve, grids = scoring.snapshot_curve(_run(), _OneClass(), real, z, n=200, seed=0)
    assert curve["step"].tolist() == [0, 10] and curve["classes covered"].tolist() == [1, 1]
    assert np.allclose(curve["KL to uniform"], math.log(10))
    assert (curve["classifier FD"] < 0.05).all()  # uniform noise vs uniform noise: nearly the same statistics
    assert list(grids) == ["step 0", "step 10"] and torch.equal(grids["step 10"][:, 0, 0, 0], z[:, 0])


def test_knn_row_is_perfect_on_separated_classes(rec, monkeypatch):
    y = torch.arange(40) % 2
    x = (y.float().view(-1, 1, 1, 1) * 0.8 + torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.1)
    monkeypatch.setattr(scoring, "load_dataset", lambda name, split, n: _dataset(x[:n], y[:n]))
    model = SimpleNamespace(embed=lambda images: images.flatten(1)[:, :3])
    row, z_test, y_test = scoring.knn_row(rec, "AE", _run("ae_mnist"), model, PROFILE)
    assert row == {"model": "AE", "latent dim": 3, "kNN accuracy (k=5)": 1.0, "train codes": 40, "test codes": 40}
    assert z_test.shape == (40, 3) and np.array_equal(y_test, y.numpy())
    assert rec.metrics == {"knn/ae_mnist": 1.0} and rec.metric_meta["knn/ae_mnist"]["k"] == 5


def test_snapshot_grids_keep_at_most_grid_rows_evenly_spaced_first_and_last(monkeypatch):
    monkeypatch.setattr(scoring, "snapshot_models", lambda run: [(100 * i, _Model()) for i in range(11)])
    real = torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    curve, grids = scoring.snapshot_curve(_run(), _OneClass(), real, torch.zeros(2, 3), n=50, grid_rows=6)
    assert len(curve) == 11  # the numbers keep every snapshot
    assert list(grids) == [f"step {s}" for s in (0, 200, 400, 600, 800, 1000)]


def test_ranking_note_orders_by_fid_and_reads_every_number_from_the_rows():
    rows = [{"model": "WGAN", "FID": 190.25, "sharpness": 0.05, "classes covered": 9},
            {"model": "DCGAN", "FID": 55.04, "sharpness": 0.18, "classes covered": 10},
            {"model": "VAE", "FID": 170.0, "sharpness": 0.02, "classes covered": 10}]
    floor = {"FID": 12.0, "sharpness": 0.183, "N": 2048}
    note = scoring.ranking_note(rows, floor, {"DCGAN": "snapshots_gan_dcgan.png"})
    assert "DCGAN 55.0 (samples: snapshots_gan_dcgan.png) < VAE 170.0 < WGAN 190.2" in note
    assert "N = 2,048; real-vs-real floor 12.0" in note
    assert "highest for DCGAN (0.180)" in note and "lowest for VAE (0.020)" in note
    assert "Classes covered below 10: WGAN (9)." in note
    assert "Every model covers all 10" in scoring.ranking_note(rows[1:], floor, {})
    with pytest.raises(ValueError, match="at least one"):
        scoring.ranking_note([], floor, {})
