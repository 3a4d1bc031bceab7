"""Exercises of notebook 02: the squared-Hellinger variational objective and the two-sided gradient penalty.

References: :func:`gm_lib.losses.fgan_hellinger_bound` (Nowozin et al. 2016, eq. 6, Tables 2 and 6) and
:func:`gm_lib.losses.gradient_penalty` (Gulrajani et al. 2017, eq. 3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gm_lib.exercises.core import Exercise, Property, close, diagnose, gradient_mismatch, is_scalar, register
from gm_lib.losses import fgan_hellinger_bound, gradient_penalty

__all__ = ["HELLINGER_BOUND", "GRADIENT_PENALTY"]

# ---------------------------------------------------------------- 02.1 squared-Hellinger objective


def _hb_scalar(answer) -> str | None:
    if not is_scalar(answer(torch.randn(7), torch.randn(5))):
        return "return one number (a 0-dim tensor): a mean over p's samples minus a mean over q's"
    return None


def _hb_supremum(answer) -> str | None:
    v_p, v_q = torch.full((8,), 30.0), torch.full((6,), -30.0)  # a perfect critic on disjoint supports
    out = answer(v_p, v_q)
    if close(out, 2.0, atol=1e-3):
        return None
    if close(out, 1.0, atol=1e-3):
        return ("half of ours: this course's H² = ∫(√p − √q)² has no ½, so a perfect critic on disjoint "
                "supports reaches 2 (f(u) = (√u − 1)², Nowozin et al. Table 2)")
    if close(out, -2.0, atol=1e-3):
        return "sign: the bound is E_p[g_f(V)] − E_q[f*(g_f(V))], which a perfect critic drives to +2"
    if close(out, fgan_hellinger_bound(v_q, v_p), rtol=1e-3):
        return "p and q have swapped roles: g_f(V) is averaged over p's samples, f*(g_f(V)) over q's"
    if close(out, v_p.mean() - (v_q / (1 - v_q)).mean(), rtol=1e-3):  # the conjugate applied to raw V
        return ("apply the output activation g_f(v) = 1 − e^(−v) before the conjugate f*(t) = t/(1 − t), "
                "which is only defined for t < 1 (Nowozin et al. 2016, Table 2)")
    return f"got {float(out):.4g} for a perfect critic (V = +30 on p's samples, −30 on q's) where the bound is 2"


def _hb_values(answer) -> str | None:
    for n, m in [(16, 16), (10, 23)]:
        v_p, v_q = 2 * torch.randn(n), 2 * torch.randn(m)
        ref = fgan_hellinger_bound(v_p, v_q)
        known = {
            "p and q have swapped roles: g_f(V) is averaged over p's samples, f*(g_f(V)) over q's":
                fgan_hellinger_bound(v_q, v_p),
            "sign: the bound is E_p[g_f(V)] − E_q[f*(g_f(V))]": -ref,
            "the ½ convention: this course's H² = ∫(√p − √q)² has no ½": 0.5 * ref,
        }
        hint = diagnose(answer(v_p, v_q), ref, known, f"fgan_hellinger_bound (n = {n}, m = {m})")
        if hint:
            return hint
    return None


def _hb_stable(answer) -> str | None:
    v_p, v_q = torch.randn(4), torch.tensor([0.0, 5.0, 20.0])  # the critic scores one q sample high
    out = answer(v_p, v_q)
    if not torch.isfinite(out) or not close(out, fgan_hellinger_bound(v_p, v_q), rtol=1e-4):
        return ("not finite (or wrong) when a q sample scores v = 20: f*(g_f(v)) = t/(1 − t) with "
                "t = 1 − e^(−v) divides by 1 − t, which rounds to 0 in float32; use the identity "
                "f*(g_f(v)) = e^v − 1 (torch.expm1)")
    return None


def _hb_gradients(answer) -> str | None:
    inputs = (torch.randn(9, requires_grad=True), torch.randn(6, requires_grad=True))
    return gradient_mismatch(answer, fgan_hellinger_bound, inputs, names=("v_p", "v_q"))


HELLINGER_BOUND = register(Exercise(
    "hellinger_bound", "02.1", "the squared-Hellinger variational objective E_p[g_f(V)] − E_q[f*(g_f(V))]",
    "gm_lib.losses.fgan_hellinger_bound",
    (Property("a scalar", _hb_scalar),
     Property("2 for a perfect critic on disjoint supports", _hb_supremum),
     Property("equals fgan_hellinger_bound", _hb_values),
     Property("finite for a high-scoring q sample", _hb_stable),
     Property("gradients match", _hb_gradients)),
))

# ---------------------------------------------------------------- 02.2 two-sided gradient penalty


def _linear_critic(shape: tuple[int, ...], slope: float):
    """``D(x) = w·x`` with ‖w‖ = slope: ∇D = w everywhere, so the penalty is (slope − 1)² for any ε."""
    w = torch.rand(shape)  # all entries positive, unequal: per-element answers differ from per-sample ones
    w = slope * w / w.norm()
    return lambda x: (x.flatten(1) * w.flatten()).sum(1)


def _gp_two_sided(answer) -> str | None:
    for shape in [(6,), (2, 4, 4)]:  # vectors and images (B, C, H, W)
        real, fake = torch.randn(16, *shape), torch.randn(16, *shape)
        for slope in (0.5, 2.0):
            critic = _linear_critic(shape, slope)
            out = answer(critic, real, fake, torch.Generator().manual_seed(1))
            expected = (slope - 1) ** 2
            if close(out, expected, atol=1e-4):
                continue
            if slope < 1 and close(out, 0.0, atol=1e-6):
                return ("the penalty is one-sided: max(0, ‖∇D‖ − 1)² lets ‖∇D‖ < 1 go free, while WGAN-GP "
                        "penalises (‖∇D‖₂ − 1)² on both sides (Gulrajani et al. 2017, eq. 3)")
            if close(out, (slope**2 - 1) ** 2, atol=1e-4):
                return "you penalised the squared norm: the penalty is (‖∇D‖₂ − 1)², on the norm itself"
            if close(out, 10 * expected, atol=1e-4):
                return "λ is included: return the penalty without λ_gp, the caller multiplies"
            if close(out, 16 * expected, atol=1e-4):
                return "summed over the batch: average (‖∇D(x̂)‖ − 1)² over the samples"
            return (f"a critic with slope ‖∇D‖ = {slope} everywhere must cost ({slope} − 1)² = {expected}, got "
                    f"{float(out):.4g} at input shape {shape}: the penalty is per element or per pixel; take "
                    "the L2 norm of each sample's whole gradient (flatten(1), then norm over dim 1) before "
                    "(norm − 1)²")
    return None


def _gp_reaches_critic(answer) -> str | None:
    critic_mine, critic_ref = nn.Linear(5, 1), nn.Linear(5, 1)
    critic_ref.load_state_dict(critic_mine.state_dict())
    real, fake = torch.randn(8, 5), torch.randn(8, 5)
    try:
        answer(lambda x: critic_mine(x).squeeze(1), real, fake, torch.Generator().manual_seed(2)).backward()
    except RuntimeError as error:
        if "does not require grad" not in str(error):
            raise
    gradient_penalty(lambda x: critic_ref(x).squeeze(1), real, fake, torch.Generator().manual_seed(2)).backward()
    if critic_mine.weight.grad is None or not close(critic_mine.weight.grad, critic_ref.weight.grad, rtol=1e-3):
        return ("the penalty does not reach the critic's weights: torch.autograd.grad(..., create_graph=True) "
                "keeps the graph of ∇D so that backward() trains the critic")
    return None


def _quadratic_critic(x: Tensor) -> Tensor:
    return 0.5 * x.flatten(1).pow(2).sum(1)  # ∇D(x̂) = x̂, so ‖∇D‖ measures where x̂ lies


def _gp_interpolates(answer) -> str | None:
    b, shape = 4096, (1, 4, 4)
    real = torch.zeros(b, *shape)
    fake = torch.full((b, *shape), 0.5)  # ‖fake‖ = 2, so ‖∇D(x̂)‖ = 2(1 − ε)
    out = float(answer(_quadratic_critic, real, fake, torch.Generator().manual_seed(3)).detach())
    expected = 1 / 3  # E[(2u − 1)²], u ~ U[0, 1]
    if abs(out - expected) < 0.03:
        return None
    if abs(out - 1.0) < 1e-3:
        return ("the penalty must be evaluated at random interpolates x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1], "
                "not at the real or the fake samples")
    return (f"got {out:.3f} where interpolates with one ε ~ U[0, 1] per sample give {expected:.3f}: draw ε with "
            "shape (B, 1, 1, 1), one per sample, so x̂ lies on the line between a real and a fake image; "
            "an ε per element leaves that line")


class _RecordingCritic:
    """A small critic that keeps the last input it scored with a gradient (the answer's interpolates x̂)."""

    def __init__(self):
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
        self.x_hat: Tensor | None = None

    def __call__(self, x: Tensor) -> Tensor:
        if x.requires_grad:
            self.x_hat = x.detach().clone()
        return self.net(x).squeeze(1)


def _gp_on_its_interpolates(answer) -> str | None:
    """The value the maths fixes once the interpolates are drawn: whichever convention drew them
    (εx + (1 − ε)x̃ or x + α(x̃ − x)) and in whatever order, the penalty at the x̂ the answer scored."""
    critic = _RecordingCritic()
    real, fake = torch.randn(12, 1, 4, 4), torch.randn(12, 1, 4, 4)
    mine = answer(critic, real, fake, torch.Generator().manual_seed(4))
    if critic.x_hat is None or critic.x_hat.shape != real.shape:
        return "the critic was never called on interpolates x̂ that require a gradient, one per sample"
    x_hat, direction = critic.x_hat.flatten(1), (real - fake).flatten(1)  # (B, D) each
    t = ((x_hat - fake.flatten(1)) * direction).sum(1) / direction.pow(2).sum(1)  # (B,) x̂ = x̃ + t(x − x̃)
    on_segment = fake.flatten(1) + t[:, None] * direction
    if not close(x_hat, on_segment, atol=1e-4) or t.min() < -1e-5 or t.max() > 1 + 1e-5:
        return ("the critic was evaluated off the segments between real and fake samples: x̂ = εx + (1 − ε)x̃ with one "
                "ε ∈ [0, 1] per sample")
    points = critic.x_hat.clone()
    expected = gradient_penalty(lambda x: critic.net(x).squeeze(1), points, points)  # x̂ = points for any ε
    if not close(mine, expected, rtol=1e-4):
        return (f"got {float(mine.detach()):.5g}, but the penalty at the interpolates your function scored is "
                f"{float(expected):.5g}: average (‖∇D(x̂)‖₂ − 1)² over the samples, each norm over the whole gradient")
    return None


def _gp_reproducible(answer) -> str | None:
    critic = _RecordingCritic()
    real, fake = torch.randn(12, 1, 4, 4), torch.randn(12, 1, 4, 4)
    first, second = (float(answer(critic, real, fake, torch.Generator().manual_seed(5)).detach()) for _ in range(2))
    if first != second:
        return (f"two calls with generators of the same seed gave {first:.5g} and {second:.5g}: draw ε with the "
                "generator given (torch.rand(..., generator=generator)), so a seed fixes the interpolates")
    return None


GRADIENT_PENALTY = register(Exercise(
    "gradient_penalty", "02.2", "the two-sided gradient penalty E[(‖∇D(x̂)‖₂ − 1)²] on interpolates",
    "gm_lib.losses.gradient_penalty",
    (Property("(slope − 1)² for a linear critic", _gp_two_sided),
     Property("differentiable in the critic's weights", _gp_reaches_critic),
     Property("at interpolates, one ε per sample", _gp_interpolates),
     Property("the penalty at its own interpolates", _gp_on_its_interpolates),
     Property("the same generator seed gives the same penalty", _gp_reproducible)),
))
