"""Notebook 02's explorer: the toy's two critics and their estimates at each θ of the trained grid."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from gm_lib import toy
from gm_lib.explore.core import Control, Explorer, View
from gm_lib.explore.drawing import figure_to_png, format_table

__all__ = ["toy_explorer"]


def toy_explorer(thetas: Sequence[float], hellinger: Sequence[toy.Estimate],
                 wasserstein: Sequence[toy.Estimate]) -> Explorer:
    """Notebook 02: a θ slider over the trained grid; the true W1 and H², both estimates, both critics over x₁.

    Args:
        thetas: the θ grid the critics were trained at.
        hellinger, wasserstein: :func:`gm_lib.toy.estimate_curve` results at ``thetas``, with their critics
            (``Estimate.critic``, the trained function at ``(x₁, ½)`` for x₁ in :data:`gm_lib.toy.CRITIC_X`).
            Every θ's plot is drawn before the widgets show (~0.1 s each), so a move only swaps images.

    Raises:
        ValueError: lengths differ or an estimate has no recorded critic.
    """
    if not len(thetas) == len(hellinger) == len(wasserstein) or not all(e.critic for e in [*hellinger, *wasserstein]):
        raise ValueError("need one Hellinger and one Wasserstein estimate per θ, each with its critic recorded")
    index = {float(t): i for i, t in enumerate(thetas)}

    @cache
    def draw_theta(theta: float) -> View:
        import matplotlib.pyplot as plt

        i = index[theta]
        h, w = hellinger[i], wasserstein[i]
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.0))
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.9, wspace=0.22)  # tight_layout costs ~100 ms
        x1 = np.array(toy.CRITIC_X)
        for ax, values, label in [(axes[0], h.critic, "Hellinger critic V"), (axes[1], w.critic, "W1 critic f")]:
            ax.plot(x1, values, color="C0")
            ax.axvline(0, color="k", lw=1, ls="--", label="p: x₁ = 0")
            ax.axvline(theta, color="C3", lw=1, ls=":", label=f"q_θ: x₁ = {theta:g}")
            ax.set_xlabel("x₁ (at x₂ = ½)")
            ax.set_title(label, fontsize=10)
            ax.legend(fontsize=7, loc="upper right")
        text = format_table([("θ", f"{theta:g}"), ("true W1 = |θ|", f"{toy.true_wasserstein(theta):.3f}"),
                             ("W1 critic's estimate", f"{w.value:.3f} ± {2 * w.stderr:.3f}"),
                             ("true H²", f"{toy.true_squared_hellinger(theta):.3f}"),
                             ("Hellinger critic's estimate", f"{h.value:.3f} ± {2 * h.stderr:.3f}")])
        return figure_to_png(fig), text + "<small>± 2 standard errors over evaluation batches</small>"

    options = [float(t) for t in thetas]
    default = min(options, key=lambda t: abs(t - 0.5))
    return Explorer("Toy explorer: both critics and their estimates at θ", [Control("theta", "θ", options, default)],
                    lambda values: draw_theta(values["theta"]), warm=lambda: [draw_theta(t) for t in options])
