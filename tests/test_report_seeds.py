"""`make report SEEDS=0,1`: each run once per seed, the report's numbers as mean ± sd, ties within the spread.

The fast tests merge hand-made results.json files (no notebook runs); the slow one runs the toy notebook
(02) at two seeds through the runner and reads the report it writes.
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
from pathlib import Path

import pytest

from gm_build.report import main, resolve_seeds
from gm_build.report.build import ReportContext, render_markdown
from gm_build.report.manifest import RunSpec
from gm_build.report.run import Outcome, check_kernel, previous_outcome, run_paths
from gm_build.report.seeds import Spread, compare_best, is_tie, merge_results, merge_table
from gm_lib.paths import repo_root
from gm_lib.profiles import PROFILES
from gm_lib.results import Recorder, load_results

SPEC = RunSpec("gan_run", repo_root() / "notebooks" / "03_wgan.ipynb", {"dataset": "mnist"}, "A GAN run")
# Per seed: FID of two models (means 8.5 apart, sds 1.41 + 0.71: a win) and KID (0.3 apart, sds 0.07 + 0.35: a
# tie); seed 1 lists the table rows in the other order.
SCORES = {0: {"A": (1.0, 0.10), "B": (10.0, 0.20)}, 1: {"A": (3.0, 0.20), "B": (11.0, 0.70)}}


def _record(tmp: Path, seed: int) -> Outcome:
    output_dir, _ = run_paths(SPEC.name, seed, tmp / "figures", tmp / "reports", per_seed=True)
    rec = Recorder(output_dir, SPEC.name, "smoke", seed)
    for model, (fid, kid) in SCORES[seed].items():
        rec.metric(f"fid/{model.lower()}", fid, n=64, split="test", model=model)
        rec.metric(f"kid/{model.lower()}", kid, n=64, split="test", model=model)
    rows = [[m, fid, 64] for m, (fid, _) in SCORES[seed].items()]
    rec.table("scores", rows[::-1] if seed else rows, caption="FID per model.", columns=["model", "FID", "N"])
    rec.note(f"Seed {seed}'s own discussion.")
    rec.save(wall_time=10.0 + seed)
    return Outcome(SPEC, "ok", output_dir, seed=seed)


def _render(tmp: Path, outcomes: list[Outcome], seeds: tuple[int, ...]) -> str:
    context = ReportContext("smoke", seeds[0], "cpu", "fp32", 1.0, "now", "abc", seeds)
    return render_markdown(outcomes, context, tmp / "reports")


def test_spread_is_mean_and_sample_sd() -> None:
    spread = Spread((1.0, 3.0))
    assert spread.mean == 2.0 and spread.sd == pytest.approx(2 ** 0.5)  # ddof=1: sqrt(((1-2)^2 + (3-2)^2) / 1)
    assert str(spread) == "2.00 ± 1.41"
    values = (315.2, 320.1, 318.0)
    assert str(Spread(values)) == f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}" == "317.77 ± 2.46"
    assert str(Spread((5.0,), missing=1)) == "5 (n=1)"


def test_merged_results_show_mean_sd_and_keep_equal_numbers_once(tmp_path: Path) -> None:
    pairs = [(seed, load_results(_record(tmp_path, seed).output_dir)) for seed in (0, 1)]
    merged = merge_results(pairs)
    assert merged["seeds"] == [0, 1] and [d["seed"] for d in merged["per_seed"]] == [0, 1]
    assert str(merged["metrics"]["fid/a"]) == "2.00 ± 1.41" and merged["metrics"]["fid/b"].values == (10.0, 11.0)
    # Rows matched by model name although seed 1 listed them in the other order; N (64 in both) stays a number.
    rows = merged["tables"]["scores"]["rows"]
    assert [[row[0], str(row[1]), row[2]] for row in rows] == [["A", "2.00 ± 1.41", 64], ["B", "10.500 ± 0.707", 64]]
    assert merged["wall_time_s"] == 10.5 and merged["notes"] == ["Seed 0's own discussion."]
    assert merge_results(pairs[:1]) is pairs[0][1]  # one seed: today's results, untouched


def test_tables_that_do_not_line_up_are_not_averaged() -> None:
    a = {"columns": ["model", "x"], "rows": [["A", 1.0], ["B", 2.0]], "caption": None}
    b = {"columns": ["model", "x"], "rows": [["A", 3.0], ["C", 4.0]], "caption": None}
    merged = merge_table([a, b])
    assert merged["rows"] == a["rows"] and "rows differ" in merged["mismatch"]
    grid = [{"columns": ["theta", "err"], "rows": [[-1.0, e], [0.0, 2 * e]], "caption": None} for e in (1.0, 3.0)]
    rows = merge_table(grid)["rows"]  # all numeric: matched by position, theta equal in both seeds
    assert rows[0][0] == -1.0 and str(rows[0][1]) == "2.00 ± 1.41" and str(rows[1][1]) == "4.00 ± 2.83"


def test_tie_when_the_gap_is_inside_the_sum_of_sds() -> None:
    assert is_tie(Spread((1.0, 3.0)), Spread((2.5, 3.5)))  # |2 - 3| = 1 < 1.41 + 0.71
    assert not is_tie(Spread((1.0, 3.0)), Spread((10.0, 11.0)))  # 8.5 > 1.41 + 0.71
    assert not is_tie(Spread((0.0, 2.0)), Spread((3.0, 5.0)))  # gap 3 = 1.41 + 1.41 + 0.17: just outside
    with pytest.raises(ValueError, match="n=1"):
        is_tie(Spread((1.0,)), Spread((2.0, 3.0)))
    best = compare_best({"B": Spread((10.0, 11.0)), "A": Spread((1.0, 3.0))}, "FID")
    assert best.startswith("FID: A (2.00 ± 1.41) is lowest, ahead of B (10.500 ± 0.707) by 8.5")
    tie = compare_best({"A": Spread((0.1, 0.2)), "B": Spread((0.2, 0.7))}, "KID")  # 0.3 < 0.0707 + 0.354
    assert tie.startswith("KID: **tie** between A (0.1500 ± 0.0707) and B (0.450 ± 0.354): the gap 0.3 is inside")
    assert compare_best({"A": Spread((1.0,))}, "FID") is None  # nothing to compare with
    accuracy = compare_best({"A": Spread((0.70, 0.72)), "B": Spread((0.80, 0.82))}, "kNN", lower_is_better=False)
    assert accuracy.startswith("kNN: B (0.8100 ± 0.0141) is highest, ahead of A (0.7100 ± 0.0141) by 0.1")


def test_models_without_a_spread_are_ranked_and_their_tie_is_not_tested() -> None:
    # A scored once (or the same in every seed, left a plain number by merge_results), B over two seeds.
    sentence = compare_best({"B": Spread((20.0, 21.0)), "A": Spread((10.0,)), "C": Spread((30.0, 31.0))}, "FID")
    assert sentence == ("FID: A (10) is lowest, then B (20.500 ± 0.707), by 10.5; whether that is a tie is **not "
                        "tested**: A has no seed spread (one seed, or the same value in every seed). "
                        "Order: A 10 < B 20.500 ± 0.707 < C 30.500 ± 0.707.")
    for same in (10.0, Spread((10.0, 10.0))):  # equal in every seed: a plain number, or a spread of 0
        sentence = compare_best({"B": Spread((20.0, 21.0)), "A": same}, "FID")
        assert sentence.startswith("FID: A (10") and "**not tested**: A has no seed spread" in sentence
    both = compare_best({"A": 1.0, "B": 2.0, "name": "text"}, "KID")  # text is left out
    assert "**not tested**: A and B have no seed spread" in both and "Order" not in both
    assert "not tested" not in compare_best({"A": Spread((1.0, 3.0)), "B": Spread((10.0, 11.0)), "C": 50.0}, "FID")


def test_report_over_two_seeds_shows_mean_sd_seed_count_and_ties(tmp_path: Path) -> None:
    md = _render(tmp_path, [_record(tmp_path, 0), _record(tmp_path, 1)], (0, 1))
    assert "Profile **smoke** · seeds 0, 1 (n=2) · device cpu" in md
    assert "**2 seeds** (0, 1); the smoke profile's default is 1 seed." in md
    assert "| gan_run | A | mnist | 2.00 ± 1.41 (N=64, test) | 0.1500 ± 0.0707 (N=64, test) | — | — |" in md
    assert "| A | 2.00 ± 1.41 | 64 |" in md and "(Mean ± sd over n=2 seeds;" in md  # the run's own table
    assert "| metric | mean ± sd (n=2) | protocol |" in md and "| `fid/b` | 10.500 ± 0.707 | N=64, test |" in md
    assert "- gan_run: FID: A (2.00 ± 1.41) is lowest, ahead of B" in md
    assert "- gan_run: KID: **tie** between A (0.1500 ± 0.0707) and B (0.450 ± 0.354)" in md
    assert "|Δ mean| < sd₁ + sd₂" in md
    assert "Seed 0's own discussion." in md and "Seed 1's own discussion." not in md  # notes: first seed's
    assert "| [gan_run](#run-gan-run) | `notebooks/03_wgan.ipynb` | ok | — | — |" in md  # one row for both seeds
    assert re.search(r"\| gan_run \| smoke \| 0 \|.*\n\| gan_run \| smoke \| 1 \|", md)  # provenance: a row a seed


def test_report_over_one_seed_says_so_and_shows_plain_numbers(tmp_path: Path) -> None:
    md = _render(tmp_path, [_record(tmp_path, 1)], (1,))
    summary = md.split("## Summary across models")[1].split("## Published numbers")[0]
    assert "Profile **smoke** · seed 1 · device cpu" in md and "±" not in summary
    assert "**1 seed** (1): the smoke profile's default is 1 seed (`full`: 3)." in md
    assert "| gan_run | A | mnist | 3 (N=64, test) |" in md and "One seed: no ranking" in md


def test_profile_seed_defaults_and_the_seeds_option() -> None:
    assert (PROFILES["smoke"].seeds, PROFILES["default"].seeds, PROFILES["full"].seeds) == (1, 1, 3)
    assert resolve_seeds(None, None, 0, "full") == [0, 1, 2] and resolve_seeds(None, 5, 0, "default") == [5]
    assert resolve_seeds([3, 1], None, 0, "full") == [3, 1]
    with pytest.raises(ValueError, match="not both"):
        resolve_seeds([0, 1], 2, 0, "smoke")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        main(["--seeds", "0,x"])
    assert "integers separated by commas" in err.getvalue()


def test_one_seed_keeps_todays_paths_and_several_get_their_own(tmp_path: Path) -> None:
    figures, reports = tmp_path / "f", tmp_path / "r"
    assert run_paths("toy", 0, figures, reports, per_seed=False) == (figures / "toy", reports / "executed/toy.ipynb")
    assert run_paths("toy", 2, figures, reports, per_seed=True) == (figures / "toy/seed2",
                                                                    reports / "executed/toy-seed2.ipynb")
    # A run left out by --only: a one-seed report's results stand in for the seed they were recorded at.
    Recorder(figures / "gan_run", "gan_run", "smoke", seed=0).save()
    assert previous_outcome(SPEC, figures, reports, 0, per_seed=True).output_dir == figures / "gan_run"
    assert previous_outcome(SPEC, figures, reports, 1, per_seed=True).output_dir == figures / "gan_run" / "seed1"


@pytest.mark.slow
def test_smoke_report_over_two_seeds_runs_the_toy_twice_and_shows_mean_sd(tmp_path: Path) -> None:
    """`make report PROFILE=smoke ONLY=toy SEEDS=0,1`, into temporary folders (~1-2 min on 2 cores)."""
    check_kernel()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["--profile", "smoke", "--only", "toy", "--seeds", "0,1", "--precision", "fp32",
                       "--reports-dir", str(tmp_path / "reports"), "--figures-dir", str(tmp_path / "figures")])
    assert status == 0, out.getvalue()
    assert "[2/8] toy seed 0 (02_hellinger_vs_emd.ipynb" in out.getvalue() and "[2/8] toy seed 1" in out.getvalue()
    results = [load_results(tmp_path / "figures" / "toy" / f"seed{seed}") for seed in (0, 1)]
    assert [r["seed"] for r in results] == [0, 1]
    errors = [r["metrics"]["hellinger_mean_abs_error"] for r in results]
    assert errors[0] != errors[1]  # the seed reached the notebook: different training, different numbers
    md = (tmp_path / "reports" / "report.md").read_text()
    assert "Profile **smoke** · seeds 0, 1 (n=2)" in md
    assert f"| `hellinger_mean_abs_error` | {Spread(tuple(errors))} |" in md
    assert "(Mean ± sd over n=2 seeds;" in md
    assert "[seed 0](executed/toy-seed0.html) [seed 1](executed/toy-seed1.html)" in md
    # Each seed recorded the machine it ran on (here one): the header names it.
    from gm_lib.machine import describe_machine, machine_summary

    assert results[0]["machine"] == results[1]["machine"] == describe_machine("cpu")
    assert f"Machine: {machine_summary(describe_machine('cpu'))}." in md
