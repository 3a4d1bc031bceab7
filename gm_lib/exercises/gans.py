"""Exercises of notebook 03: the non-saturating generator loss and weight clipping.

References: :func:`gm_lib.losses.dcgan_generator_loss` (Goodfellow et al. 2014, Sec. 3) and
:func:`gm_lib.losses.clip_weights` (Arjovsky et al. 2017, Alg. 1).
"""

from __future__ import annotations

import torch
from torch import nn

from gm_lib.exercises.core import Exercise, Property, close, diagnose, gradient_mismatch, grads, is_scalar, register
from gm_lib.losses import clip_weights, dcgan_generator_loss

__all__ = ["GENERATOR_LOSS", "CLIP_WEIGHTS"]

# ---------------------------------------------------------------- 03.1 non-saturating generator loss


def _gl_scalar(answer) -> str | None:
    if not is_scalar(answer(torch.randn(6))):
        return "return one number (a 0-dim tensor): the mean over the batch of fakes"
    return None


def _gl_non_saturating(answer) -> str | None:
    logits = torch.full((4,), -10.0, requires_grad=True)  # the discriminator rejects every fake
    (mine,), (ref,) = grads(answer(logits), (logits,)), grads(dcgan_generator_loss(logits), (logits,))
    if mine.abs().max() < 0.1 * ref.abs().max():
        return ("this is the saturating loss E[log(1 − D(G(z)))]: at logit −10 (the discriminator rejects the "
                "fakes) its gradient is ~20,000× smaller; minimise −E[log D(G(z))] instead (Goodfellow et al. "
                "2014, Sec. 3)")
    return None


def _gl_values(answer) -> str | None:
    for b in (8, 13):
        logits = 2 * torch.randn(b)
        ref = dcgan_generator_loss(logits)
        known = {
            "sign: minimise −E[log D(G(z))]; yours falls as the discriminator wins": -ref,
            "summed over the batch: average over the fakes, so the loss does not grow with B": b * ref,
        }
        hint = diagnose(answer(logits), ref, known, f"dcgan_generator_loss (B = {b})")
        if hint:
            return hint
    return None


def _gl_stable(answer) -> str | None:
    logits = torch.tensor([-200.0, 0.0, 3.0])
    out = answer(logits)
    if not torch.isfinite(out) or not close(out, dcgan_generator_loss(logits), rtol=1e-4):
        return ("not finite (or wrong) at logit −200: log(sigmoid(l)) is −inf there (σ underflows to 0); use "
                "F.logsigmoid(l) or F.binary_cross_entropy_with_logits")
    return None


def _gl_gradients(answer) -> str | None:
    return gradient_mismatch(answer, dcgan_generator_loss, (torch.randn(10, requires_grad=True),))


GENERATOR_LOSS = register(Exercise(
    "generator_loss", "03.1", "the non-saturating generator loss −E[log σ(D(G(z)))]",
    "gm_lib.losses.dcgan_generator_loss",
    (Property("a scalar", _gl_scalar),
     Property("non-saturating where D rejects the fakes", _gl_non_saturating),
     Property("equals dcgan_generator_loss", _gl_values),
     Property("finite at logit −200", _gl_stable),
     Property("gradients match", _gl_gradients)),
))

# ---------------------------------------------------------------- 03.2 weight clipping


def _critic() -> nn.Module:
    critic = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        for p in critic.parameters():  # some entries inside [−c, c], most outside on both sides
            p.copy_(0.03 * torch.randn_like(p))
    return critic


def _cw_in_range(answer) -> str | None:
    c = 0.01
    critic = _critic()
    critic(torch.randn(5, 3)).sum().backward()  # clipping follows a critic update: gradients are present
    before = [p.detach().clone() for p in critic.parameters()]
    objects = [id(p) for p in critic.parameters()]
    try:
        answer(critic, c)
    except RuntimeError as error:
        if "leaf Variable" in str(error):
            return ("wrap the update in torch.no_grad(): autograd refuses in-place changes to parameters that "
                    "require grad")
        raise
    params = list(critic.parameters())
    if [id(p) for p in params] != objects:
        return ("the Parameter objects were replaced: change their values in place (p.clamp_), the optimizer "
                "holds the old objects and would keep training them")
    if all(torch.equal(p, b) for p, b in zip(params, before, strict=True)):
        return ("the weights did not change: clamp them in place (p.clamp_(−c, c)); p = p.clamp(...) only "
                "rebinds a name, and clipping gradients (clip_grad_value_) is not weight clipping (WGAN Alg. 1)")
    biases = [p for name, p in critic.named_parameters() if name.endswith("bias")]
    if any(p.abs().max() > c + 1e-9 for p in biases) and all(
            p.abs().max() <= c + 1e-9 for name, p in critic.named_parameters() if name.endswith("weight")):
        return "every parameter, biases included, must lie in [−c, c] (WGAN Alg. 1 clips all of w)"
    if any(p.abs().max() > c + 1e-9 for p in params):
        return f"parameters outside [−c, c] remain (c = {c})"
    if any(((b < -c) & (p >= 0)).any() for p, b in zip(params, before, strict=True)):
        return "values below −c must go to −c: clamp into [−c, c], not [0, c]"
    return None


def _cw_values(answer) -> str | None:
    mine, ref = _critic(), _critic()
    ref.load_state_dict(mine.state_dict())
    answer(mine, 0.02)
    clip_weights(ref, 0.02)
    if not all(close(a, b, rtol=0, atol=1e-9) for a, b in zip(mine.parameters(), ref.parameters(), strict=True)):
        return "clamp, do not rescale: weights already inside [−c, c] must keep their values"
    return None


CLIP_WEIGHTS = register(Exercise(
    "clip_weights", "03.2", "weight clipping of the critic into [−c, c], in place",
    "gm_lib.losses.clip_weights",
    (Property("every parameter clamped into [−c, c] in place", _cw_in_range),
     Property("equals clip_weights", _cw_values)),
))
