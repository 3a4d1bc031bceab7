"""Where an answer plugs in: small runs that use the student's function beside gm_lib's, so a wrong
answer is seen, not only reported. Each takes seconds, draws from its own ``torch.Generator`` inside
``torch.random.fork_rng`` (the notebook's random streams are untouched) and records nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from gm_lib.losses import dcgan_discriminator_loss, dcgan_generator_loss, mmd_unbiased
from gm_lib.metrics.likelihood import importance_weights

__all__ = ["demo_mmd", "demo_log_mean_exp", "demo_generator_loss"]


def _flow(mmd: Callable[[Tensor, Tensor], Tensor], steps: int, n: int, seed: int) -> tuple[Tensor, float]:
    """Codes ``(n, 2)`` moved by Adam to minimise ``mmd(codes, prior draws)``, and gm_lib's MMD² of the result."""
    rng = torch.Generator().manual_seed(seed)
    z = (0.3 * torch.randn(n, 2, generator=rng) + 2.5).requires_grad_(True)  # codes far from the prior
    optimizer = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        loss = mmd(z, torch.randn(n, 2, generator=rng))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    codes = z.detach()
    return codes, float(mmd_unbiased(codes, torch.randn(2000, 2, generator=rng), "imq"))


def demo_mmd(answer: Callable[[Tensor, Tensor], Tensor], steps: int = 300, n: int = 200, seed: int = 0) -> Figure:
    """A WAE's latent penalty at work: 200 codes in 2-D, started at N(2.5, 0.3²), are moved by gradient
    descent on MMD²(codes, prior draws) for ``steps`` Adam steps, once with ``answer`` and once with
    :func:`gm_lib.losses.mmd_unbiased` (IMQ). Panel titles give gm_lib's MMD² of the final codes against
    2,000 prior draws (≈ 0 when they match the prior). ~2 s on one CPU core. A biased estimate (diagonal kept)
    moves the codes almost as the unbiased one does, since k(z, z) is constant: its check catches it, not this
    picture; a wrong C, kernel or sign leaves the codes visibly off the prior.
    """
    runs: dict[str, tuple[Tensor, float] | str] = {}
    with torch.random.fork_rng(devices=[]):
        for label, mmd in [("your MMD²", answer), ("gm_lib's mmd_unbiased", lambda x, y: mmd_unbiased(x, y))]:
            try:
                runs[label] = _flow(mmd, steps, n, seed)
            except NotImplementedError:
                runs[label] = "not answered yet"
            except Exception as error:  # shown in the panel: the demo must not hide the chapter
                runs[label] = f"{type(error).__name__}: {error}"[:80]
        prior = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed + 1))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), sharex=True, sharey=True)
    axes[0].scatter(prior[:, 0], prior[:, 1], s=6, c="grey")
    axes[0].set_title("prior N(0, I)")
    for ax, (label, run) in zip(axes[1:], runs.items(), strict=True):
        if isinstance(run, str):
            ax.text(0.5, 0.5, run, ha="center", va="center", wrap=True, transform=ax.transAxes)
        else:
            codes, final = run
            ax.scatter(codes[:, 0], codes[:, 1], s=6)
            ax.set_title(f"{label}\nMMD² to the prior {final:.4f}" if math.isfinite(final) else f"{label}: NaN")
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
    for ax in axes:
        ax.set_xlabel("z₁")
    axes[0].set_ylabel("z₂")
    fig.suptitle(f"Codes after {steps} steps of descent on MMD² (start: N(2.5, 0.3²))")
    fig.tight_layout()
    return fig


def demo_log_mean_exp(answer: Callable[[Tensor], Tensor], model, x: Tensor, k: int = 1000,
                      seed: int = 0) -> pd.DataFrame:
    """The trained model's importance-sampled log p(x) (nats) of the images ``x`` ``(B, C, H, W)``, from one
    set of ``k`` log weights per image, by ``answer`` and by gm_lib's reduction (double-precision logsumexp).

    Returns one row per image: ``your log p(x)``, ``gm_lib's log p(x)`` and the ELBO of the same draws (the
    mean log weight), all nats. ~1 s for 8 images at K = 1,000 on the CPU.
    """
    from gm_lib.exercises.vae import reference_log_mean_exp

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        x = x.to(model.device)
        mu, logvar = model.encode(x)
        log_w = importance_weights(model, x, mu, logvar, k, torch.Generator().manual_seed(seed)).cpu()  # (B, k)
        try:
            yours = [float(v) for v in answer(log_w)]
        except NotImplementedError:
            yours = [float("nan")] * len(x)
        reference = reference_log_mean_exp(log_w)
    return pd.DataFrame({"your log p(x)": yours, "gm_lib's log p(x)": reference.tolist(),
                         "ELBO of the same draws": log_w.mean(1).tolist()}).round(2)


def _gan_1d(generator_loss: Callable[[Tensor], Tensor], steps: int, seed: int) -> Tensor:
    """A 1-D GAN: data N(2, 0.5²), generator z ↦ 0.5·z + b (only the shift b learns, from b = −2), a discriminator
    logistic in (x, x²) first trained 100 steps to reject the fakes; then one discriminator step (Adam) and one
    generator step per step. The generator takes plain SGD steps, so the size of its gradient shows: Adam would
    rescale a vanishing gradient and hide the saturation. Returns 2,000 generator samples ``(2000,)``."""
    rng = torch.Generator().manual_seed(seed)
    shift = torch.tensor(-2.0, requires_grad=True)
    disc = torch.zeros(3, requires_grad=True)  # (w1, w2, c)
    opt_g, opt_d = torch.optim.SGD([shift], lr=0.02), torch.optim.Adam([disc], lr=0.05)
    logits = lambda x: disc[0] * x + disc[1] * x**2 + disc[2]
    fake = lambda n: 0.5 * torch.randn(n, generator=rng) + shift
    for step in range(100 + steps):  # the first 100 train only the discriminator: it rejects the fakes
        real = 2.0 + 0.5 * torch.randn(256, generator=rng)
        d_loss = dcgan_discriminator_loss(logits(real), logits(fake(256).detach()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if step >= 100:
            g_loss = generator_loss(logits(fake(256)))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
    with torch.no_grad():
        return fake(2000)


def demo_generator_loss(answer: Callable[[Tensor], Tensor], steps: int = 300, seed: int = 0) -> Figure:
    """Your generator loss in a 1-D GAN beside :func:`gm_lib.losses.dcgan_generator_loss`: the fakes start at
    N(−2, 0.5²), the data is N(2, 0.5²), and the discriminator already rejects the fakes, the regime where the
    saturating loss log(1 − D(G(z))) gives the generator almost no gradient (the generator takes SGD steps, see
    :func:`_gan_1d`). Histograms of 2,000 samples after ``steps`` steps; ~1 s.
    """
    with torch.random.fork_rng(devices=[]):
        data = 2.0 + 0.5 * torch.randn(2000, generator=torch.Generator().manual_seed(seed + 1))
        panels: dict[str, Tensor | str] = {}
        for label, loss in [("your generator loss", answer), ("gm_lib's dcgan_generator_loss", dcgan_generator_loss)]:
            try:
                panels[label] = _gan_1d(loss, steps, seed)
            except NotImplementedError:
                panels[label] = "not answered yet"
            except Exception as error:  # shown in the panel: the demo must not hide the chapter
                panels[label] = f"{type(error).__name__}: {error}"[:80]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharex=True, sharey=True)
    bins = torch.linspace(-5, 5, 61)
    for ax, (label, samples) in zip(axes, panels.items(), strict=True):
        ax.hist(data.numpy(), bins=bins.numpy(), alpha=0.5, color="grey", label="data N(2, 0.5²)")
        if isinstance(samples, str):
            ax.text(0.5, 0.6, samples, ha="center", va="center", wrap=True, transform=ax.transAxes)
        else:
            ax.hist(samples.clamp(-5, 5).numpy(), bins=bins.numpy(), alpha=0.6, label="generator samples")
        ax.set_title(label)
        ax.set_xlabel("x")
    axes[0].set_ylabel("count")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"1-D GAN after {steps} generator steps (fakes start at N(−2, 0.5²), rejected by the discriminator)")
    fig.tight_layout()
    return fig
