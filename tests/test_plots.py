"""Figures a reader can read without the code: labelled rows, columns and axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from gm_lib import latent, plots  # noqa: E402


def test_perturbation_grid_labels_every_row_coordinate_and_column_offset():
    grid = torch.rand(3, 11, 1, 28, 28)  # (dims, eps, C, H, W)
    fig = plots.plot_perturbation(grid, dims=[0, 4, 7], eps=latent.PERTURBATION_EPS)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z[0]", "z[4]", "z[7]"]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{e:+.1f}" for e in range(-5, 6)]
    # Each tick sits on the centre of its image: padding 2, images 28 wide -> 2 + 30 j + 14.
    assert list(ax.get_xticks()) == [16 + 30 * j for j in range(11)]
    assert ax.get_xlabel().startswith("offset ε") and ax.get_ylabel() == "latent coordinate moved"


def test_perturbation_offsets_are_symmetric_with_the_code_itself_in_the_middle():
    eps = latent.PERTURBATION_EPS
    assert torch.equal(eps, -eps.flip(0)) and len(eps) % 2 == 1 and eps[len(eps) // 2] == 0


def test_image_matrix_rejects_label_counts_that_do_not_match():
    with pytest.raises(ValueError, match="2×3 images need 2 row and 3 column labels, got 2 and 2"):
        plots.image_matrix(torch.rand(2, 3, 1, 8, 8), ["a", "b"], ["x", "y"], "x", "y")


def test_sample_grids_are_large_enough_to_see_a_garment():
    fig = plots.image_grid(torch.rand(64, 1, 28, 28), nrow=16, xlabel="64 prior draws")
    width_px = fig.get_size_inches()[0] * 120 / 16  # per image at the report's 120 dpi
    assert width_px >= 2.5 * 28  # at least 2.5 screen pixels per image pixel
    assert fig.axes[0].get_xlabel() == "64 prior draws"
    rows = plots.image_rows({"step 0": torch.rand(8, 3, 32, 32), "step 20": torch.rand(8, 3, 32, 32)},
                            xlabel="8 fixed latent codes")
    assert [ax.get_ylabel() for ax in rows.axes] == ["step 0", "step 20"]
    assert rows.axes[-1].get_xlabel() == "8 fixed latent codes"


def test_zoomed_curves_leave_the_first_fall_off_the_panel_and_keep_every_late_point():
    import pandas as pd

    steps = pd.Series(range(0, 1001, 10))
    train = pd.DataFrame({"step": steps, "loss": 100.0 + 400.0 * (steps == 0) - 0.005 * steps})  # 500 then 100 → 95
    valid = pd.DataFrame({"step": [200, 600, 1000], "loss": [101.0, 99.0, 97.0]})
    ax = plots.plot_curves({"train": train, "validation": valid}, ["loss"], zoom_after=0.05).axes[0]
    low, high = ax.get_ylim()
    assert high < 200  # the 500-nat start is off the top
    assert low < 95.0 and high > 101.0  # the last 95% of both curves stay inside
    assert plots.plot_curves({"train": train}, ["loss"]).axes[0].get_ylim()[1] > 500  # default: everything
    with pytest.raises(ValueError, match="zoom_after=1.0 must be in"):
        plots.plot_curves({"train": train}, ["loss"], zoom_after=1.0)
