"""Evaluation results cached beside a run's checkpoint: computed once, recomputed when the key changes."""

import sys
from pathlib import Path

import torch

from gm_lib.data import DataSpec
from gm_lib.evaluation import cached, run_nll
from gm_lib.experiments import Run
from gm_lib.train import TrainConfig

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
