"""Sharpness, importance-sampled likelihood (closed-form model), domain classifiers."""

import math

import numpy as np
import pytest
import torch

from gm_lib.metrics.likelihood import importance_sampled_log_likelihood, log_normal_diag
from gm_lib.metrics.sharpness import laplacian_variance, sharpness

# ---------------------------------------------------------------- sharpness


def test_sharpness_of_constant_image_is_zero(device):
    assert sharpness(torch.full((3, 1, 8, 8), 0.7, device=device)) == pytest.approx(0.0, abs=1e-12)


def test_sharpness_of_one_bright_pixel_matches_hand_value(device):
    """4x4 image, one pixel of 1 at (1, 1): the VALID response is 2x2 (no padding).

    Centres (1,1), (1,2), (2,1), (2,2) -> [-4, 1, 1, 0]; mean -0.5; population variance
    (3.5² + 1.5² + 1.5² + 0.5²) / 4 = 17 / 4.
    """
    x = torch.zeros(1, 1, 4, 4, device=device)
    x[0, 0, 1, 1] = 1.0
    values = laplacian_variance(x)
    assert values.device.type == torch.device(device).type
    assert values.tolist() == pytest.approx([17 / 4])
    # RGB uses tf.image.rgb_to_grayscale's luma weights, not the channel mean: the pixel in one channel
    # only scales the response by that channel's weight (variance by its square).
    for channel, weight in enumerate([0.2989, 0.5870, 0.1140]):
        rgb = torch.zeros(1, 3, 4, 4, device=device)
        rgb[0, channel] = x[0, 0]
        assert sharpness(rgb) == pytest.approx(weight**2 * 17 / 4)


def test_sharpness_of_checkerboard_matches_hand_value(device):
    board = (torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2  # 0/1 checkerboard
    # Every interior pixel sees four opposite neighbours: response = 4 (1 - v) - 4 v -> +4 on zeros,
    # -4 on ones; half each over the 6x6 VALID response -> variance 16.
    assert sharpness(board.float().view(1, 1, 8, 8).to(device)) == pytest.approx(16.0)
    rgb = board.float().view(1, 1, 8, 8).expand(2, 3, 8, 8).to(device)  # luma weights sum to 0.9999
    assert laplacian_variance(rgb).tolist() == pytest.approx([16.0 * 0.9999**2] * 2)


def test_sharpness_ignores_the_border_as_the_official_code_does(device):
    """28x28 with a 2-pixel zero border: the official VALID variance is sum(r²) / 676.

    The response sums to zero (a discrete Laplacian telescopes when the image is zero near the edges), so
    a full-size response padded with zeros would give sum(r²) / 784, i.e. 676/784 = 0.862 of the official value.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    x[..., 2:-2, 2:-2] = torch.rand(24, 24, generator=generator, dtype=torch.float64)
    r = _valid_laplacian_by_hand(x[0, 0].numpy())
    assert r.shape == (26, 26) and abs(r.sum()) < 1e-9
    assert sharpness(x.to(device)) == pytest.approx((r**2).sum() / 676, rel=1e-12)
    assert sharpness(x.to(device)) == pytest.approx(r.var(), rel=1e-12)


def _valid_laplacian_by_hand(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    out = np.zeros((h - 2, w - 2))
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            around = image[i - 1, j] + image[i + 1, j] + image[i, j - 1] + image[i, j + 1]
            out[i - 1, j - 1] = around - 4 * image[i, j]
    return out


def test_sharpness_refuses_other_ranges():
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        sharpness(torch.rand(2, 1, 8, 8) * 2 - 1)
    with pytest.raises(ValueError, match="float"):
        sharpness(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\) channels"):
        sharpness(torch.zeros(2, 2, 8, 8))


# ---------------------------------------------------------------- importance-sampled log-likelihood


class LinearGaussian(torch.nn.Module):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s² I), so p(x) = N(b, WWᵀ + s² I). q(z|x): posterior, variance scaled."""

    def __init__(self, q_scale: float = 1.0):
        super().__init__()
        self.W = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)  # orthogonal columns
        self.b = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
        self.s2, self.q_scale = 0.25, q_scale

    def encode(self, x):
        v = x.flatten(1) - self.b
        precision = 1 + (self.W**2).sum(0) / self.s2  # diagonal because W's columns are orthogonal
        mu = v @ self.W / self.s2 / precision
        logvar = torch.log(self.q_scale / precision).expand_as(mu)
        return mu, logvar

    def log_px_given_z(self, x, z):
        mean = z @ self.W.T + self.b
        return log_normal_diag(x.flatten(1), mean, torch.full_like(mean, math.log(self.s2)))

    def exact_log_px(self, x):
        cov = self.W @ self.W.T + self.s2 * torch.eye(3, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x.flatten(1))


def _points(n=64):
    return torch.randn(n, 1, 1, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2


def test_exact_posterior_gives_exact_likelihood_for_any_k():
    model, x = LinearGaussian(), _points()
    result = importance_sampled_log_likelihood(model, x, k=3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(result.per_image, model.exact_log_px(x), rtol=0, atol=1e-9)


def test_estimate_is_a_lower_bound_that_converges_with_k():
    model, x = LinearGaussian(q_scale=3.0), _points()
    exact = model.exact_log_px(x).mean().item()
    gen = torch.Generator().manual_seed(2)
    k1 = importance_sampled_log_likelihood(model, x, k=1, generator=gen).mean
    k1000 = importance_sampled_log_likelihood(model, x, k=1000, batch_size=4096, generator=gen)
    assert k1 < k1000.mean - 0.1  # the ELBO is clearly looser
    assert k1000.mean <= exact + 0.02  # Jensen: a lower bound in expectation (margin: Monte-Carlo noise)
    assert k1000.mean == pytest.approx(exact, abs=0.02)
    assert k1000.per_image.shape == (64,) and k1000.k == 1000


def test_a_cpu_generator_gives_the_same_draws_on_every_device(device):
    """ε is drawn on the generator's device and moved: a CPU generator works with a model on ``device``
    and gives the very weights it gives on the CPU (log p(x|z) = Σ z makes the weights depend on the draws)."""
    from gm_lib.metrics.likelihood import importance_weights

    class SumOfZ:
        def log_px_given_z(self, x, z):
            return z.sum(1)

    def weights(on):
        mu, logvar = torch.zeros(4, 2, device=on), torch.zeros(4, 2, device=on)
        x = torch.zeros(4, 1, 1, 1, device=on)
        return importance_weights(SumOfZ(), x, mu, logvar, k=5, generator=torch.Generator().manual_seed(0))

    on_device, on_cpu = weights(device), weights("cpu")
    assert on_device.shape == (4, 5) and on_device.device.type == device
    assert on_cpu.std() > 0.1  # the draws matter
    torch.testing.assert_close(on_device.cpu(), on_cpu, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- domain classifiers


@pytest.mark.data
def test_domain_classifier_trains_through_the_engine_on_labels(tmp_path, mnist_root):
    """The engine hands a classifier ``(x, y)``: 60 steps on 1,024 digits fit them far above chance (10 %),
    and the run is checkpointed like any other (so a killed classifier training resumes)."""
    from gm_lib.checkpoint import CHECKPOINT_NAME
    from gm_lib.data import load_dataset
    from gm_lib.metrics.classifiers import Classifier, ClassifierConfig, evaluate_accuracy
    from gm_lib.train import set_seed, train
    from gm_lib.train_config import TrainConfig

    data = load_dataset("mnist", "train", n=1024)
    set_seed(0)
    model = Classifier(ClassifierConfig(), data.shape)
    config = TrainConfig(steps=60, batch_size=64, log_every=10, device="cpu", precision="fp32", lr_schedule="cosine")
    history = train(model, data, config, tmp_path, progress=False)
    assert history.steps[-1]["loss"] < history.steps[0]["loss"] / 2
    assert evaluate_accuracy(model, data.images, data.labels) > 0.8
    assert (tmp_path / CHECKPOINT_NAME).is_file()
