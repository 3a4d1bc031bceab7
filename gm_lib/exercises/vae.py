"""Exercises of notebook 01: the Bernoulli −ELBO, the reparameterised sample, the log-mean-exp NLL estimate.

References: :func:`gm_lib.losses.bernoulli_log_likelihood` and :func:`gm_lib.losses.gaussian_kl`
(Kingma & Welling 2014, eq. 10 and Appendix B), :meth:`gm_lib.models.VAE.reparameterize` (eq. 4) and
:func:`gm_lib.metrics.importance_sampled_log_likelihood` (Burda et al. 2016, eq. 8).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gm_lib.exercises.core import Exercise, Property, close, diagnose, grads, register
from gm_lib.losses import bernoulli_log_likelihood, gaussian_kl
from gm_lib.metrics.likelihood import importance_sampled_log_likelihood
from gm_lib.models.vae import VAE

__all__ = ["NEG_ELBO", "REPARAMETERIZE", "LOG_MEAN_EXP"]

# ---------------------------------------------------------------- 01.1 Bernoulli −ELBO per image


def _elbo_inputs(b: int, image: tuple[int, ...], d: int, requires_grad: bool = False):
    logits = 3 * torch.randn(b, *image)
    x = (torch.rand(b, *image) < 0.3).float()  # binary, like binarized MNIST
    mu, logvar = torch.randn(b, d), 0.5 * torch.randn(b, d)
    return [t.requires_grad_(requires_grad) if t is not x else t for t in (logits, x, mu, logvar)]


def _reference_neg_elbo(logits, x, mu, logvar) -> Tensor:
    return -bernoulli_log_likelihood(logits, x) + gaussian_kl(mu, logvar)


def _elbo_shape(answer) -> str | None:
    out = answer(*_elbo_inputs(5, (1, 28, 28), 8))
    if not isinstance(out, Tensor) or out.shape != (5,):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        return (f"got {shape} for a batch of 5: return one value per image, shape (B,) (sum over pixels and "
                "latent dimensions; the batch mean is taken by the training loop)")
    return None


def _elbo_known_zero(answer) -> str | None:
    logits, x, mu, logvar = _elbo_inputs(4, (1, 6, 6), 8)
    logits = 50.0 * (2 * x - 1)  # a certain and correct decoder: −log p(x|z) ≈ 0
    out = answer(logits, x, torch.zeros_like(mu), torch.zeros_like(logvar))
    if not torch.isfinite(out).all():
        return ("not finite for a certain decoder (logits ±50): log(sigmoid(l)) underflows to −inf and 0·(−inf) is "
                "NaN; use F.binary_cross_entropy_with_logits (or F.logsigmoid)")
    if not close(out, torch.zeros(4), atol=1e-3):
        return (f"got {out.detach().tolist()} nats: with q(z|x) = N(0, I) = p(z) the KL must be 0, and a certain, "
                "correct decoder costs 0 nats; check the −1 and the log σ² = logvar terms of "
                "½ Σ (μ² + σ² − 1 − log σ²)")
    return None


def _elbo_values(answer) -> str | None:
    for b, image, d in [(4, (1, 28, 28), 8), (3, (3, 8, 8), 4)]:
        logits, x, mu, logvar = _elbo_inputs(b, image, d)
        recon, kl = -bernoulli_log_likelihood(logits, x), gaussian_kl(mu, logvar)
        pixels = x[0].numel()
        known = {
            "sign: return the negative ELBO, −log p(x|z) + KL, a loss ≥ 0 in nats": -(recon + kl),
            f"the reconstruction term is averaged over the {pixels} pixels: −log p(x|z) is a sum over pixels, "
            "nats per image": recon / pixels + kl,
            "the KL term is missing: −ELBO = −log p(x|z) + KL(q(z|x) ‖ p(z))": recon,
            "logvar is log σ², so σ² = exp(logvar), not exp(2·logvar)":
                recon + 0.5 * (mu.pow(2) + (2 * logvar).exp() - 1 - 2 * logvar).sum(1),
            "the KL lacks its ½: KL = ½ Σ (μ² + σ² − 1 − log σ²)": recon + 2 * kl,
        }
        hint = diagnose(answer(logits, x, mu, logvar), recon + kl, known, f"−ELBO at image shape {image}")
        if hint:
            return hint
    return None


def _elbo_stable(answer) -> str | None:
    logits, x, mu, logvar = _elbo_inputs(3, (1, 6, 6), 4)
    logits = 100.0 * (1 - 2 * x)  # confidently wrong: 100 nats per pixel
    out = answer(logits, x, mu, logvar)
    if not torch.isfinite(out).all() or not close(out, _reference_neg_elbo(logits, x, mu, logvar), rtol=1e-3):
        return ("not finite (or not right) at confident logits, |logit| = 100: log(sigmoid(l)) underflows to −inf; "
                "use F.binary_cross_entropy_with_logits (or F.logsigmoid)")
    return None


def _elbo_gradients(answer) -> str | None:
    inputs = _elbo_inputs(3, (1, 8, 8), 4, requires_grad=True)
    logits, x, mu, logvar = inputs
    mine = grads(answer(*inputs), (logits, mu, logvar))
    ref = grads(_reference_neg_elbo(*inputs), (logits, mu, logvar))
    for name, g, r in zip(("logits", "mu", "logvar"), mine, ref, strict=True):
        if not close(g, r, rtol=1e-3, atol=1e-5):
            return f"the values match but the gradient w.r.t. {name} does not: is part of it detached?"
    return None


NEG_ELBO = register(Exercise(
    "neg_elbo", "01.1", "the Bernoulli −ELBO per image (nats)",
    "-gm_lib.losses.bernoulli_log_likelihood + gm_lib.losses.gaussian_kl",
    (Property("one value per image", _elbo_shape),
     Property("0 for q = p(z) and a certain decoder", _elbo_known_zero),
     Property("equals −log p(x|z) + KL on random inputs", _elbo_values),
     Property("finite at confident logits", _elbo_stable),
     Property("gradients match", _elbo_gradients)),
))

# ---------------------------------------------------------------- 01.2 reparameterised sample


def _reference_reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    return VAE.reparameterize(None, mu, logvar)  # the method does not use self


def _rep_shape(answer) -> str | None:
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3)
    out = answer(mu, logvar)
    if not isinstance(out, Tensor) or out.shape != mu.shape:
        return "z must have the shape of mu, (B, d): one sample per row"
    if close(out, answer(mu, logvar)):
        return ("two calls gave the same z: a sample must be random, ε ~ N(0, I) drawn afresh each call "
                "(torch.randn_like(mu)); mu alone is the posterior mean, not a sample")
    return None


def _rep_moments(answer) -> str | None:
    n = 20_000
    mu = torch.tensor([[-2.0, 0.0, 3.0]]).expand(n, 3)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]]).expand(n, 3)  # σ = 1, 2, 0.5
    z, ref = answer(mu, logvar), _reference_reparameterize(mu, logvar)
    if not close(z.mean(0), ref.mean(0), atol=0.06):
        return f"the mean of z is {z.mean(0).tolist()}, should be mu = {mu[0].tolist()}"
    std = z.std(0)
    if close(std, logvar[0].exp(), rtol=0.05, atol=0.02):
        return "ε is scaled by the variance exp(logvar); the standard deviation is σ = exp(logvar / 2)"
    if not close(std, ref.std(0), rtol=0.05, atol=0.02):
        return f"the standard deviation of z is {std.tolist()}, should be σ = exp(logvar / 2) = [1, 2, 0.5]"
    return None


def _rep_gradient(answer) -> str | None:
    mu, logvar = torch.randn(5, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    z = answer(mu, logvar)
    if not z.requires_grad:
        return ("no gradient reaches mu or logvar: torch.normal and Distribution.sample() are not differentiable; "
                "write z = mu + σ·ε with ε ~ N(0, I) drawn separately (Kingma & Welling 2014, eq. 4)")
    g_mu, g_logvar = grads(z, (mu, logvar))
    if not close(g_mu, torch.ones_like(mu)):
        return "∂z/∂mu must be 1: z = mu + σ·ε"
    if not close(g_logvar, 0.5 * (z - mu).detach(), atol=1e-4):
        return "∂z/∂logvar must be ½σε = ½(z − mu): is σ computed as exp(logvar / 2), with ε independent of mu?"
    return None


REPARAMETERIZE = register(Exercise(
    "reparameterize", "01.2", "the reparameterised sample z = μ + σ·ε",
    "gm_lib.models.VAE.reparameterize",
    (Property("a random (B, d) sample", _rep_shape),
     Property("mean μ and standard deviation exp(logvar/2)", _rep_moments),
     Property("differentiable in μ and logvar", _rep_gradient)),
))

# ---------------------------------------------------------------- 01.3 log-mean-exp NLL estimate


class _FixedWeights(nn.Module):
    """A latent-variable model whose importance log weights are given: q(z|x) = p(z) = N(0, I), so
    log p(z) − log q(z|x) = 0 and ``log_px_given_z`` returns the weights, in the order
    :func:`importance_sampled_log_likelihood` asks for them (image by image, K each)."""

    def __init__(self, log_w: Tensor):
        super().__init__()
        self.log_w, self.d = log_w, 2

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.zeros(len(x), self.d), torch.zeros(len(x), self.d)

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        return self.log_w.reshape(-1).to(z.dtype)


def reference_log_mean_exp(log_w: Tensor) -> Tensor:
    """gm_lib's importance-sampled log p(x) ``(B,)`` from given log weights ``(B, K)`` (float64), computed
    by :func:`importance_sampled_log_likelihood` itself on a model whose weights are ``log_w``."""
    b, k = log_w.shape
    model = _FixedWeights(log_w.detach().double())
    return importance_sampled_log_likelihood(model, torch.zeros(b, 1), k=k, batch_size=b * k).per_image


def _lme_shape(answer) -> str | None:
    out = answer(torch.randn(4, 10))
    if not isinstance(out, Tensor) or out.shape != (4,):
        return "return one estimate per image, shape (B,), from log weights (B, K): reduce over dim 1 (K)"
    return None


def _lme_k1(answer) -> str | None:
    log_w = -90 + torch.randn(5, 1)
    if not close(answer(log_w), log_w[:, 0], rtol=1e-5):
        return ("with K = 1 the estimate must be the log weight itself (the ELBO): check the 1/K, which is "
                "− log K in log space")
    return None


def _lme_values(answer) -> str | None:
    for b, k in [(4, 10), (3, 50)]:
        log_w = -60 + 4 * torch.randn(b, k)
        ref = reference_log_mean_exp(log_w)
        known = {
            "you returned log Σ_k w_k: the estimate is the log of the mean weight, subtract log K":
                ref + math.log(k),
            "you averaged the log weights: that is the ELBO, not the importance-sampled bound; take the log of "
            "the mean of the weights, log (1/K) Σ exp(log w_k)": log_w.mean(1),
            "you divided by K in log space: the 1/K inside the log is − log K outside it":
                (ref + math.log(k)) / k,
            "you took the largest log weight (the max of logsumexp's trick) alone: add log Σ exp(log w − max) "
            "and subtract log K": log_w.max(1).values,
        }
        hint = diagnose(answer(log_w), ref, known, f"gm_lib's importance-sampled log p(x) at K = {k}", rtol=1e-5)
        if hint:
            return hint
    return None


def _lme_stable(answer) -> str | None:
    for offset in (-1000.0, 1000.0):  # a poor model's log p(x|z) on 784 pixels; a sharp Gaussian decoder's
        log_w = offset + torch.randn(2, 1000)
        out = answer(log_w)
        if not torch.isfinite(out).all() or not close(out, reference_log_mean_exp(log_w), rtol=1e-5):
            return (f"logsumexp is not stabilised: overflow at K = 1000 (log weights ≈ {offset:+.0f} nats make "
                    f"exp(log w) {'0' if offset < 0 else 'inf'}); subtract the max first, or use torch.logsumexp")
    return None


LOG_MEAN_EXP = register(Exercise(
    "log_mean_exp", "01.3", "the importance-sampled log p(x), log (1/K) Σ_k w_k from log weights",
    "gm_lib.metrics.importance_sampled_log_likelihood",
    (Property("one estimate per image", _lme_shape),
     Property("K = 1 gives the ELBO", _lme_k1),
     Property("equals gm_lib's estimate", _lme_values),
     Property("stable at K = 1000", _lme_stable)),
))
