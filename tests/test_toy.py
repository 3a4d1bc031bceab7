"""The parallel-lines toy: exact values, samplers, and critic estimates against them."""

import pytest
import torch

from gm_lib.toy import (
    estimate_curve,
    estimate_divergence,
    sample_p,
    sample_q,
    true_squared_hellinger,
    true_wasserstein,
)


def test_samplers_lie_on_their_lines():
    g = torch.Generator().manual_seed(0)
    p, q = sample_p(500, g), sample_q(0.7, 500, g)
    assert p.shape == q.shape == (500, 2)
    assert torch.all(p[:, 0] == 0) and torch.allclose(q[:, 0], torch.full((500,), 0.7))
    assert 0 <= q[:, 1].min() and q[:, 1].max() <= 1 and abs(q[:, 1].mean() - 0.5) < 0.05


def test_true_values():
    assert true_wasserstein(-0.5) == 0.5 and true_wasserstein(0.0) == 0.0
    assert true_squared_hellinger(0.0) == 0.0 and true_squared_hellinger(1e-3) == 2.0


@pytest.mark.parametrize("theta", [0.0, 0.5, 1.0])
def test_wgan_gp_estimate_tracks_abs_theta(theta):
    estimate = estimate_divergence(theta, "wasserstein", steps=300, batch_size=256, eval_batches=10)
    assert estimate.value == pytest.approx(abs(theta), abs=0.1)
    # The soft two-sided penalty biases the dual upward to |θ| + θ²/(2λ) (see estimate_divergence).
    assert estimate.value == pytest.approx(abs(theta) + theta**2 / 20, abs=0.03)
    assert len(estimate.per_batch) == 10


def test_hellinger_estimate_separates_equal_from_disjoint():
    same = estimate_divergence(0.0, "hellinger", steps=200, eval_batches=10)
    disjoint = estimate_divergence(1.0, "hellinger", steps=200, eval_batches=10)
    assert abs(same.value) < 0.1  # H² = 0; a lower bound, so ≤ 0 up to noise
    assert disjoint.value == pytest.approx(2.0, abs=0.1)  # H² = 2 (no-½ convention)
    assert disjoint.value <= 2.0 + 1e-6  # a lower bound never exceeds its supremum


def test_hellinger_estimate_is_flat_in_theta_where_wasserstein_is_not():
    near, far = (estimate_divergence(t, "hellinger", steps=200, eval_batches=5).value for t in (0.2, 2.0))
    assert near == pytest.approx(far, abs=0.1)


def test_unknown_divergence_is_rejected():
    with pytest.raises(ValueError, match="divergence"):
        estimate_divergence(1.0, "kl")


def test_estimate_curve_gives_one_estimate_per_theta():
    curve = estimate_curve([0.0, 1.0], "hellinger", steps=100, eval_batches=3)
    assert len(curve) == 2 and curve[0].value < curve[1].value
