"""DCGAN-style convolutional networks for 28×28, 32×32 and 64×64 images, and a small MLP.

Every autoencoder (VAE, WAE, latent-critic VAE) uses the same :class:`Encoder` and
:class:`Decoder`, and the GAN generator is the same :class:`Decoder`, so the families are
compared at equal capacity. Architecture after Radford et al. (2016, DCGAN): stride-2
4×4 convolutions, LeakyReLU(0.2) on the way down, BatchNorm + ReLU on the way up.

``hidden > 0`` adds one fully connected layer of that many units between the latent code and the
bottom feature map (Decoder) and between the features and the score (Critic): the InfoGAN-size nets
of Chen et al. (2016, App. C.1) that Lucic et al. (2018) use on (Fashion-)MNIST are ``width=64,
hidden=1024``. Autoencoders keep ``hidden=0``.

Spatial pyramids (``width`` = channels of the first conv, doubled each stage):
    28×28: 28 → 14 → 7          (2 stride-2 stages)
    32×32: 32 → 16 → 8 → 4      (3 stride-2 stages)
    64×64: 64 → 32 → 16 → 8 → 4 (4 stride-2 stages; CelebA as in the WAE paper, whose DCGAN-style
           nets have four stride-2 convolutions, 128 → 1024 channels; ``width=128`` gives those)

Outputs are pre-activation: the Decoder returns logits (apply ``sigmoid`` for [0, 1] or
``tanh`` for [-1, 1]); the Critic returns one unbounded score per image (no sigmoid).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

__all__ = ["Encoder", "Decoder", "conv_stages", "down_body"]

ImageShape = tuple[int, int, int]
# Image side -> number of stride-2 stages; the bottom map is side / 2**stages (7 or 4).
_STAGES = {28: 2, 32: 3, 64: 4}


def conv_stages(image_shape: ImageShape) -> tuple[int, int]:
    """``(number of stride-2 stages, bottom spatial size)`` for an image shape ``(C, H, W)``.

    Raises:
        ValueError: if the shape is not square with a side in ``_STAGES`` (28, 32 or 64).
    """
    if len(image_shape) != 3 or image_shape[1] != image_shape[2] or image_shape[1] not in _STAGES:
        sides = ", ".join(f"(C, {s}, {s})" for s in _STAGES)
        raise ValueError(f"image_shape={image_shape} unsupported; use one of {sides}")
    n = _STAGES[image_shape[1]]
    return n, image_shape[1] // 2**n



def down_body(image_shape: ImageShape, width: int, norm: Literal["batch", "none"]) -> tuple[nn.Sequential, int]:
    """Stride-2 conv stack ``(B, C, H, W) -> (B, F)``; returns the module and F."""
    n, bottom = conv_stages(image_shape)
    layers: list[nn.Module] = []
    channels = image_shape[0]
    for i in range(n):
        out = width * 2**i
        layers.append(nn.Conv2d(channels, out, 4, stride=2, padding=1, bias=(norm == "none" or i == 0)))
        # DCGAN: no BatchNorm on the first discriminator layer.
        if norm == "batch" and i > 0:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.LeakyReLU(0.2))
        channels = out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), channels * bottom * bottom



class Encoder(nn.Module):
    """Image to vector: ``(B, C, H, W)`` in any range → ``(B, out_dim)`` (no output activation).

    A VAE uses ``out_dim = 2 * latent_dim`` (mean and log-variance), a WAE ``latent_dim``.
    No normalisation layers, so per-sample codes do not depend on the rest of the batch.
    ``hidden > 0`` adds a ``Linear(features, hidden)`` + LeakyReLU before the output (mirrors the Decoder).
    """

    def __init__(self, image_shape: ImageShape, out_dim: int, width: int = 32, hidden: int = 0):
        super().__init__()
        self.body, features = down_body(image_shape, width, "none")
        self.head: nn.Module = nn.Linear(features, out_dim)
        if hidden:
            self.head = nn.Sequential(nn.Linear(features, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))



class Decoder(nn.Module):
    """Latent to image logits: ``(B, latent_dim)`` → ``(B, C, H, W)`` pre-activation.

    Mirror of :class:`Encoder` (linear to the bottom feature map, then stride-2 transposed
    convolutions with BatchNorm + ReLU); also the GAN generator. ``hidden > 0`` puts a
    ``Linear(latent_dim, hidden)`` + BatchNorm + ReLU first (InfoGAN's generator).
    """

    def __init__(self, image_shape: ImageShape, latent_dim: int, width: int = 32, hidden: int = 0):
        super().__init__()
        n, bottom = conv_stages(image_shape)
        channels = width * 2 ** (n - 1)
        fc: list[nn.Module] = []
        if hidden:
            fc = [nn.Linear(latent_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        self.stem = nn.Sequential(
            *fc,
            nn.Linear(hidden or latent_dim, channels * bottom * bottom, bias=False),
            nn.Unflatten(1, (channels, bottom, bottom)),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        for i in reversed(range(n - 1)):
            out = width * 2**i
            layers += [nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        layers.append(nn.ConvTranspose2d(channels, image_shape[0], 4, 2, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.stem(z))
