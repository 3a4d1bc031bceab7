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


# ---------------------------------------------------------------- classifiers


def test_knn_accuracy_separable_codes():
    from gm_lib.metrics.classifiers import knn_accuracy

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    z = rng.normal(size=(300, 2)) * 0.1 + y[:, None]
    assert knn_accuracy(z[:200], y[:200], z[200:], y[200:]) == 1.0


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("dataset, minimum", [("mnist", 0.99), ("fashion_mnist", 0.90)])
def test_classifier_accuracy_and_coverage(dataset, minimum, mnist_root, fashion_root):
    from gm_lib.data import load_dataset
    from gm_lib.metrics.classifiers import class_coverage, classifier_frechet_distance, get_classifier

    classifier = get_classifier(dataset)  # trains once (~1-2 min), then loads from the cache
    assert classifier.test_accuracy >= minimum
    test = load_dataset(dataset, "test", n=2000)
    balanced = class_coverage(classifier, test.images)
    assert balanced.n_covered == 10 and balanced.kl_to_uniform < 0.01
    ones = test.images[test.labels == 1]
    collapsed = class_coverage(classifier, ones)
    assert collapsed.n_covered <= 2 and collapsed.kl_to_uniform > 1.5
    real_a, real_b = test.images[:1000], test.images[1000:]
    assert classifier_frechet_distance(classifier, real_a, real_b) < classifier_frechet_distance(
        classifier, real_a, torch.rand(1000, *test.shape))


def test_classifier_metrics_take_samples_from_any_device(device):
    """A classifier on ``device`` scores samples from the CPU or ``device`` alike (notebook 03 on CUDA)."""
    from gm_lib.metrics.classifiers import (
        Classifier,
        ClassifierConfig,
        class_coverage,
        classifier_features,
        evaluate_accuracy,
    )

    torch.manual_seed(0)
    classifier = Classifier(ClassifierConfig(), (1, 28, 28)).to(device).eval()
    x = torch.rand(40, 1, 28, 28)
    labels = classifier(x.to(device)).argmax(1)
    for images in (x, x.to(device)):
        coverage = class_coverage(classifier, images, batch_size=16)
        assert coverage.histogram.sum() == pytest.approx(1.0)
        features = classifier_features(classifier, images, batch_size=16)
        assert features.shape == (40, ClassifierConfig().hidden) and features.dtype == np.float64
        assert evaluate_accuracy(classifier, images, labels, batch_size=16) == 1.0  # its own predictions
