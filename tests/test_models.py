"""Model families: an exact ELBO bound, learning on real MNIST batches, shapes and ranges.

Plain for-loops over ``training_step`` (no dependence on the training engine). One thread:
these nets are tiny and the CI box is a shared 2-core CPU.
"""

import math

import pytest
import torch

from gm_lib.data import load_dataset
from gm_lib.models import GAN, VAE, WAE, GANConfig, LatentCriticVAEConfig, VAEConfig, WAEConfig
from gm_lib.models.gan import gan_losses

AE_CONFIGS = {
    "vae_bernoulli": VAEConfig(),
    "vae_gaussian": VAEConfig(likelihood="gaussian"),
    "wae_mmd_rbf": WAEConfig(penalty="mmd_rbf"),
    "wae_mmd_imq": WAEConfig(penalty="mmd_imq"),
    "wae_gan": WAEConfig(penalty="gan"),
    "latent_critic": LatentCriticVAEConfig(),
}
GAN_CONFIGS = {loss: GANConfig(loss=loss) for loss in gan_losses()}  # every loss family, a new one included

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mnist_batches():
    """A function returning a fresh reproducible stream of 32-image MNIST batches in [0, 1]."""
    from gm_lib.paths import data_root

    if not (data_root() / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        pytest.skip(f"MNIST mirror not found under {data_root()}: set GM_DATA_DIR=/work/shared/data")
    dataset = load_dataset("mnist", "train", n=2048)

    def make(seed: int = 0):
        stream = dataset.stream(32, seed=seed)
        return lambda: next(stream)[0]

    return make


def _train(model, next_batch, steps: int) -> list[dict[str, float]]:
    torch.manual_seed(0)
    optimizers = model.configure_optimizers()
    return [{k: v.item() for k, v in model.training_step(next_batch, optimizers).items()} for _ in range(steps)]


def _mean(history, key, part):
    values = [h[key] for h in part(history)]
    return sum(values) / len(values)


first = lambda h: h[:5]
last = lambda h: h[-5:]


# ---------------------------------------------------------------- the ELBO is a bound


def _exact_by_quadrature(model: VAE, x: torch.Tensor) -> tuple[float, float]:
    """``(−log p(x), −ELBO)`` for a 1-D latent by quadrature on a fine grid over [−8, 8].

    −log p(x) = −log ∫ p(x|z) N(z; 0, 1) dz and −ELBO = ∫ q(z|x) [log q(z|x) − log p(x|z) − log p(z)] dz,
    both from densities only (independent of the model's analytic KL and its sampler).
    """
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64).unsqueeze(1)
    dz = (z[1] - z[0]).item()
    log_px_z = torch.cat(
        [model.log_px_given_z(x.expand(len(c), -1, -1, -1), c.float()) for c in z.split(2000)]
    ).double()
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z.squeeze(1))
    nll = -(torch.logsumexp(log_px_z + log_prior, 0) + math.log(dz)).item()
    mu, logvar = (t.double().squeeze() for t in model.encode(x))
    log_q = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z.squeeze(1))
    neg_elbo = (log_q.exp() * (log_q - log_px_z - log_prior)).sum().item() * dz
    return nll, neg_elbo


@pytest.mark.data
def test_negative_elbo_is_exact_and_upper_bounds_exact_nll(mnist_batches):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=1, width=8))
    _train(model, lambda: torch.bernoulli(mnist_batches()()), 30)  # an informative, imperfect posterior
    model.eval()  # BatchNorm from running statistics: p(x|z) must not depend on the batch
    with torch.no_grad():  # the bound holds for any q; a shifted, narrow q makes KL(q ‖ p) ≈ 2 nats, so errors show
        model.encoder.head.bias += torch.tensor([1.5, -3.0])
    x = torch.bernoulli(mnist_batches(seed=1)()[:2])
    with torch.no_grad():
        for image in x:
            image = image.unsqueeze(0)
            repeats = image.expand(2000, -1, -1, -1)  # one reparameterized z per row: a 2000-sample MC ELBO
            per_sample = -model.log_px_given_z(repeats, model.reparameterize(*model.encode(repeats)))
            per_sample = per_sample + model.losses(image)["kl"]  # the model's analytic KL
            model_neg_elbo, stderr = per_sample.mean().item(), per_sample.std().item() / math.sqrt(len(per_sample))
            nll, exact_neg_elbo = _exact_by_quadrature(model, image)
            assert model_neg_elbo == pytest.approx(exact_neg_elbo, abs=4 * stderr + 0.05)
            assert exact_neg_elbo >= nll  # Jensen: the gap is KL(q(z|x) ‖ p(z|x)) ≥ 0
            assert model_neg_elbo - nll < 50  # a bound, not a bug: the gap stays modest


# ---------------------------------------------------------------- each family learns


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(AE_CONFIGS))
def test_autoencoder_reconstruction_improves(name, mnist_batches):
    torch.manual_seed(0)
    model = AE_CONFIGS[name].build()
    history = _train(model, mnist_batches(), 40)
    assert all(math.isfinite(v) for h in history for v in h.values())
    before, after = _mean(history, "reconstruction", first), _mean(history, "reconstruction", last)
    assert after < 0.9 * before, (before, after)  # all these costs start positive (hundreds of nats / ~10)
    if not name.startswith("wae"):  # the VAE-style objective goes down too (WAE penalties may rise early)
        assert _mean(history, "loss", last) < _mean(history, "loss", first)


@pytest.mark.data
def test_dcgan_discriminator_learns_to_separate(mnist_batches):
    torch.manual_seed(0)
    history = _train(GAN_CONFIGS["dcgan"].build(), mnist_batches(), 30)
    # 2 ln 2 = 1.386 is the loss of a discriminator that cannot tell real from fake.
    assert _mean(history, "critic", last) < 2 * math.log(2) - 0.2


@pytest.mark.data
def test_wgan_weights_stay_clipped_and_estimate_grows(mnist_batches):
    torch.manual_seed(0)
    model = GAN_CONFIGS["wgan"].build()
    history = _train(model, mnist_batches(), 15)
    c = model.config.clip
    assert all(p.abs().max().item() <= c + 1e-7 for p in model.critic.parameters())
    assert _mean(history, "wasserstein", last) > _mean(history, "wasserstein", first)


@pytest.mark.data
def test_wgan_gp_wasserstein_estimate_grows_from_zero(mnist_batches):
    torch.manual_seed(0)
    history = _train(GAN_CONFIGS["wgan_gp"].build(), mnist_batches(), 12)
    assert abs(history[0]["wasserstein"]) < 1.0
    assert _mean(history, "wasserstein", last) > history[0]["wasserstein"] + 1.0
    assert all(h["gradient_penalty"] >= 0 for h in history)


# ---------------------------------------------------------------- contracts, shapes, autocast


ALL_CONFIGS = {
    **AE_CONFIGS,
    **{f"gan_{k}": v for k, v in GAN_CONFIGS.items()},
    "wae_gaussian_encoder": WAEConfig(encoder="gaussian"),
    "vae_gaussian_fixed_sigma": VAEConfig(likelihood="gaussian", sigma="fixed"),
}


@pytest.mark.parametrize("name", sorted(ALL_CONFIGS))
def test_rgb_32_shapes_range_and_bf16_autocast(name):
    from dataclasses import replace

    torch.manual_seed(0)
    model = replace(ALL_CONFIGS[name], image_shape=(3, 32, 32)).build()
    optimizers = model.configure_optimizers()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = model.training_step(lambda: torch.rand(8, 3, 32, 32), optimizers)
    assert "loss" in terms and all(v.dim() == 0 and torch.isfinite(v) and not v.requires_grad for v in terms.values())
    assert set(terms) >= set(model.evaluation_losses(torch.rand(8, 3, 32, 32)))
    samples = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, 3, 32, 32) and samples.dtype == torch.float32
    assert samples.min() >= 0 and samples.max() <= 1


def test_fixed_sigma_is_not_trained_and_learned_sigma_is():
    fixed, learned = VAEConfig(likelihood="gaussian", sigma="fixed").build(), VAEConfig(likelihood="gaussian").build()
    assert not any(p is fixed.log_sigma for p in fixed.parameters())
    assert any(p is learned.log_sigma for p in learned.parameters())
    optimizers = fixed.configure_optimizers()
    fixed.training_step(lambda: torch.rand(4, 1, 28, 28), optimizers)
    assert fixed.log_sigma.item() == pytest.approx(-2.0)


def test_sampling_is_reproducible_from_a_generator():
    model = VAEConfig().build().eval()
    a, b = (model.sample(4, generator=torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b)


def test_autoencoder_helpers_shapes():
    x = torch.rand(4, 1, 28, 28)
    for config in (VAEConfig(latent_dim=5), WAEConfig(latent_dim=5), LatentCriticVAEConfig(latent_dim=5)):
        model = config.build().eval()
        assert model.embed(x).shape == (4, 5)
        assert model.reconstruct(x).shape == x.shape
        assert model.decode(torch.zeros(2, 5)).shape == (2, 1, 28, 28)
    vae = VAEConfig(latent_dim=5).build()
    assert vae.log_px_given_z(x, torch.zeros(4, 5)).shape == (4,)
    gan = GAN(GANConfig(latent_dim=7))
    assert gan.generate(torch.zeros(2, 7)).abs().max() <= 1 and gan.latent_dim == 7


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="image_shape"):
        VAEConfig(image_shape=(1, 48, 48)).build()
    with pytest.raises(ValueError, match=r"expected images \(B, 1, 28, 28\)"):
        VAEConfig().build().encode(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="penalty"):
        WAE(WAEConfig(penalty="kl"))
    with pytest.raises(ValueError, match="loss"):
        GANConfig(loss="not-a-loss").build()


def test_gan_decode_is_sample_in_unit_range():
    """``decode`` maps noise into [0, 1] exactly as ``sample`` does (latent walks rely on it)."""
    model = GANConfig(loss="wgan_gp").build().eval()
    z = torch.randn(5, model.latent_dim, generator=torch.Generator().manual_seed(0))
    x = model.decode(z)
    assert x.shape == (5, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.allclose(x, (model.generate(z) + 1) / 2)
    assert torch.allclose(model.sample(5, generator=torch.Generator().manual_seed(0)), x)


def test_generator_weight_average_follows_its_formula_and_feeds_sampling():
    """EMA with warm-up β_t = min(β, (1+t)/(10+t)) (Yazıcı et al. 2019); samples come from the average."""
    torch.manual_seed(0)
    model = GANConfig(loss="dcgan", ema_decay=0.9).build()
    optimizers = model.configure_optimizers()
    average = [p.detach().clone() for p in model.generator.parameters()]
    x = torch.rand(8, 1, 28, 28)
    for t in range(1, 4):
        model.training_step(lambda: x, optimizers)
        beta = min(0.9, (1 + t) / (10 + t))
        current = list(model.generator.parameters())
        average = [beta * a + (1 - beta) * p.detach() for a, p in zip(average, current, strict=True)]
    for expected, got in zip(average, model.generator_ema.parameters(), strict=True):
        assert torch.allclose(expected, got, atol=1e-6)
    assert not any(p.requires_grad for p in model.generator_ema.parameters())
    model.eval()
    z = torch.randn(4, model.latent_dim)
    assert torch.allclose(model.decode(z), (torch.tanh(model.generator_ema(z)) + 1) / 2)
    assert not torch.allclose(model.decode(z), (model.generate(z) + 1) / 2)  # not the trained generator's samples
    with pytest.raises(ValueError, match="ema_decay"):
        GANConfig(ema_decay=1.0).build()


def test_ttur_sets_the_critic_learning_rate_apart_and_paper_defaults_are_named():
    ttur = GANConfig(loss="wgan_gp", n_critic=1, critic_lr=3e-4).build().configure_optimizers()
    assert ttur["critic"].param_groups[0]["lr"] == 3e-4 and ttur["generator"].param_groups[0]["lr"] == 1e-4
    paper = GANConfig(loss="wgan").build().configure_optimizers()
    assert isinstance(paper["critic"], torch.optim.RMSprop) and paper["critic"].param_groups[0]["lr"] == 5e-5
    assert GANConfig(loss="wgan_gp").paper.n_critic == 5 and GANConfig(loss="dcgan").resolved_n_critic == 1


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_infogan_size_nets_have_the_fc_layer_and_keep_shapes(shape):
    """hidden=1024: FC 1024 in generator and critic (Chen et al. 2016, App. C.1), as Lucic et al. (2018) use."""
    gan = GANConfig(image_shape=shape, width=64, hidden=1024, loss="dcgan").build()
    fc = [m for m in gan.generator.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in fc][0] == 1024
    assert gan.critic(torch.rand(3, *shape)).shape == (3,) and gan.generate(torch.randn(3, 64)).shape == (3, *shape)
    vae = VAEConfig(image_shape=shape, width=64, hidden=1024, latent_dim=64).build()
    generator_shapes = [tuple(p.shape) for p in gan.generator.parameters()]
    assert [tuple(p.shape) for p in vae.decoder.parameters()] == generator_shapes  # the same network


@pytest.mark.parametrize("name", [*AE_CONFIGS, *GAN_CONFIGS])
def test_every_family_steps_samples_and_encodes_on_each_device(name, device):
    """Constant tensors, buffers and generators follow the model: one step, samples from a CPU generator, codes."""
    from gm_lib import latent
    from gm_lib.data import DataSpec, ImageDataset

    torch.manual_seed(0)
    model = {**AE_CONFIGS, **GAN_CONFIGS}[name].build().to(device)
    x = torch.rand(8, 1, 28, 28, device=device)
    losses = model.training_step(lambda: x, model.configure_optimizers())
    assert all(value.device.type == device and torch.isfinite(value).all() for value in losses.values())
    samples = model.eval().sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.device.type == device and samples.shape == (4, 1, 28, 28)
    assert 0 <= samples.min() <= samples.max() <= 1
    if name in AE_CONFIGS:
        images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
        data = ImageDataset(DataSpec("mnist", "test", n=10), images, torch.zeros(10, dtype=torch.long))
        z, _ = latent.encode_dataset(model.embed, data, batch_size=4)  # device from the bound module
        z_lambda, _ = latent.encode_dataset(lambda v: model.embed(v), data, batch_size=4, device=device)
        assert z.shape == (10, model.latent_dim) and (z == z_lambda).all()


def test_critic_batchnorm_only_in_dcgan_unless_asked_and_never_under_the_gradient_penalty_by_default():
    def has_batchnorm(config: GANConfig) -> bool:
        return any(isinstance(m, torch.nn.BatchNorm2d) for m in config.build().critic.modules())

    assert has_batchnorm(GANConfig(loss="dcgan")) and has_batchnorm(GANConfig(loss="wgan", critic_norm="batch"))
    assert not has_batchnorm(GANConfig(loss="wgan_gp")) and not has_batchnorm(GANConfig(loss="wgan"))
