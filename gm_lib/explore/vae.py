"""Notebook 01's explorer: one test digit under the VAE, its posterior draws, a walk along its code, its bounds."""

from __future__ import annotations

from functools import cache

import torch
from torch import Tensor

from gm_lib.explore.core import Control, Explorer
from gm_lib.explore.drawing import compose_rows, encode_png, format_table, slider_offsets

__all__ = ["vae_explorer"]


def vae_explorer(model, x: Tensor, k: int = 1000, dims: int = 4, n_samples: int = 6, seed: int = 0) -> Explorer:
    """Notebook 01: a test digit, its reconstruction, samples from q(z|x), and sliders walking z[0..dims-1].

    Beside it the digit's −ELBO (nats; reconstruction term averaged over 64 draws of q(z|x), KL exact) and
    its importance-sampled NLL with ``k`` samples (Burda et al. 2016, eq. 8), computed once per digit.

    Args:
        model: a trained :class:`gm_lib.models.VAE` (``encode``, ``decode``, ``log_px_given_z``).
        x: test images ``(N, 1, 28, 28)`` in ``[0, 1]`` (any device; moved to the model's).
        k: importance samples for the NLL.
        dims: how many leading latent coordinates get a slider (offset ε in [−4, 4] added to μ(x)).
    """
    from gm_lib.losses import gaussian_kl
    from gm_lib.metrics.likelihood import importance_sampled_log_likelihood

    dims = min(dims, model.latent_dim)

    @cache
    def digit(index: int):
        xi = x[index : index + 1].to(model.device)  # (1, C, H, W)
        generator = torch.Generator(device=model.device).manual_seed(seed)
        with torch.no_grad():
            mu, logvar = model.encode(xi)  # (1, d) each
            eps = torch.randn(64, mu.shape[1], generator=generator, device=model.device)  # (64, d)
            z = mu + torch.exp(0.5 * logvar) * eps
            reconstruction = -model.log_px_given_z(xi.expand(64, -1, -1, -1), z).mean().item()
            kl = gaussian_kl(mu, logvar).item()
            nll = -importance_sampled_log_likelihood(model, xi, k=k, generator=generator).mean
            samples = model.decode(z[:n_samples])
        return xi, mu, samples, reconstruction, kl, nll

    def draw(values):
        xi, mu, samples, reconstruction, kl, nll = digit(values["index"])
        shift = torch.tensor([[values[f"z{i}"] for i in range(dims)]], device=mu.device)
        walked = mu.clone()
        walked[:, :dims] += shift
        with torch.no_grad():
            pair = torch.cat([xi, model.decode(mu), model.decode(walked)])
        image = compose_rows([("digit, decoded mean,\nwalked code", pair),
                              (f"{n_samples} draws of\nz ~ q(z|x)", samples)])
        text = format_table([("test digit", values["index"]), ("−ELBO (nats)", f"{reconstruction + kl:.2f}"),
                             ("  reconstruction", f"{reconstruction:.2f}"), ("  KL", f"{kl:.2f}"),
                             (f"NLL, K = {k} (nats)", f"{nll:.2f}"),
                             ("walked", ", ".join(f"z[{i}] {values[f'z{i}']:+g}" for i in range(dims)))])
        return encode_png(image), text

    controls = [Control("index", "test digit", list(range(len(x))), 0)]
    controls += [Control(f"z{i}", f"offset on z[{i}]", slider_offsets(), 0.0) for i in range(dims)]
    return Explorer("VAE explorer: one test digit, its posterior and a walk along its first coordinates",
                    controls, draw)
