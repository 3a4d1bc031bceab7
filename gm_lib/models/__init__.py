"""Model families: each a frozen dataclass config with ``build()`` and a
:class:`~gm_lib.models.base.GenerativeModel` subclass returning its loss terms by name."""

from gm_lib.models.base import BatchFn, GenerativeModel
from gm_lib.models.gan import GAN, GANConfig
from gm_lib.models.latent_critic import LatentCriticVAE, LatentCriticVAEConfig
from gm_lib.models.vae import VAE, VAEConfig
from gm_lib.models.wae import WAE, WAEConfig

__all__ = [
    "BatchFn",
    "GenerativeModel",
    "VAE",
    "VAEConfig",
    "WAE",
    "WAEConfig",
    "LatentCriticVAE",
    "LatentCriticVAEConfig",
    "GAN",
    "GANConfig",
]
