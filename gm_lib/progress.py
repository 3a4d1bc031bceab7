"""Where a running notebook is, told to the report runner that shows it in the terminal.

``make report`` runs each notebook in a Jupyter kernel; whatever the kernel prints lands in the executed
notebook, not on the user's terminal. So the library writes its current phase (``"training gan_svhn_dcgan"``,
step 120 of 400) to a small JSON file named by ``$GM_PROGRESS_FILE``, and the runner
(:mod:`gm_build.report.progress`) polls it and draws one tqdm line. Without the variable (a notebook in
JupyterLab, a test) every call here is a no-op.

Phases of a ``kind`` (``"training"``, ``"evaluation"``) also add their wall time to :func:`time_spent`, with or
without the variable: a notebook's :class:`gm_lib.results.Recorder` saves the split, and ``make report`` prints
the totals, so one sees whether evaluation costs more than training.

File format, replaced atomically on each write::

    {"phase": "training ae_mnist_vae", "done": 120, "total": 400, "unit": "step",
     "time": 1700000030.0, "started": 1700000000.0,        # Unix seconds: now, and when the phase began counting
     "initial": 100,                                       # the count it began from (a resumed run: its checkpoint's)
     "budget_s": 300.0}                                    # the phase stops by then (None: no budget)

The runner's rate is ``(done - initial) / (time - started)``: a :class:`TrainingBar` restarts the phase's clock
when it is made, from its ``initial`` count, so a run resumed at step 10,000 is not credited with those steps.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from tqdm import tqdm

__all__ = ["PROGRESS_ENV", "PHASE_KINDS", "report_phase", "phase", "time_spent", "TrainingBar", "read_progress"]

PROGRESS_ENV = "GM_PROGRESS_FILE"
_MIN_INTERVAL_S = 0.5  # a write costs ~0.1 ms; twice a second is plenty for a terminal line
_label: ContextVar[str | None] = ContextVar("gm_progress_label", default=None)
_last_write = 0.0
_current = ("", 0.0, 0)  # (label, time it started counting, count it started from): the runner's rate
_budget: float | None = None  # the current phase's time budget (s), if it has one
PHASE_KINDS = ("training", "evaluation")
_spent = dict.fromkeys(PHASE_KINDS, 0.0)  # wall seconds in this process, outermost kinded phases only
_timing: ContextVar[bool] = ContextVar("gm_progress_timing", default=False)  # inside a kinded phase already


def report_phase(label: str, done: int = 0, total: int | None = None, unit: str = "step", force: bool = False,
                 budget_s: float | None = None, restart: bool = False) -> None:
    """Publish ``label`` with ``done`` of ``total`` units (throttled unless ``force``); no-op without the env var.

    ``budget_s``: wall-clock seconds after which the phase stops whatever its count (a training time budget).
    ``restart``: the phase's count starts here, at ``done`` (a bar resuming a run): its rate is measured from now.
    """
    global _last_write, _current, _budget
    path = os.environ.get(PROGRESS_ENV)
    now = time.time()
    if label != _current[0]:
        _budget = budget_s
    if label != _current[0] or restart:
        _current = (label, now, int(done))
    if not path or (not force and now - _last_write < _MIN_INTERVAL_S):
        return
    _last_write = now
    state = {"phase": label, "done": int(done), "total": total, "unit": unit, "time": now, "started": _current[1],
             "initial": _current[2], "budget_s": _budget}
    temp = Path(f"{path}.{os.getpid()}.tmp")
    try:
        temp.write_text(json.dumps(state))
        os.replace(temp, path)  # the reader never sees half a file
    except OSError:
        pass  # progress is a courtesy: never fail a notebook over it


@contextmanager
def phase(label: str, total: int | None = None, unit: str = "step", budget_s: float | None = None,
          kind: str | None = None) -> Iterator[None]:
    """Name what the code inside does (e.g. ``"FID gan_mnist_dcgan"``); a :class:`TrainingBar` inside adopts it.

    ``kind`` (one of :data:`PHASE_KINDS`) adds the phase's wall time to :func:`time_spent`; a kinded phase
    inside another counts once, as the outer one's kind (the classifier FID inside a training loop is training).

    Raises:
        ValueError: ``kind`` is not None or one of :data:`PHASE_KINDS`.
    """
    if kind is not None and kind not in PHASE_KINDS:
        raise ValueError(f"phase kind must be one of {PHASE_KINDS} or None, got {kind!r}")
    timed = kind is not None and not _timing.get()
    tokens = (_label.set(label), _timing.set(_timing.get() or timed))
    report_phase(label, 0, total, unit, force=True, budget_s=budget_s)
    start = time.perf_counter()
    try:
        yield
    finally:
        if timed:
            _spent[kind] += time.perf_counter() - start
        _label.reset(tokens[0])
        _timing.reset(tokens[1])
        report_phase("", force=True)  # phase over: the runner shows the running cell again


def time_spent() -> dict[str, float]:
    """Wall seconds this process spent in phases of each kind so far: ``{"training": 812.4, "evaluation": 95.1}``."""
    return dict(_spent)


class TrainingBar(tqdm):
    """tqdm that also publishes its count under the enclosing :func:`phase` label (even when disabled).

    Made with ``initial=k`` (a run resumed at step k), it restarts the phase's clock at k (``report_phase(restart=)``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._gm_done = self.n  # tqdm's ``initial``, also when disabled
        report_phase(_label.get() or "training", self.n, self.total, force=True, restart=True)

    def update(self, n: float | None = 1) -> bool | None:
        """Advance by ``n`` steps (see ``tqdm.update``) and publish the new count."""
        shown = super().update(n)
        done = self.n if not self.disable else self._gm_done + (n or 0)
        self._gm_done = done
        report_phase(_label.get() or "training", done, self.total, force=done == self.total)
        return shown


def read_progress(path: str | Path) -> dict | None:
    """The last state written to ``path``, or None when there is none (yet) or it cannot be read."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
