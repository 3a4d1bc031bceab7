"""Exercises of notebook 04: the unbiased MMD² with an IMQ kernel and the WAE-GAN latent adversary's loss.

References: :func:`gm_lib.losses.mmd_unbiased` (Tolstikhin et al. 2018, Alg. 2; Gretton et al. 2012, eq. 3)
and :func:`gm_lib.losses.dcgan_discriminator_loss` as :meth:`gm_lib.models.WAE.discriminator_loss` uses it
(prior draws are the adversary's "real" class; Tolstikhin et al. 2018, Alg. 1).
"""

from __future__ import annotations

import math

import torch

from gm_lib.exercises.core import Exercise, Property, close, diagnose, gradient_mismatch, grads, is_scalar, register
from gm_lib.losses import MMD_SCALES, dcgan_discriminator_loss, mmd_unbiased

__all__ = ["MMD_IMQ", "ADVERSARY_LOSS"]

# ---------------------------------------------------------------- 04.1 unbiased MMD², IMQ kernel


def _mmd_scalar(answer) -> str | None:
    if not is_scalar(answer(torch.randn(6, 3), torch.randn(6, 3))):
        return "return one number (a 0-dim tensor)"
    return None


def _mmd_unbiased(answer) -> str | None:
    pairs = [(torch.randn(5, 4), torch.randn(5, 4)) for _ in range(300)]  # P = Q: E[MMD²] = 0
    mine = torch.stack([answer(x, y) for x, y in pairs]).detach()
    ref = torch.stack([mmd_unbiased(x, y) for x, y in pairs])
    if mine.mean() - ref.mean() > 5 * ref.std() / math.sqrt(len(pairs)):
        return (f"the diagonal terms are included: this MMD estimate is biased (mean {mine.mean():.3f} over 300 "
                "pairs of samples of the same distribution, where the U-statistic's is ≈ 0); sum k(x_i, x_j) "
                "over i ≠ j and divide by n(n − 1)")
    return None


def _mmd_values(answer) -> str | None:
    d = 8
    for n, m in [(20, 20), (12, 30)]:
        x, y = torch.randn(n, d) + 0.5, torch.randn(m, d)
        ref = mmd_unbiased(x, y, "imq")
        known = {
            "C lacks the d: C = 2·d·σ²·scale (WAE paper's code, mmd_penalty, σ² = 1)":
                mmd_unbiased(x, y, "imq", tuple(s / d for s in MMD_SCALES)),
            "C lacks the 2: C = 2·d·σ²·scale": mmd_unbiased(x, y, "imq", tuple(s / 2 for s in MMD_SCALES)),
            "that is the RBF kernel exp(−‖x − y‖²/C); the inverse multiquadratic one is C/(C + ‖x − y‖²)":
                mmd_unbiased(x, y, "rbf"),
            "one scale only: sum the kernel over all seven scales (0.1, 0.2, 0.5, 1, 2, 5, 10)":
                mmd_unbiased(x, y, "imq", (1.0,)),
        }
        hint = diagnose(answer(x, y), ref, known, f"mmd_unbiased(kernel='imq') at n = {n}, m = {m}")
        if hint and n != m:
            return (f"right for n = m, wrong for n = {n} ≠ m = {m}: normalise the xx term by n(n − 1), the yy "
                    f"term by m(m − 1) and the cross term by n·m ({hint})")
        if hint:
            return hint
    return None


def _mmd_gradients(answer) -> str | None:
    x, y = torch.randn(10, 4, requires_grad=True), torch.randn(14, 4)
    (mine,), (ref,) = grads(answer(x, y), (x,)), grads(mmd_unbiased(x, y, "imq"), (x,))
    if not close(mine, ref, rtol=1e-3, atol=1e-6):
        return "the values match but the gradients w.r.t. the codes do not: is part of it detached?"
    return None


MMD_IMQ = register(Exercise(
    "mmd_imq", "04.1", "the unbiased MMD² with the WAE paper's IMQ kernel",
    "gm_lib.losses.mmd_unbiased(kernel='imq')",
    (Property("a scalar", _mmd_scalar),
     Property("unbiased: E[MMD²] = 0 when P = Q", _mmd_unbiased),
     Property("equals mmd_unbiased", _mmd_values),
     Property("gradients match", _mmd_gradients)),
))

# ---------------------------------------------------------------- 04.2 WAE-GAN latent adversary


def _adv_scalar(answer) -> str | None:
    if not is_scalar(answer(torch.randn(6), torch.randn(6))):
        return "return one number (a 0-dim tensor)"
    return None


def _adv_chance(answer) -> str | None:
    out = answer(torch.zeros(8), torch.zeros(8))  # an adversary that cannot tell: each term is log 2
    if close(out, math.log(2), atol=1e-4):
        return "the two cross-entropies are averaged: sum them, −E log D(z̃) − E log(1 − D(z)) (2 log 2 at chance)"
    if not close(out, 2 * math.log(2), atol=1e-4):
        return f"got {float(out):.4g} nats for an adversary at chance (all logits 0), where the loss is 2 log 2"
    return None


def _adv_values(answer) -> str | None:
    for n, m in [(16, 16), (9, 25)]:
        prior, codes = torch.randn(n) + 1, torch.randn(m) - 1
        ref = dcgan_discriminator_loss(prior, codes)
        known = {
            "the labels are swapped: the adversary calls prior draws z̃ ~ P_Z real (1) and encoder codes fake "
            "(0) (Tolstikhin et al. 2018, Alg. 1)": dcgan_discriminator_loss(codes, prior),
            "one mean over both sets: each cross-entropy is a mean over its own samples": _pooled(prior, codes),
        }
        hint = diagnose(answer(prior, codes), ref, known, f"the adversary's loss (n = {n}, m = {m})")
        if hint:
            return hint
    return None


def _pooled(prior, codes):
    """The wrong "one mean over the concatenation" (times 2, so it is right at n = m), from the reference's terms."""
    n, m = len(prior), len(codes)
    real_term = dcgan_discriminator_loss(prior, torch.full((1,), -1e4))  # the fake term of one sure logit ≈ 0
    fake_term = dcgan_discriminator_loss(torch.full((1,), 1e4), codes)  # the real term ≈ 0
    return 2 * (n * real_term + m * fake_term) / (n + m)


def _adv_stable(answer) -> str | None:
    prior, codes = torch.tensor([-200.0, 1.0]), torch.tensor([200.0, -1.0])  # a badly wrong adversary
    out = answer(prior, codes)
    if not torch.isfinite(out) or not close(out, dcgan_discriminator_loss(prior, codes), rtol=1e-4):
        return ("not finite (or wrong) at logits ±200: log(sigmoid(l)) underflows to −inf; use "
                "F.binary_cross_entropy_with_logits with labels 1 for the prior and 0 for the codes")
    return None


def _adv_gradients(answer) -> str | None:
    inputs = (torch.randn(7, requires_grad=True), torch.randn(5, requires_grad=True))
    return gradient_mismatch(answer, dcgan_discriminator_loss, inputs)


ADVERSARY_LOSS = register(Exercise(
    "adversary_loss", "04.2", "the WAE-GAN latent adversary's loss (prior draws real, codes fake)",
    "gm_lib.losses.dcgan_discriminator_loss, as WAE.discriminator_loss calls it",
    (Property("a scalar", _adv_scalar),
     Property("2 log 2 at chance", _adv_chance),
     Property("equals the WAE's adversary loss", _adv_values),
     Property("finite at logits ±200", _adv_stable),
     Property("gradients match", _adv_gradients)),
))
