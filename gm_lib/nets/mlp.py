"""A small fully connected network: latent critics, the WAE-GAN adversary, the toy's critics."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected net ``(B, in_dim)`` → ``(B, out_dim)``; ``depth`` hidden layers of
    ``hidden`` units with LeakyReLU(0.2) and no normalisation (safe under gradient penalties).
    ``out_dim == 1`` still returns ``(B, 1)``; squeeze at the call site."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 256, depth: int = 2):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth={depth} must be >= 0")
        layers: list[nn.Module] = []
        size = in_dim
        for _ in range(depth):
            layers += [nn.Linear(size, hidden), nn.LeakyReLU(0.2)]
            size = hidden
        layers.append(nn.Linear(size, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
