"""The image critic (discriminator) of the GANs: DCGAN-style stride-2 convolutions to one score.

Its own module, so that editing it retrains only the GANs, not the autoencoders that share the
encoder and decoder (:mod:`gm_lib.code_graph`).
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import Tensor, nn

from gm_lib.nets.conv import ImageShape, down_body

__all__ = ["CriticNorm", "Critic"]

# The critic's normalisation layers (the one list of allowed values; GANConfig.critic_norm reads it).
CriticNorm = Literal["batch", "none"]


class Critic(nn.Module):
    """Image to one score: ``(B, C, H, W)`` → ``(B,)`` unbounded (no sigmoid).

    Args:
        norm: ``"batch"`` for the DCGAN discriminator; ``"none"`` for WGAN critics, since
            BatchNorm couples samples and breaks the per-sample gradient penalty
            (Gulrajani et al. 2017, Sec. 4).
        hidden: units of a fully connected layer before the score (0: none; InfoGAN uses 1024).
    """

    def __init__(
        self, image_shape: ImageShape, width: int = 32, norm: CriticNorm = "none", hidden: int = 0
    ):
        super().__init__()
        if norm not in get_args(CriticNorm):
            raise ValueError(f"norm={norm!r} unknown; use one of {get_args(CriticNorm)}")
        self.body, features = down_body(image_shape, width, norm)
        self.head: nn.Module = nn.Linear(features, 1)
        if hidden:
            norm_layer = [nn.BatchNorm1d(hidden)] if norm == "batch" else []
            self.head = nn.Sequential(nn.Linear(features, hidden, bias=norm == "none"), *norm_layer,
                                      nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x)).squeeze(1)
