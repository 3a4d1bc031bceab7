"""Known-answer tests for gm_lib.losses: closed forms, Monte Carlo agreement, exact penalties."""

import math

import pytest
import torch
from torch import nn

from gm_lib.losses import (
    bernoulli_log_likelihood,
    clip_weights,
    dcgan_discriminator_loss,
    dcgan_generator_loss,
    fgan_hellinger_bound,
    gaussian_kl,
    gaussian_log_likelihood,
    gradient_penalty,
    hellinger_activation,
    hellinger_conjugate,
    mmd_unbiased,
    wgan_critic_loss,
    wgan_generator_loss,
)


def test_gaussian_kl_is_zero_for_the_prior():
    assert torch.allclose(gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)), torch.zeros(3))


def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g) * 0.5
    mu64, std = mu.double(), (0.5 * logvar.double()).exp()
    z = mu64 + std * torch.randn(200_000, 3, 4, generator=g, dtype=torch.float64)
    log_q = torch.distributions.Normal(mu64, std).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(gaussian_kl(mu, logvar).double(), mc, atol=0.02, rtol=0.01)


def test_bernoulli_log_likelihood_at_zero_logits_is_minus_d_log2():
    x = torch.randint(0, 2, (2, 1, 28, 28)).float()
    expected = torch.full((2,), -784 * math.log(2))
    assert torch.allclose(bernoulli_log_likelihood(torch.zeros_like(x), x), expected, rtol=1e-5)


def test_gaussian_log_likelihood_matches_torch_normal():
    x, x_hat = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    expected = torch.distributions.Normal(x_hat, math.exp(-1.5)).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_log_likelihood(x_hat, x, -1.5), expected, rtol=1e-5)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_mmd_unbiased_is_zero_for_one_distribution_and_positive_for_a_shift(kernel):
    g = torch.Generator().manual_seed(1)
    same = torch.stack(
        [mmd_unbiased(torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g), kernel) for _ in range(30)]
    )
    shifted = torch.stack(
        [
            mmd_unbiased(torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g) + 1.0, kernel)
            for _ in range(30)
        ]
    )
    standard_error = same.std() / math.sqrt(len(same))
    assert abs(same.mean()) < 4 * standard_error  # unbiased: E = 0 when P = Q
    assert shifted.mean() > 20 * same.std()


def test_mmd_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same d"):
        mmd_unbiased(torch.randn(5, 3), torch.randn(5, 4))


@pytest.mark.parametrize("shape", [(16, 5), (16, 2, 4, 4)])
@pytest.mark.parametrize("norm,expected", [(1.0, 0.0), (2.0, 1.0)])
def test_gradient_penalty_of_a_linear_critic(shape, norm, expected):
    d = math.prod(shape[1:])
    w = torch.randn(d)
    w = w / w.norm() * norm
    critic = lambda x: x.flatten(1) @ w  # ‖∇D‖ = ‖w‖ everywhere
    gp = gradient_penalty(critic, torch.randn(shape), torch.randn(shape))
    assert gp.item() == pytest.approx(expected, abs=1e-5)


def test_gradient_penalty_uses_one_epsilon_per_sample_and_keeps_the_graph():
    seen = {}

    def critic(x):
        seen["x_hat"] = x
        return 0.5 * x.flatten(1).pow(2).sum(1)  # ∇D(x̂) = x̂

    real, fake = torch.ones(64, 3, 4, 4), torch.zeros(64, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake)
    eps = seen["x_hat"].flatten(1)  # x̂ = ε·1 + (1 − ε)·0 = ε
    assert torch.allclose(eps, eps[:, :1].expand_as(eps))  # constant within a sample
    assert eps[:, 0].std() > 0.1  # different across samples
    assert gp.requires_grad  # create_graph=True: trainable through the penalty


def test_dcgan_losses_at_zero_logits():
    zeros = torch.zeros(8)
    assert dcgan_discriminator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert dcgan_generator_loss(zeros).item() == pytest.approx(math.log(2))


def test_wgan_losses():
    real, fake = torch.tensor([3.0, 5.0]), torch.tensor([1.0, 2.0])
    assert wgan_critic_loss(real, fake).item() == pytest.approx(1.5 - 4.0)
    assert wgan_generator_loss(fake).item() == pytest.approx(-1.5)


def test_clip_weights_bounds_every_parameter():
    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100.0)
    clip_weights(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())


def test_hellinger_conjugate_composition_and_bound_limits():
    v = torch.linspace(-3, 3, 13)
    assert torch.allclose(hellinger_conjugate(hellinger_activation(v)), torch.expm1(v), atol=1e-5)
    assert fgan_hellinger_bound(torch.zeros(4), torch.zeros(4)).item() == 0.0
    # disjoint supports: V → +∞ on p, −∞ on q attains the supremum 2
    assert fgan_hellinger_bound(torch.full((4,), 30.0), torch.full((4,), -30.0)).item() == pytest.approx(2.0)
