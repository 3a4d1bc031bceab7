"""Exercises (issue 22): each known wrong answer fails its check with its own hint; the references, the solved
notebooks pass; the student versions fail every check with a NotImplementedError naming the exercise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gm_build.exercises.grading import grade
from gm_lib import exercises, latent, losses, metrics
from gm_lib.exercises import EXERCISES, ExerciseFailed, ExerciseNotImplemented, run_check
from gm_lib.models.vae import VAE
from gm_lib.paths import repo_root

# ---------------------------------------------------------------- right answers: the gm_lib references


def _log_mean_exp(log_w):
    return torch.logsumexp(log_w, 1) - math.log(log_w.shape[1])


REFERENCES = {
    "neg_elbo": lambda logits, x, mu, logvar: -losses.bernoulli_log_likelihood(logits, x)
    + losses.gaussian_kl(mu, logvar),
    "reparameterize": lambda mu, logvar: VAE.reparameterize(None, mu, logvar),
    "log_mean_exp": _log_mean_exp,
    "hellinger_bound": losses.fgan_hellinger_bound,
    "gradient_penalty": losses.gradient_penalty,
    "generator_loss": losses.dcgan_generator_loss,
    "clip_weights": losses.clip_weights,
    "mmd_imq": lambda x, y: losses.mmd_unbiased(x, y, "imq"),
    "adversary_loss": losses.dcgan_discriminator_loss,
    "knn_accuracy": lambda zt, yt, zs, ys, k: metrics.knn_accuracy(zt, yt, zs, ys, k=k),
    "interpolate": lambda z0, z1, steps: latent.interpolate_latent(lambda z: z, z0, z1, steps),
}


def test_at_least_ten_exercises_two_or_three_per_chapter():
    assert set(REFERENCES) == set(EXERCISES) and len(EXERCISES) >= 10
    per_chapter = {key: sum(e.key[:2] == key for e in EXERCISES.values()) for key in ("01", "02", "03", "04", "05")}
    assert all(2 <= n <= 3 for n in per_chapter.values()), per_chapter


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_the_reference_passes(name):
    result = run_check(EXERCISES[name], REFERENCES[name])
    assert result.passed, result.hint


# ---------------------------------------------------------------- correct answers written another way


def _gp_alpha(critic, real, fake, generator=None):
    """Gulrajani et al.'s own code: x̂ = x + α(x̃ − x), α drawn after a draw the reference does not make."""
    torch.rand(3, generator=generator)  # another draw first: the draws differ from the reference's
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), generator=generator)
    x_hat = (real + alpha * (fake - real)).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat), x_hat, grad_outputs=torch.ones(real.shape[0]), create_graph=True)
    return ((grad.reshape(len(grad), -1).pow(2).sum(1) + 1e-12).sqrt() - 1).pow(2).mean()


def _gp_fake_side(critic, real, fake, generator=None):
    """x̂ = εx̃ + (1 − ε)x, ε drawn as (B,) and reshaped."""
    eps = torch.rand(real.shape[0], generator=generator).view(-1, *([1] * (real.dim() - 1)))
    x_hat = eps * fake + (1 - eps) * real
    x_hat.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def _knn_by_rule(rule):
    """kNN accuracy with vote ties broken by ``rule(tied labels, neighbour labels nearest first)``."""

    def accuracy(z_train, y_train, z_test, y_test, k=5):
        distances = ((z_test[:, None, :] - z_train[None, :, :]) ** 2).sum(-1)  # (M, N)
        predicted = []
        for row in y_train[np.argsort(distances, axis=1)[:, :k]]:
            counts = np.bincount(row)
            predicted.append(rule(np.flatnonzero(counts == counts.max()), row))
        return float((np.array(predicted) == y_test).mean())

    return accuracy


def _knn_counter(z_train, y_train, z_test, y_test, k=5):
    """collections.Counter.most_common: among tied labels, the one seen first (the nearest)."""
    from collections import Counter

    order = np.argsort(((z_test[:, None] - z_train[None]) ** 2).sum(-1), axis=1)[:, :k]
    predicted = [Counter(y_train[row].tolist()).most_common(1)[0][0] for row in order]
    return sum(p == y for p, y in zip(predicted, y_test.tolist(), strict=True)) / len(y_test)


def _mmd_masked(x, y, scales=losses.MMD_SCALES):
    n, m, d = len(x), len(y), x.shape[1]
    sq = lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # noqa: E731
    k = lambda a, b: sum((2 * d * s) / (2 * d * s + sq(a, b)) for s in scales)  # noqa: E731
    off_x, off_y = ~torch.eye(n, dtype=torch.bool), ~torch.eye(m, dtype=torch.bool)
    return k(x, x)[off_x].mean() + k(y, y)[off_y].mean() - 2 * k(x, y).mean()


def _neg_elbo_distributions(logits, x, mu, logvar):
    from torch.distributions import Bernoulli, Normal, kl_divergence

    reconstruction = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return reconstruction + kl_divergence(Normal(mu, (0.5 * logvar).exp()), prior).sum(1)


def _log_mean_exp_manual(log_w):
    top = log_w.max(1).values
    return top + torch.log(torch.mean(torch.exp(log_w - top[:, None]), 1))


# Correct answers other than the references, each one the way a student (or a paper's code) writes it: every one
# must pass. A check that compares against the reference's own draws or its tie rule would fail some of them.
CORRECT = [
    ("neg_elbo", _neg_elbo_distributions),
    ("neg_elbo", lambda lg, x, mu, lv: (x * F.softplus(-lg) + (1 - x) * F.softplus(lg)).sum((1, 2, 3))
     + 0.5 * torch.sum(mu**2 + torch.exp(lv) - lv - 1, dim=1)),
    ("reparameterize", lambda mu, lv: torch.distributions.Normal(mu, torch.exp(0.5 * lv)).rsample()),
    ("reparameterize", lambda mu, lv: mu + torch.sqrt(torch.exp(lv)) * torch.randn(mu.shape)),
    ("log_mean_exp", _log_mean_exp_manual),
    ("log_mean_exp", lambda lw: torch.logsumexp(lw - math.log(lw.shape[1]), dim=1)),
    ("hellinger_bound", lambda vp, vq: (1 - torch.exp(-vp)).mean() - (torch.exp(vq) - 1).mean()),
    ("gradient_penalty", _gp_alpha),
    ("gradient_penalty", _gp_fake_side),
    ("generator_loss", lambda lg: F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg))),
    ("generator_loss", lambda lg: F.softplus(-lg).mean()),
    ("clip_weights", lambda m, c: [p.data.clamp_(-c, c) for p in m.parameters()] and None),
    ("mmd_imq", _mmd_masked),
    ("adversary_loss", lambda p, q: F.binary_cross_entropy_with_logits(p, torch.ones_like(p))
     + F.binary_cross_entropy_with_logits(q, torch.zeros_like(q))),
    ("adversary_loss", lambda p, q: F.softplus(-p).mean() + F.softplus(q).mean()),
    ("knn_accuracy", _knn_by_rule(lambda tied, row: tied.max())),  # ties: the largest label
    ("knn_accuracy", _knn_by_rule(lambda tied, row: row[np.isin(row, tied)][0])),  # ties: the nearest neighbour
    ("knn_accuracy", _knn_counter),
    ("interpolate", lambda z0, z1, s: torch.stack([torch.lerp(z0, z1, t) for t in torch.linspace(0, 1, s)])),
    ("interpolate", lambda z0, z1, s: z0 + torch.linspace(0, 1, s)[:, None] * (z1 - z0)),
]


@pytest.mark.parametrize(("name", "answer"), CORRECT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CORRECT)])
def test_each_correct_alternative_passes(name, answer):
    result = run_check(EXERCISES[name], answer)
    assert result.passed, result.hint


def test_every_exercise_has_a_correct_alternative_tested():
    assert {name for name, _ in CORRECT} == set(EXERCISES)


def test_the_knn_tie_rules_really_differ_on_the_checks_data():
    """The tie-rule alternatives are a test only if they disagree with the reference where the check looks."""
    from gm_lib.exercises.latents import _codes

    rng = np.random.default_rng(2)
    train, test = _codes(400, rng), _codes(200, rng)
    scores = {metrics.knn_accuracy(*train, *test, k=4), _knn_by_rule(lambda tied, row: tied.max())(*train, *test, 4)}
    assert len(scores) == 2


# ---------------------------------------------------------------- known wrong answers and their hints

def _bce_naive(logits, x):  # log(sigmoid) instead of a stable log-sigmoid
    p = torch.sigmoid(logits)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def _recon(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _gp(norm_fn=None, eps_shape=None, at=None, create_graph=True, scale=1.0, reduce="mean", use_generator=True):
    """A gradient penalty with one mistake switched on."""

    def penalty(critic, real, fake, generator=None):
        shape = eps_shape(real) if eps_shape else (real.shape[0],) + (1,) * (real.dim() - 1)
        eps = torch.rand(shape, generator=generator if use_generator else None)
        x_hat = {"real": real, "fake": fake}.get(at, eps * real + (1 - eps) * fake).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
        per = norm_fn(grad) if norm_fn else (grad.flatten(1).norm(dim=1) - 1).pow(2)
        return scale * (per.mean() if reduce == "mean" else per.sum())

    return penalty


def _clip_weights_only(module, c):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight"):
                p.clamp_(-c, c)


def _clip_rebind(module, c):
    for p in module.parameters():
        p = p.clamp(-c, c)  # noqa: PLW2901 - the mistake under test


def _clip_replace(module, c):
    for layer in module:
        if isinstance(layer, nn.Linear):
            layer.weight = nn.Parameter(layer.weight.detach().clamp(-c, c))
            layer.bias = nn.Parameter(layer.bias.detach().clamp(-c, c))


def _mmd_biased(x, y):
    d = x.shape[1]
    k = lambda a, b: sum(2 * d * s / (2 * d * s + torch.cdist(a, b).pow(2)) for s in losses.MMD_SCALES)
    return k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()


def _mmd_yy_by_n(x, y):
    n, d = len(x), x.shape[1]
    k = lambda a, b: sum(2 * d * s / (2 * d * s + torch.cdist(a, b).pow(2)) for s in losses.MMD_SCALES)
    k_xx, k_yy = k(x, x), k(y, y)
    return ((k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1)) + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
            - 2 * k(x, y).mean())


def _hellinger_naive(v_p, v_q):  # f*(t) = t/(1 − t) applied to t = g_f(v) as written
    t_p, t_q = 1 - torch.exp(-v_p), 1 - torch.exp(-v_q)
    return t_p.mean() - (t_q / (1 - t_q)).mean()


def _knn_self(z_train, y_train, z_test, y_test, k=5):
    return metrics.knn_accuracy(z_test, y_test, z_test, y_test, k=k)


def _slerp(z0, z1, steps):
    omega = torch.arccos((z0 / z0.norm() * z1 / z1.norm()).sum().clamp(-1, 1))
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


WRONG = [
    # 01.1 the Bernoulli −ELBO
    ("neg_elbo", lambda lg, x, mu, lv: (_recon(lg, x) + _kl(mu, lv)).mean(), "one value per image, shape (B,)"),
    ("neg_elbo", lambda lg, x, mu, lv: _recon(lg, x) + 0.5 * (mu.pow(2) + lv.exp() - lv).sum(1), "the KL must be 0"),
    ("neg_elbo", lambda lg, x, mu, lv: -(_recon(lg, x) + _kl(mu, lv)), "sign: return the negative ELBO"),
    ("neg_elbo", lambda lg, x, mu, lv: _recon(lg, x) / x[0].numel() + _kl(mu, lv), "averaged over the"),
    ("neg_elbo", lambda lg, x, mu, lv: _recon(lg, x), "the KL term is missing"),
    ("neg_elbo", lambda lg, x, mu, lv: _recon(lg, x) + 0.5 * (mu.pow(2) + (2 * lv).exp() - 1 - 2 * lv).sum(1),
     "σ² = exp(logvar), not exp(2·logvar)"),
    ("neg_elbo", lambda lg, x, mu, lv: _recon(lg, x) + 2 * _kl(mu, lv), "the KL lacks its ½"),
    ("neg_elbo", lambda lg, x, mu, lv: _bce_naive(lg, x) + _kl(mu, lv), "log(sigmoid(l)) underflows"),
    ("neg_elbo", lambda lg, x, mu, lv: _recon(lg, x) + _kl(mu.detach(), lv), "gradient w.r.t. mu does not"),
    # 01.2 the reparameterised sample
    ("reparameterize", lambda mu, lv: mu, "two calls gave the same z"),
    ("reparameterize", lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "scaled by the variance exp(logvar)"),
    ("reparameterize", lambda mu, lv: torch.distributions.Normal(mu, (0.5 * lv).exp()).sample(),
     "no gradient reaches mu or logvar"),
    ("reparameterize", lambda mu, lv: mu + (0.5 * lv).exp().detach() * torch.randn_like(mu), "∂z/∂logvar"),
    # 01.3 the log-mean-exp estimate
    ("log_mean_exp", lambda lw: torch.logsumexp(lw, 1), "you returned log Σ_k w_k"),
    ("log_mean_exp", lambda lw: lw.mean(1), "you averaged the log weights: that is the ELBO"),
    ("log_mean_exp", lambda lw: lw.max(1).values, "you took the largest log weight"),
    ("log_mean_exp", lambda lw: torch.log(torch.exp(lw).mean(1)), "logsumexp is not stabilised: overflow at K = 1000"),
    ("log_mean_exp", lambda lw: torch.logsumexp(lw, 1) / lw.shape[1], "you divided by K in log space"),
    ("log_mean_exp", lambda lw: torch.logsumexp(lw, 1) - lw.shape[1], "with K = 1 the estimate must be the log weight"),
    # 02.1 the squared-Hellinger objective
    ("hellinger_bound", lambda vp, vq: losses.fgan_hellinger_bound(vq, vp), "swapped roles"),
    ("hellinger_bound", lambda vp, vq: -losses.fgan_hellinger_bound(vp, vq), "sign: the bound is"),
    ("hellinger_bound", lambda vp, vq: 0.5 * losses.fgan_hellinger_bound(vp, vq), "has no ½"),
    ("hellinger_bound", lambda vp, vq: vp.mean() - (vq / (1 - vq)).mean(), "apply the output activation"),
    ("hellinger_bound", _hellinger_naive, "divides by 1 − t"),
    ("hellinger_bound", lambda vp, vq: (-torch.expm1(-vp)).mean().detach() - torch.expm1(vq).mean(),
     "gradient w.r.t. v_p does not"),
    # 02.2 the gradient penalty
    ("gradient_penalty", _gp(norm_fn=lambda g: F.relu(g.flatten(1).norm(dim=1) - 1).pow(2)), "is one-sided"),
    ("gradient_penalty", _gp(norm_fn=lambda g: (g.abs() - 1).pow(2)), "the penalty is per element"),
    ("gradient_penalty", _gp(norm_fn=lambda g: (g.norm(dim=1) - 1).pow(2)), "per pixel"),
    ("gradient_penalty", _gp(norm_fn=lambda g: (g.flatten(1).pow(2).sum(1) - 1).pow(2)), "squared norm"),
    ("gradient_penalty", _gp(scale=10.0), "λ is included"),
    ("gradient_penalty", _gp(reduce="sum"), "summed over the batch"),
    ("gradient_penalty", _gp(create_graph=False), "does not reach the critic's weights"),
    ("gradient_penalty", _gp(at="real"), "at random interpolates"),
    ("gradient_penalty", _gp(eps_shape=lambda real: real.shape), "one per sample"),
    ("gradient_penalty", _gp(use_generator=False), "generators of the same seed gave"),
    # 03.1 the non-saturating generator loss
    ("generator_loss", lambda lg: torch.log(1 - torch.sigmoid(lg)).mean(), "this is the saturating loss"),
    ("generator_loss", lambda lg: F.logsigmoid(-lg).mean(), "this is the saturating loss"),
    ("generator_loss", lambda lg: F.logsigmoid(lg).mean(), "sign: minimise −E[log D(G(z))]"),
    ("generator_loss", lambda lg: -F.logsigmoid(lg).sum(), "summed over the batch"),
    ("generator_loss", lambda lg: -torch.log(torch.sigmoid(lg)).mean(), "log(sigmoid(l)) is −inf"),
    ("generator_loss", lambda lg: -F.logsigmoid(lg).mean().detach(), "carries no gradient"),
    # 03.2 weight clipping
    ("clip_weights", lambda m, c: [p.clamp_(-c, c) for p in m.parameters()], "wrap the update in torch.no_grad()"),
    ("clip_weights", lambda m, c: nn.utils.clip_grad_value_(m.parameters(), c), "the weights did not change"),
    ("clip_weights", _clip_rebind, "the weights did not change"),
    ("clip_weights", _clip_weights_only, "biases included"),
    ("clip_weights", lambda m, c: [p.data.clamp_(0, c) for p in m.parameters()], "not [0, c]"),
    ("clip_weights", lambda m, c: [p.data.mul_(c / p.data.abs().max()) for p in m.parameters()], "do not rescale"),
    ("clip_weights", _clip_replace, "Parameter objects were replaced"),
    # 04.1 the unbiased MMD² (IMQ)
    ("mmd_imq", _mmd_biased, "the diagonal terms are included: this MMD estimate is biased"),
    ("mmd_imq", lambda x, y: losses.mmd_unbiased(x, y, "imq", tuple(s / x.shape[1] for s in losses.MMD_SCALES)),
     "C lacks the d"),
    ("mmd_imq", lambda x, y: losses.mmd_unbiased(x, y, "imq", tuple(s / 2 for s in losses.MMD_SCALES)),
     "C lacks the 2"),
    ("mmd_imq", lambda x, y: losses.mmd_unbiased(x, y, "rbf"), "that is the RBF kernel"),
    ("mmd_imq", lambda x, y: losses.mmd_unbiased(x, y, "imq", (1.0,)), "one scale only"),
    ("mmd_imq", _mmd_yy_by_n, "right for n = m, wrong for n"),
    ("mmd_imq", lambda x, y: losses.mmd_unbiased(x.detach(), y), "carries no gradient"),
    # 04.2 the WAE-GAN adversary
    ("adversary_loss", lambda p, q: losses.dcgan_discriminator_loss(q, p), "the labels are swapped"),
    ("adversary_loss", lambda p, q: 0.5 * losses.dcgan_discriminator_loss(p, q), "averaged: sum them"),
    ("adversary_loss", lambda p, q: F.binary_cross_entropy_with_logits(
        torch.cat([p, q]), torch.cat([torch.ones_like(p), torch.zeros_like(q)])) * 2, "one mean over both sets"),
    ("adversary_loss", lambda p, q: -torch.log(torch.sigmoid(p)).mean() - torch.log(1 - torch.sigmoid(q)).mean(),
     "not finite (or wrong) at logits ±200"),
    # 05.1 kNN accuracy
    ("knn_accuracy", lambda *a: 100 * metrics.knn_accuracy(*a[:4], k=a[4]), "not a percentage"),
    ("knn_accuracy", _knn_self, "each code is its own nearest neighbour"),
    ("knn_accuracy", lambda *a: 1 - metrics.knn_accuracy(*a[:4], k=a[4]), "that is the error rate"),
    ("knn_accuracy", lambda *a: metrics.knn_accuracy(*a[:4]), "the k given is ignored"),
    # 05.2 the latent path
    ("interpolate", lambda z0, z1, s: z0 + torch.arange(s).unsqueeze(1) / s * (z1 - z0), "first and last rows"),
    ("interpolate", lambda z0, z1, s: latent.interpolate_latent(lambda z: z, z1, z0, s), "reversed"),
    ("interpolate", lambda z0, z1, s: latent.interpolate_latent(lambda z: z, z0, z1, s).T, "shape (steps, d)"),
    ("interpolate", _slerp, "interpolate linearly"),
]


@pytest.mark.parametrize(("name", "answer", "hint"), WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_each_known_mistake_fails_with_its_hint(name, answer, hint):
    result = run_check(EXERCISES[name], answer)
    assert not result.passed
    assert hint in result.hint, result.hint


def test_every_exercise_has_known_mistakes_tested():
    assert {name for name, _, _ in WRONG} == set(EXERCISES)


# ---------------------------------------------------------------- the check's contract


def test_check_raises_named_errors_and_leaves_the_rng_alone(capsys):
    state = torch.get_rng_state()
    with pytest.raises(ExerciseFailed, match="04.1") as failed:
        exercises.check("mmd_imq", _mmd_biased)
    assert isinstance(failed.value, AssertionError) and "biased" in str(failed.value)

    def unanswered(x, y):
        raise NotImplementedError()

    with pytest.raises(ExerciseNotImplemented, match="04.1"):
        exercises.check("mmd_imq", unanswered)
    exercises.check("mmd_imq", REFERENCES["mmd_imq"])
    assert "✓ 04.1" in capsys.readouterr().out
    assert torch.equal(torch.get_rng_state(), state), "a check must not move the notebook's random stream"


def test_a_crashing_answer_fails_with_its_error():
    result = run_check(EXERCISES["knn_accuracy"], lambda *a: np.zeros(3)[5])
    assert not result.passed and "IndexError" in result.hint


# ---------------------------------------------------------------- the two versions of the notebooks


def test_the_solved_notebooks_pass_every_check():
    rows = grade(repo_root() / "notebooks")
    assert len(rows) == len(EXERCISES)
    assert all(r.passed for r in rows), [(r.exercise, r.hint) for r in rows if not r.passed]


def test_student_versions_fail_every_check_naming_the_exercise(tmp_path):
    pytest.importorskip("nbgrader")
    from gm_build.exercises.student import write_student_versions

    written = write_student_versions(repo_root() / "notebooks", tmp_path)
    assert [p.name for p in written] == sorted(p.name for p in (repo_root() / "notebooks").glob("*.ipynb"))
    code = "".join("".join(c["source"]) for p in written for c in json.loads(p.read_text())["cells"]
                   if c["cell_type"] == "code")
    assert "BEGIN SOLUTION" not in code and code.count("raise NotImplementedError()") == len(EXERCISES)
    rows = grade(tmp_path)
    assert len(rows) == len(EXERCISES) and not any(r.passed for r in rows)
    for row in rows:
        key = row.exercise.split()[0]
        assert "NotImplementedError" in row.hint and f"exercise {key}" in row.hint, row


# ---------------------------------------------------------------- where an answer plugs in


def _unanswered(*args):
    raise NotImplementedError()


def test_demos_show_an_unanswered_exercise_instead_of_failing():
    import matplotlib.pyplot as plt

    from gm_lib.models import VAEConfig

    model = VAEConfig(latent_dim=4, width=8).build()  # its initialisation draws from the global RNG
    state = torch.get_rng_state()
    for demo in (exercises.demo_mmd, exercises.demo_generator_loss):
        fig = demo(_unanswered, steps=5)
        assert "not answered yet" in [t.get_text() for ax in fig.axes for t in ax.texts]
        plt.close(fig)
    table = exercises.demo_log_mean_exp(_unanswered, model, torch.zeros(2, 1, 28, 28), k=3)
    assert table["your log p(x)"].isna().all() and table["gm_lib's log p(x)"].notna().all()
    assert torch.equal(torch.get_rng_state(), state)


def test_the_generator_demo_shows_the_saturating_loss_stalling():
    from gm_lib.exercises.demos import _gan_1d

    reference = _gan_1d(losses.dcgan_generator_loss, steps=300, seed=0)
    saturating = _gan_1d(lambda logits: F.logsigmoid(-logits).mean(), steps=300, seed=0)
    assert abs(reference.mean() - 2.0) < 0.3 and saturating.mean() < 0.0  # data at 2, fakes start at −2
