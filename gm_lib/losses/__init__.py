"""Loss functions as pure tensor maths (no modules, devices or data).

Conventions: ``B`` is the batch size; log-likelihoods and KLs are in nats per image
(summed over pixels / latent dimensions, not averaged); every function computes in float32
even under a bfloat16 autocast, because sums over 784+ terms lose precision in bf16.

One module per family of terms, so that editing one family's maths changes only the cache keys of the
runs that use it (:mod:`gm_lib.code_graph`): ``elbo`` (VAE), ``mmd`` (WAE-MMD), ``adversarial`` (DCGAN,
WAE-GAN), ``wasserstein`` (WGAN, WGAN-GP, the latent critic, the toy) and ``fgan`` (the toy's Hellinger bound).
"""

from gm_lib.losses.adversarial import dcgan_discriminator_loss, dcgan_generator_loss
from gm_lib.losses.elbo import bernoulli_log_likelihood, gaussian_kl, gaussian_log_likelihood
from gm_lib.losses.fgan import fgan_hellinger_bound, hellinger_activation, hellinger_conjugate
from gm_lib.losses.mmd import MMD_SCALES, mmd_unbiased
from gm_lib.losses.wasserstein import clip_weights, gradient_penalty, wgan_critic_loss, wgan_generator_loss

__all__ = [
    "gaussian_kl",
    "bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "MMD_SCALES",
    "mmd_unbiased",
    "dcgan_discriminator_loss",
    "dcgan_generator_loss",
    "wgan_critic_loss",
    "wgan_generator_loss",
    "clip_weights",
    "gradient_penalty",
    "hellinger_activation",
    "hellinger_conjugate",
    "fgan_hellinger_bound",
]
