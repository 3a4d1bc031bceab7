"""gm_lib.nets: the stride-2 pyramids per image size, checked layer by layer."""

import pytest
import torch
from torch import nn

from gm_lib.nets import Critic, Decoder, Encoder, conv_stages


@pytest.mark.parametrize(("shape", "stages"), [((1, 28, 28), (2, 7)), ((3, 32, 32), (3, 4)), ((3, 64, 64), (4, 4))])
def test_conv_stages_halve_down_to_the_bottom_map(shape, stages):
    assert conv_stages(shape) == stages


def _spatial_sizes(module: nn.Module, layer: type, run) -> list[tuple[int, ...]]:
    """Output shapes of every ``layer`` in ``module`` during ``run()``."""
    shapes, hooks = [], []
    for m in module.modules():
        if isinstance(m, layer):
            hooks.append(m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape))))
    with torch.no_grad():
        run()
    for hook in hooks:
        hook.remove()
    return shapes


def test_64x64_nets_have_four_stride_2_stages():
    # The WAE paper's CelebA nets: 64 → 32 → 16 → 8 → 4 down, 4 → 8 → 16 → 32 → 64 up; channels double per stage.
    shape, width, batch = (3, 64, 64), 8, 2
    x = torch.rand(batch, *shape)
    encoder = Encoder(shape, out_dim=128, width=width)
    down = _spatial_sizes(encoder, nn.Conv2d, lambda: encoder(x))
    assert down == [(batch, 8, 32, 32), (batch, 16, 16, 16), (batch, 32, 8, 8), (batch, 64, 4, 4)]
    assert encoder(x).shape == (batch, 128)
    decoder = Decoder(shape, latent_dim=64, width=width)
    z = torch.randn(batch, 64)
    up = _spatial_sizes(decoder, nn.ConvTranspose2d, lambda: decoder(z))
    assert up == [(batch, 32, 8, 8), (batch, 16, 16, 16), (batch, 8, 32, 32), (batch, 3, 64, 64)]
    assert decoder.eval()(z).shape == (batch, *shape)
    assert Critic(shape, width=width)(x).shape == (batch,)


def test_unsupported_image_size_names_the_supported_ones():
    with pytest.raises(ValueError, match=r"\(3, 48, 48\) unsupported; use one of .*\(C, 64, 64\)"):
        Encoder((3, 48, 48), out_dim=4)
