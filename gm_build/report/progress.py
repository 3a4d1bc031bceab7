"""The terminal line `make report` keeps updated while a notebook runs: cell, phase, step k of n, time left.

Why a progress file rather than streaming the kernel's output: the kernel's stdout/stderr reach papermill
as notebook output messages, one log record each, so a tqdm bar inside the kernel (``\\r`` updates) turns
into hundreds of lines; and papermill's own bar counts cells, which are wildly unequal (one cell trains
three GANs). Here the runner owns the one line: papermill tells it which cell starts (a small engine,
below), the notebook's gm_lib tells it the phase and step through ``$GM_PROGRESS_FILE``
(:mod:`gm_lib.progress`), and a thread redraws twice a second.

On a terminal the line updates in place. When stderr is not a terminal (``make report > log``, CI, a Slurm job)
each new phase is printed once, and then a line at least every 60 s (and at each further tenth of its steps, at most
one per 10 s) with the steps done, their rate and the time left, so a log shows the run is alive and how long it
still needs. The time left is the run's expected minutes (its last recorded wall time at this
profile, else the manifest's ``minutes``) minus the time spent, and never less than what the current
phase's steps still need at their measured rate (capped by the phase's time budget, the training guard), and
the line warns as soon as that rate projects the guard to stop the phase before its last step.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from papermill.engines import NBClientEngine, papermill_engines
from tqdm import tqdm

from gm_lib.progress import PROGRESS_ENV, read_progress

__all__ = ["ENGINE", "RunDisplay", "format_minutes", "format_rate", "guard_warning"]

ENGINE = "gm-lab-progress"
_POLL_S = 0.5
_LOG_EVERY_S = 60.0  # a log gets a line at least this often
_LOG_FRACTION = 0.1  # ... and at each further tenth of a phase's steps,
_LOG_MIN_S = 10.0  # but never more than one per 10 s (a fast phase would flood it)
_WITH_TOTAL = "  {desc} {percentage:3.0f}%|{bar:12}| {n_fmt}/{total_fmt} {unit}"
_NO_TOTAL = "  {desc} · {unit}"


def format_minutes(seconds: float | None) -> str:
    """``75.4`` -> ``"1:15"``; None -> ``"?"``."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class RunDisplay:
    """Context manager around one notebook execution: sets ``$GM_PROGRESS_FILE`` and draws the live line.

    Args:
        label: the run's name, shown first on the line.
        n_cells: code cells in the notebook (for "cell i/n").
        expected_s: how long the run is expected to take (None: unknown).
        stream: where to draw (default ``sys.stderr``); a non-terminal stream gets log lines (module docstring).
        clock: seconds, monotonic (default ``time.monotonic``; tests pass a fake one).
    """

    def __init__(self, label: str, n_cells: int, expected_s: float | None, stream=None, clock=time.monotonic):
        self.label, self.n_cells, self.expected_s = label, n_cells, expected_s
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.cell, self.cell_source, self.last_phase, self.last_warning = 0, "", None, None
        self.clock, self.last_logged, self.last_tenth = clock, 0.0, 0
        self._stop = threading.Event()

    def __enter__(self) -> RunDisplay:
        handle, self.path = tempfile.mkstemp(prefix="gm-progress-", suffix=".json")
        os.close(handle)
        os.unlink(self.path)  # "no progress yet" until the kernel writes
        self._previous_env = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = self.path  # the kernel inherits the runner's environment
        self.start = self.last_logged = self.clock()
        self.bar = tqdm(total=None, file=self.stream, disable=not self.live, leave=False, dynamic_ncols=True,
                        bar_format=_NO_TOTAL, desc=f"{self.label} · starting the kernel", unit="")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.bar.close()
        Path(self.path).unlink(missing_ok=True)
        if self._previous_env is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._previous_env

    def cell_started(self, index: int, source: str) -> None:
        """Called by the engine as each code cell starts (``index`` counts code cells from 1)."""
        self.cell = index
        self.cell_source = next((line.strip() for line in source.splitlines() if line.strip()), "")

    def _poll(self) -> None:
        while not self._stop.wait(_POLL_S):
            self.refresh()

    def refresh(self) -> str:
        """Redraw from the latest cell and phase; returns the line's text (for tests and logs)."""
        state = read_progress(self.path) or {}
        phase, done, total = state.get("phase"), int(state.get("done") or 0), state.get("total")
        now = self.clock()
        elapsed = now - self.start
        where = f"{self.label} cell {self.cell}/{self.n_cells}"
        what = phase or (f"`{self.cell_source[:60]}`" if self.cell else "starting the kernel")
        left = self._time_left(elapsed, state)
        if left is not None and left < 1 and self.expected_s is not None:
            timing = f"{format_minutes(elapsed)} elapsed, past the expected {format_minutes(self.expected_s)}"
        else:
            timing = f"{format_minutes(elapsed)} elapsed, ~{format_minutes(left)} left"
        warning = guard_warning(state)
        if warning:
            timing = f"{timing} · {warning}"
        line = f"{where} · {what} · {done}/{total} {state.get('unit', 'step')}s" if total else f"{where} · {what}"
        if self.live:
            # Text goes in as values (desc, unit), never into the format string: cell sources hold braces.
            self.bar.desc, self.bar.total, self.bar.n = f"{where} · {what}", total, done if total else 0
            self.bar.unit = f"{state.get('unit', 'step')}s · {timing}" if total else timing
            self.bar.bar_format = _WITH_TOTAL if total else _NO_TOTAL
            self.bar.refresh()
        elif phase and phase != self.last_phase:
            self._log(f"{line} ({timing})", now, _tenth(done, total))
        elif warning and warning != self.last_warning:  # a log gets the warning once, when it first appears
            self._log(f"{line} ({warning})", now, _tenth(done, total))
        elif self._log_due(now, _tenth(done, total)):  # alive, and how long it still needs
            rate = format_rate(state)
            self._log(f"{line}{f' · {rate}' if rate else ''} ({timing})" if total else f"{line} ({timing})", now,
                      _tenth(done, total))
        self.last_phase = phase or self.last_phase
        self.last_warning = warning or self.last_warning
        return f"{line} · {timing}"

    def _log(self, text: str, now: float, tenth: int) -> None:
        print(f"    {text}", file=self.stream, flush=True)
        self.last_logged, self.last_tenth = now, tenth

    def _log_due(self, now: float, tenth: int) -> bool:
        """A log line is due after :data:`_LOG_EVERY_S`, or at a further tenth of the steps after :data:`_LOG_MIN_S`."""
        quiet = now - self.last_logged
        return quiet >= _LOG_EVERY_S or (tenth > self.last_tenth and quiet >= _LOG_MIN_S)

    def _time_left(self, elapsed: float, state: dict) -> float | None:
        """Expected minus elapsed, but at least the current phase's remaining steps at their rate."""
        phase_left = None
        total, done, since = state.get("total"), state.get("done") or 0, state.get("started")
        counted = done - (state.get("initial") or 0)  # steps since the phase's clock started (a resumed run: not all)
        if total and counted > 0 and since is not None:
            phase_left = (state["time"] - since) / counted * (total - done)
        # Training stops at its time budget; before a first step gives a rate, the guard (a multiple of the expected
        # time) says nothing about the time left, so the run's expected time stands.
        if state.get("budget_s") is not None and since is not None and phase_left is not None:
            budget_left = max(0.0, state["budget_s"] - (state["time"] - since))
            phase_left = budget_left if phase_left is None else min(phase_left, budget_left)
        if self.expected_s is None:
            return phase_left
        return max(self.expected_s - elapsed, phase_left or 0.0)


def guard_warning(state: dict, min_steps: int = 5) -> str | None:
    """A warning when the phase's measured rate projects its time budget (the training guard) to stop it early:
    ``"at this rate training X will stop at ~14,000 of 20,000 steps; it resumes on the next make report"``.

    Needs ``min_steps`` steps done for a rate; None when the rate fits the budget or there is no budget.
    """
    total, done, since, budget = state.get("total"), state.get("done") or 0, state.get("started"), state.get("budget_s")
    initial = state.get("initial") or 0  # the budget counts from the step this call started at
    counted = done - initial
    if not total or budget is None or since is None or counted < min(min_steps, total - initial) or done >= total:
        return None
    rate = (state["time"] - since) / counted  # seconds per step so far
    if rate * (total - initial) <= budget:
        return None
    stop_at = min(total, initial + int(budget / rate))
    return (f"at this rate {state.get('phase') or 'this phase'} will stop at ~{stop_at:,} of {total:,} "
            f"{state.get('unit', 'step')}s; it resumes on the next make report")


def format_rate(state: dict) -> str:
    """The phase's measured rate, ``"12.5 steps/s"`` or ``"2.40 s/step"`` (from its ``initial`` count); ``""``
    before a first step."""
    counted, since = (state.get("done") or 0) - (state.get("initial") or 0), state.get("started")
    if counted <= 0 or since is None or state.get("time", since) <= since:
        return ""
    per_second, unit = counted / (state["time"] - since), state.get("unit", "step")
    return f"{per_second:.1f} {unit}s/s" if per_second >= 1 else f"{1 / per_second:.2f} s/{unit}"


def _tenth(done: int, total: int | None) -> int:
    """How many tenths of ``total`` ``done`` has passed (0 without a total)."""
    return int(done / total / _LOG_FRACTION) if total else 0


class ProgressEngine(NBClientEngine):
    """papermill's nbclient engine, telling a :class:`RunDisplay` (kwarg ``display``) which cell starts."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, display: RunDisplay | None = None, **kwargs):
        """See ``NBClientEngine.execute_managed_notebook``; only ``cell_start`` is wrapped."""
        if display is not None:
            code = [i for i, cell in enumerate(nb_man.nb.cells) if cell.cell_type == "code"]
            original = nb_man.cell_start

            def cell_start(cell, cell_index=None, **kw):
                if cell_index in code:
                    display.cell_started(code.index(cell_index) + 1, cell.source)
                return original(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register(ENGINE, ProgressEngine)
