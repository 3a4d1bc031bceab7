"""The live progress line of `make report`: what the library publishes and what the runner draws from it."""

from __future__ import annotations

import io

import pytest

from gm_build.report.progress import RunDisplay, format_minutes
from gm_lib import progress


@pytest.fixture
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    return path


def test_nothing_is_written_without_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    with progress.phase("training x", total=3):
        progress.TrainingBar(total=3, disable=True).update(3)
    assert list(tmp_path.iterdir()) == []


def test_training_bar_publishes_its_step_under_the_phase_label(progress_file):
    with progress.phase("training gan_mnist_dcgan", total=40):
        bar = progress.TrainingBar(total=40, initial=10, disable=True)  # disabled: the count is still published
        for _ in range(30):
            bar.update(1)
        state = progress.read_progress(progress_file)
        assert (state["phase"], state["done"], state["total"], state["unit"]) == ("training gan_mnist_dcgan", 40, 40,
                                                                                   "step")
        assert state["started"] <= state["time"]
    assert progress.read_progress(progress_file)["phase"] == ""  # phase over: the runner falls back to the cell


def test_display_line_names_run_cell_phase_steps_and_time_left(progress_file):
    stream = io.StringIO()  # not a terminal: one printed line per new phase
    with RunDisplay("wgan_svhn", n_cells=12, expected_s=600.0, stream=stream) as display:
        display.cell_started(4, "\ntrained = {label: train_run(run) for label, run in runs.items()}\n")
        assert "wgan_svhn cell 4/12 · `trained = {label: train_run(run) for label, run" in display.refresh()
        progress.report_phase("training gan_svhn_dcgan", 10, 40, force=True)
        line = display.refresh()
    assert "wgan_svhn cell 4/12 · training gan_svhn_dcgan · 10/40 steps" in line
    assert "~9:59 left" in line or "~10:00 left" in line  # expected 10 min, barely started
    assert stream.getvalue().count("training gan_svhn_dcgan") == 1


def test_time_left_is_at_least_what_the_current_phase_needs(progress_file):
    with RunDisplay("run", 3, expected_s=1.0, stream=io.StringIO()) as display:
        # 10 of 40 steps in 20 s: 30 steps at 2 s each are still 60 s, whatever the expected total said.
        progress.report_phase("training y", 0, 40, force=True)
        state = {"phase": "training y", "done": 10, "total": 40, "time": 120.0, "started": 100.0}
        assert display._time_left(elapsed=30.0, state=state) == pytest.approx(60.0)
        assert display._time_left(elapsed=0.0, state={}) == pytest.approx(1.0)


def test_format_minutes():
    assert (format_minutes(75.4), format_minutes(0), format_minutes(None), format_minutes(3600)) == (
        "1:15", "0:00", "?", "60:00")


def test_a_run_past_its_expected_time_says_so_rather_than_zero_left(progress_file):
    with RunDisplay("slow_run", 5, expected_s=0.0, stream=io.StringIO()) as display:
        display.cell_started(2, "floor = fid_floor(dataset, P.fid_n)")
        assert display.refresh().endswith("past the expected 0:00")


def test_time_left_of_a_phase_is_capped_by_its_time_budget(progress_file):
    with RunDisplay("run", 3, expected_s=None, stream=io.StringIO()) as display:
        # 2 of 40 steps in 10 s would need 190 s more, but the run stops at its 12 s budget: 2 s left.
        state = {"done": 2, "total": 40, "time": 110.0, "started": 100.0, "budget_s": 12.0}
        assert display._time_left(elapsed=10.0, state=state) == pytest.approx(2.0)
    with progress.phase("training z", total=40, budget_s=12.0):
        assert progress.read_progress(progress_file)["budget_s"] == 12.0
    with RunDisplay("run", 3, expected_s=600.0, stream=io.StringIO()) as display:
        # No step yet: the 4,000 s guard is no estimate of the time left, the run's expected 600 s is.
        state = {"done": 0, "total": 40, "time": 100.0, "started": 100.0, "budget_s": 4_000.0}
        assert display._time_left(elapsed=60.0, state=state) == pytest.approx(540.0)


@pytest.fixture
def clock(monkeypatch):
    """A fake perf_counter that only moves when the test says so."""
    now = [1000.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(progress, "_spent", dict.fromkeys(progress.PHASE_KINDS, 0.0))
    return now


def test_kinded_phases_add_their_time_and_a_nested_one_counts_once_as_the_outer_kind(clock):
    with progress.phase("training vae", kind="training"):
        clock[0] += 30
        with progress.phase("FID inside training", kind="evaluation"):  # e.g. a validation metric
            clock[0] += 5
    with progress.phase("FID vae", kind="evaluation"):
        clock[0] += 7
    with progress.phase("figures"):  # no kind: "other" time, not counted
        clock[0] += 100
    assert progress.time_spent() == {"training": 35.0, "evaluation": 7.0}


def test_a_phase_kind_outside_the_known_ones_is_refused():
    with pytest.raises(ValueError, match="phase kind must be one of"):
        with progress.phase("x", kind="sampling"):
            pass


def test_recorder_saves_only_the_time_spent_since_it_was_made(clock, tmp_path):
    from gm_lib.results import Recorder

    with progress.phase("training earlier notebook", kind="training"):
        clock[0] += 50  # before this notebook's Recorder: not its time
    rec = Recorder(tmp_path, "run", "smoke", 0)
    with progress.phase("training", kind="training"):
        clock[0] += 12
    with progress.phase("FID", kind="evaluation"):
        clock[0] += 3
    assert rec.to_dict(wall_time=20.0)["time_s"] == {"training": 12.0, "evaluation": 3.0}


def test_report_time_split_sums_runs_and_flags_evaluation_costlier_than_training(tmp_path):
    import json
    from types import SimpleNamespace

    from gm_build.report.timing import describe_time_split, time_split

    def outcome(name, status, training, evaluation, wall):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "results.json").write_text(json.dumps(
            {"schema": 1, "time_s": {"training": training, "evaluation": evaluation}, "wall_time_s": wall}))
        return SimpleNamespace(status=status, output_dir=folder, wall_time_s=None)

    runs = [outcome("a", "ok", 600, 120, 800), outcome("b", "cached", 60, 300, 420),
            outcome("c", "failed", 999, 999, 9999), SimpleNamespace(status="unavailable", output_dir=tmp_path / "d")]
    runs[0].wall_time_s = 900.0  # the runner's own measure (kernel start-up included) wins over the notebook's
    minutes, executed, cached = time_split(runs)
    assert minutes == pytest.approx({"training": 11.0, "evaluation": 7.0, "other": 4.0, "total": 22.0})
    assert (executed, cached) == (1, 1)
    line = describe_time_split(runs)
    assert "training 11.0 min, evaluation 7.0 min, other 4.0 min" in line and "1 run(s) not re-executed" in line
    assert "evaluation cost more" not in line
    assert "evaluation cost more than training" in describe_time_split(runs[1:2])


def test_the_guard_warning_projects_the_measured_rate():
    from gm_build.report.progress import guard_warning

    state = {"phase": "training vae_bmnist", "total": 20_000, "done": 1_000, "started": 0.0, "time": 100.0,
             "unit": "step", "budget_s": 1_400.0}  # 0.1 s per step: 2,000 s needed, 1,400 s allowed
    assert guard_warning(state) == ("at this rate training vae_bmnist will stop at ~14,000 of 20,000 steps; "
                                    "it resumes on the next make report")
    assert guard_warning(state | {"budget_s": 2_100.0}) is None  # fits
    assert guard_warning(state | {"budget_s": None}) is None  # no guard
    assert guard_warning(state | {"done": 2}) is None  # too few steps for a rate


@pytest.fixture
def quiet_poll(monkeypatch):
    """The display's redraw thread never wakes: only the test's own refresh() calls draw (no race on the stream)."""
    import gm_build.report.progress as display_module

    monkeypatch.setattr(display_module, "_POLL_S", 3600.0)


def _publish(path, done, now, total=20_000, initial=0):
    """What the kernel writes: a phase that started counting at (0 s, ``initial``) and reached ``done`` at ``now``."""
    import json
    from pathlib import Path

    Path(path).write_text(json.dumps({"phase": "training vae_bmnist", "done": done, "total": total, "unit": "step",
                                "time": now, "started": 0.0, "initial": initial, "budget_s": None}))


def test_a_log_gets_a_line_at_least_every_minute_with_steps_rate_and_time_left(progress_file, quiet_poll):
    """make report > log: 01's 20,000 steps at 10 steps/s printed one line in 33 minutes; now one at least a minute."""
    stream, now = io.StringIO(), [0.0]
    with RunDisplay("vae_bmnist", 5, expected_s=1200.0, stream=stream, clock=lambda: now[0]) as display:
        display.cell_started(3, "model, history = train_run(run)")
        printed_at = []
        while now[0] <= 2000.0:
            _publish(display.path, int(10 * now[0]), now[0])
            before = stream.getvalue().count("\n")
            display.refresh()
            printed_at += [now[0]] * (stream.getvalue().count("\n") - before)
            now[0] += 0.5
    lines = stream.getvalue().splitlines()
    gaps = [b - a for a, b in zip(printed_at, printed_at[1:], strict=False)]
    assert max(gaps) <= 60.0 and len(lines) <= 2000 / 60 + 10 + 1  # a line a minute, one more per tenth at most
    assert lines[1] == ("    vae_bmnist cell 3/5 · training vae_bmnist · 600/20000 steps · 10.0 steps/s "
                        "(1:00 elapsed, ~32:20 left)")  # 19,400 steps at 10 per second: more than the expected 20 min


def test_a_fast_phase_logs_each_tenth_but_not_more_than_once_in_ten_seconds(progress_file, quiet_poll):
    stream, now = io.StringIO(), [0.0]
    with RunDisplay("toy", 3, expected_s=None, stream=stream, clock=lambda: now[0]) as display:
        for now[0], done in ((0.0, 0), (5.0, 12), (11.0, 14), (12.0, 18), (22.0, 30)):
            _publish(display.path, done, now[0], total=100)
            display.refresh()
    lines = stream.getvalue().splitlines()
    # 12 at 5 s: a tenth passed, but only 5 s after the phase's first line; 18 at 12 s: 1 s after the last one
    assert [line.split(" · ")[2].split(" (")[0] for line in lines] == ["0/100 steps", "14/100 steps", "30/100 steps"]


def test_a_log_gets_a_heartbeat_while_a_cell_runs_without_a_phase(progress_file, quiet_poll):
    stream, now = io.StringIO(), [0.0]
    with RunDisplay("tsne", 4, expected_s=60.0, stream=stream, clock=lambda: now[0]) as display:
        display.cell_started(2, "embedded = latent.tsne_embedding(z)")
        for now[0] in (1.0, 30.0, 61.0, 90.0, 121.5):
            display.refresh()
    assert stream.getvalue().count("tsne cell 2/4 · `embedded = latent.tsne_embedding(z)`") == 2


def test_a_resumed_run_is_timed_from_the_step_it_resumed_at(progress_file):
    from gm_build.report.progress import format_rate, guard_warning

    with progress.phase("training vae", total=40):
        progress.TrainingBar(total=40, initial=10, disable=True)  # resumed at step 10: the clock restarts there
        state = progress.read_progress(progress_file)
    assert (state["initial"], state["done"]) == (10, 10) and state["started"] == state["time"]
    # 100 steps in 10 s after resuming at 10,000 of 20,000: 9,900 steps at 10 per second are 990 s, not 9.8 s.
    resumed = {"phase": "training vae", "done": 10_100, "total": 20_000, "initial": 10_000, "started": 0.0,
               "time": 10.0, "unit": "step", "budget_s": 500.0}
    with RunDisplay("run", 3, expected_s=None, stream=io.StringIO()) as display:
        assert display._time_left(elapsed=10.0, state=resumed | {"budget_s": None}) == pytest.approx(990.0)
    assert format_rate(resumed) == "10.0 steps/s" and format_rate(resumed | {"time": 500.0}) == "5.00 s/step"
    assert guard_warning(resumed) == ("at this rate training vae will stop at ~15,000 of 20,000 steps; "
                                      "it resumes on the next make report")
