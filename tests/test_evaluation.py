"""Evaluation results cached beside a run's checkpoint: computed once, recomputed when the key changes."""

import sys
from pathlib import Path

import pytest
import torch

from gm_lib.data import DataSpec
from gm_lib.evaluation import cached, run_nll
from gm_lib.experiments import Run
from gm_lib.train_config import TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _train_worker import TinyConfig  # noqa: E402


def _run():
    return Run("tiny", TinyConfig(), DataSpec("mnist", "test", n=32), TrainConfig(steps=1, device="cpu"))


def test_cached_computes_once_per_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    calls = []
    compute = lambda: calls.append(1) or {"value": len(calls)}
    assert cached(_run(), {"metric": "x", "n": 1}, compute) == {"value": 1}
    assert cached(_run(), {"metric": "x", "n": 1}, compute) == {"value": 1}  # read back, not recomputed
    assert cached(_run(), {"metric": "x", "n": 2}, compute) == {"value": 2}
    assert len(calls) == 2 and len(list(tmp_path.rglob("metrics/*.json"))) == 2


class _Gaussian:
    """p(z) = N(0, 1), p(x|z) = N(z, 1), q(z|x) = the exact posterior N(x/2, 1/2): log p(x) = log N(x; 0, 2)."""

    training = False

    def __init__(self, device="cpu"):
        self.device = torch.device(device)

    def train(self, mode=True):
        return self

    def eval(self):
        return self

    def encode(self, x):
        return x.flatten(1) / 2, torch.full_like(x.flatten(1), torch.log(torch.tensor(0.5)).item())

    def log_px_given_z(self, x, z):
        return torch.distributions.Normal(z, 1.0).log_prob(x.flatten(1)).sum(1)


def test_run_nll_is_exact_for_the_true_posterior_and_cached(tmp_path, monkeypatch, device):
    """On CUDA too: run_nll draws with a CPU generator, which used to be passed to a CUDA randn."""
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    x = torch.linspace(-2, 2, 5).view(5, 1, 1, 1)
    exact = torch.distributions.Normal(0.0, 2**0.5).log_prob(x.flatten())
    first = run_nll(_run(), _Gaussian(device), x, k=10, seed=0)
    assert torch.allclose(first.per_image.float(), exact, atol=1e-5)
    again = run_nll(_run(), _Gaussian(device), x, k=10, seed=0)
    assert torch.equal(first.per_image, again.per_image) and again.k == 10
    assert len(list(tmp_path.rglob("metrics/*.json"))) == 1


class _Sampler:
    """A 'model' whose samples are seeded uniform noise; counts how often it is asked to sample."""

    device = torch.device("cpu")

    def __init__(self):
        self.draws = 0

    def sample(self, n, generator=None):
        self.draws += 1
        return torch.rand(n, 1, 8, 8, generator=generator)


class _OneClass(torch.nn.Module):
    """Stand-in domain classifier: every image is class 3."""

    class config:  # noqa: N801 - mimics ClassifierConfig's hash()
        hash = staticmethod(lambda: "oneclass")

    device = torch.device("cpu")  # the metrics move each batch to the classifier's device

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()


def test_score_run_draws_once_scores_all_and_caches(tmp_path, monkeypatch):
    import math

    import gm_lib.evaluation as evaluation
    from gm_lib.metrics import FIDResult, sharpness

    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    seen = []

    def fake_fid(samples, reference, kid, preview):  # records what FID scored; Inception is tested elsewhere
        seen.append(samples)
        return FIDResult(1.5, None, None, len(samples), reference, preview, "", "torch")

    monkeypatch.setattr(evaluation, "fid", fake_fid)
    model = _Sampler()
    first = evaluation.score_run(_run(), model, 16, reference="mnist:test", preview=True, seed=3,
                                 classifier=_OneClass())
    expected = evaluation.draw_samples(_Sampler(), 16, 3)
    assert model.draws == 1 and torch.equal(seen[0], expected)  # FID scored the one draw
    assert first.sharpness == pytest.approx(sharpness(expected))  # ... and so did sharpness
    assert first.classes_covered == 1 and first.kl_to_uniform == pytest.approx(math.log(10))
    assert first.fid.backend == "torch" and first.fid.n == 16
    again = evaluation.score_run(_run(), model, 16, reference="mnist:test", preview=True, seed=3,
                                 classifier=_OneClass())
    assert again == first and model.draws == 1 and len(seen) == 1  # cached: not even sampled
    given = evaluation.score_run(_run(), model, 16, reference="mnist:test", preview=True, seed=3, samples=expected)
    assert model.draws == 1 and given.sharpness == first.sharpness and given.classes_covered is None


def test_scores_are_keyed_by_the_weights_scored(tmp_path, monkeypatch):
    """A run stopped by the time guard and finished later must not serve the stopped model's scores."""
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    model, calls = torch.nn.Linear(2, 1), []
    compute = lambda: calls.append(1) or {"value": len(calls)}
    assert cached(_run(), {"metric": "x"}, compute, model=model) == {"value": 1}
    assert cached(_run(), {"metric": "x"}, compute, model=model) == {"value": 1}
    with torch.no_grad():
        model.weight[0, 0] += 1e-3  # trained further
    assert cached(_run(), {"metric": "x"}, compute, model=model) == {"value": 2}


def test_weights_digest_sees_every_tensor_and_not_the_device():
    from gm_lib.evaluation import weights_digest

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    digest = weights_digest(model)
    model[1].running_mean += 1  # a buffer is part of the model too
    assert weights_digest(model) != digest
    assert weights_digest(model) == weights_digest(model.to(torch.float32))


def test_sample_scores_are_keyed_by_fid_backend_and_feature_device_class(tmp_path, monkeypatch):
    """The reference statistics are kept per backend and device class; a cached score must be too (asking with the
    torch backend used to return the score cached with OpenVINO)."""
    import importlib

    import gm_lib.evaluation as evaluation
    import gm_lib.metrics.inception_backends as backends
    from gm_lib.metrics import FIDResult

    fid_module = importlib.import_module("gm_lib.metrics.fid")  # the package's `fid` attribute is the function
    monkeypatch.setenv("GM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(backends, "openvino_available", lambda: True)  # only the choice matters here, not the package
    monkeypatch.setattr(fid_module, "select_device", lambda device: torch.device("cpu"))
    monkeypatch.setattr(evaluation, "fid", lambda samples, reference, kid, preview: FIDResult(
        float(len(calls)), None, None, len(samples), reference, preview, "", fid_module.feature_backend()))
    calls = []
    model = _Sampler()

    def score(backend: str) -> str:
        monkeypatch.setenv("GM_FID_BACKEND", backend)
        calls.append(backend)
        return evaluation.score_run(_run(), model, 16, reference="mnist:test", preview=True, seed=3).fid.backend

    assert (score("openvino"), score("torch")) == ("openvino", "torch")  # two entries, each its backend's
    assert model.draws == 2 and len(list(tmp_path.rglob("metrics/*.json"))) == 2
    assert (score("openvino"), score("torch")) == ("openvino", "torch") and model.draws == 2  # switching back reuses
    monkeypatch.setattr(fid_module, "select_device", lambda device: torch.device("cuda"))  # features on a GPU
    assert score("torch") == "torch" and model.draws == 3 and len(list(tmp_path.rglob("metrics/*.json"))) == 3
