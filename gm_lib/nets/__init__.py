"""Networks: DCGAN-style encoders, decoders (= GAN generators) and critics, and a small MLP.

``conv`` holds the encoder and decoder every family shares, ``critic`` the GANs' image critic and ``mlp``
the fully connected nets; one module each, so editing one retrains only the runs that use it.
"""

from gm_lib.nets.conv import Decoder, Encoder, conv_stages
from gm_lib.nets.critic import Critic
from gm_lib.nets.mlp import MLP

__all__ = ["Encoder", "Decoder", "Critic", "MLP", "conv_stages"]
