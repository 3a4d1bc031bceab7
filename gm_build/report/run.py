"""Execute the manifest's notebooks headless with papermill on the ``gm-lab`` kernel.

Each run gets the papermill parameters ``profile``, ``seed``, ``device``, ``precision``, ``output_dir``
(``<figures>/<run>/``, where the notebook writes its figures and results.json) and ``run_name``,
plus the manifest's own parameters. The executed notebook goes to ``<reports>/executed/<run>.ipynb``
(also exported to ``.html``), partial output included when a cell raised. A report over several seeds
executes each run once per seed into ``<figures>/<run>/seed<k>/`` and ``<reports>/executed/<run>-seed<k>.ipynb``
(:func:`run_paths`); with one seed the paths above stay.

Outcomes: ``ok``; ``cached`` (skipped: notebook file, parameters, the gm_lib modules its cells import and its
models' cache keys unchanged since a successful run whose results.json is still there, :mod:`gm_build.report.plan`;
``--force`` re-runs); ``unavailable`` (the
notebook raised ``gm_lib.data.DatasetUnavailable``: reported as not run, with reason and fix, and no
other dataset is substituted); ``failed`` (any other exception: named by notebook and cell);
``not_selected`` (left out by ``--only``; its earlier results are shown when they exist).
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from gm_build.report.manifest import RunSpec, run_parameters
from gm_build.report.plan import STAMP_FILE, stale_reasons, stamp
from gm_build.report.progress import ENGINE, RunDisplay
from gm_lib.cache import atomic_write
from gm_lib.results import RESULTS_FILE

__all__ = [
    "KERNEL",
    "Outcome",
    "check_kernel",
    "run_paths",
    "execute_run",
    "expected_seconds",
    "previous_outcome",
]

KERNEL = "gm-lab"
Status = Literal["ok", "cached", "unavailable", "failed", "not_selected"]
# ipykernel warns on every start that its local TCP sockets are unencrypted; the kernel runs on this
# machine for this user only, so the warning is noise on the report's terminal. Errors still show.
_QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]
_DEFAULT_FIX = "make the dataset's files available under GM_DATA_DIR (see README, Data) and run `make report` again"


@dataclass(frozen=True)
class Outcome:
    """What happened to one run at one seed.

    ``cell`` names the failing cell, ``reason``/``fix`` explain a skip or failure. ``seed`` is None for
    outcomes made without one (older callers); the report then takes its own seed.
    """

    spec: RunSpec
    status: Status
    output_dir: Path
    executed: Path | None = None
    wall_time_s: float | None = None
    reason: str = ""
    fix: str = ""
    cell: str = ""
    seed: int | None = None


def check_kernel(kernel: str = KERNEL) -> None:
    """Fail clearly unless ``kernel`` is registered and runs this very Python environment (the .venv)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise RuntimeError(f"Jupyter kernel {kernel!r} is not registered: run `make setup`") from None
    python = Path(spec.argv[0])
    if python.is_absolute() and not python.absolute().is_relative_to(Path(sys.prefix).absolute()):
        raise RuntimeError(f"kernel {kernel!r} runs {python}, not this environment ({sys.prefix}): run `make setup`")


def run_paths(name: str, seed: int, figures_dir: Path, reports_dir: Path, per_seed: bool) -> tuple[Path, Path]:
    """``(output_dir, executed notebook)`` of run ``name`` at ``seed``, both absolute.

    ``per_seed`` (a report over several seeds): ``<figures>/<name>/seed<k>/`` and
    ``<reports>/executed/<name>-seed<k>.ipynb``, so the seeds do not overwrite each other; otherwise
    ``<figures>/<name>/`` and ``<reports>/executed/<name>.ipynb`` as for a one-seed report.
    """
    if not per_seed:
        return (figures_dir / name).absolute(), (reports_dir / "executed" / f"{name}.ipynb").absolute()
    executed = reports_dir / "executed" / f"{name}-seed{seed}.ipynb"
    return (figures_dir / name / f"seed{seed}").absolute(), executed.absolute()


def execute_run(
    spec: RunSpec, *, profile: str, seed: int, device: str, reports_dir: Path, figures_dir: Path,
    precision: str = "auto", force: bool = False, kernel: str = KERNEL, per_seed: bool = False,
) -> Outcome:
    """Run one notebook with papermill and classify the result (never raises for a notebook's own error).

    ``per_seed``: write into the seed's own folders (:func:`run_paths`), for a report over several seeds.
    """
    outcome = _execute(spec, profile=profile, seed=seed, device=device, reports_dir=reports_dir,
                       figures_dir=figures_dir, precision=precision, force=force, kernel=kernel, per_seed=per_seed)
    return replace(outcome, seed=seed)


def _execute(
    spec: RunSpec, *, profile: str, seed: int, device: str, reports_dir: Path, figures_dir: Path,
    precision: str, force: bool, kernel: str, per_seed: bool,
) -> Outcome:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output_dir, executed = run_paths(spec.name, seed, figures_dir, reports_dir, per_seed)
    params = run_parameters(spec, profile=profile, seed=seed, device=device, precision=precision,
                            output_dir=output_dir)
    if not spec.notebook.is_file():
        return Outcome(spec, "failed", output_dir, reason=f"notebook {spec.notebook} not found", fix="fix the manifest")
    if not force and executed.is_file() and not stale_reasons(spec.notebook, params, output_dir, RESULTS_FILE):
        return Outcome(spec, "cached", output_dir, executed, _recorded_wall_time(output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    executed.parent.mkdir(parents=True, exist_ok=True)
    expected_s = expected_seconds(spec, profile, output_dir)
    (output_dir / STAMP_FILE).unlink(missing_ok=True)
    # Stamped with the code the run starts from: an edit made while it runs leaves it stale, never falsely current.
    started_from = stamp(spec.notebook, params)
    (output_dir / RESULTS_FILE).unlink(missing_ok=True)  # never report a stale result as this run's
    start = time.perf_counter()
    try:
        with RunDisplay(spec.name, _count_code_cells(spec.notebook) + 1, expected_s) as display:  # +1: injected
            papermill.execute_notebook(
                str(spec.notebook), str(executed), parameters=params, kernel_name=kernel,
                cwd=str(spec.notebook.parent), progress_bar=False, log_output=False,
                engine_name=ENGINE, display=display, extra_arguments=_QUIET_KERNEL,
            )
        outcome = Outcome(spec, "ok", output_dir, executed, time.perf_counter() - start)
    except PapermillExecutionError as error:
        outcome = _classify(spec, error, output_dir, executed, time.perf_counter() - start)
    except Exception as error:  # the kernel died (out of memory, ...) or could not start: still a named failure
        reason = f"{type(error).__name__}: {error}"
        outcome = Outcome(spec, "failed", output_dir, executed, time.perf_counter() - start, reason, cell="the kernel")
    _export_html(executed)
    if outcome.status == "ok":
        if not (output_dir / RESULTS_FILE).is_file():
            reason = f"the notebook finished without writing {RESULTS_FILE} into output_dir"
            return Outcome(spec, "failed", output_dir, executed, outcome.wall_time_s, reason, "call Recorder.save()")
        atomic_write(output_dir / STAMP_FILE, json.dumps(started_from, indent=1).encode())
    return outcome


def expected_seconds(spec: RunSpec, profile: str, output_dir: Path) -> float | None:
    """The run's last recorded wall time at this profile, else the manifest's ``minutes[profile]``, else None."""
    try:
        results = json.loads((output_dir / RESULTS_FILE).read_text())
        if results.get("profile") == profile:
            return float(results["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    minutes = spec.minutes.get(profile)
    return None if minutes is None else 60.0 * minutes


def previous_outcome(
    spec: RunSpec, figures_dir: Path, reports_dir: Path, seed: int | None = None, per_seed: bool = False,
) -> Outcome:
    """A run left out by ``--only``: its earlier results.json at ``seed`` (see :func:`run_paths`) when there is one.

    With ``per_seed``, a one-seed report's results (``<figures>/<run>/``) stand in for a seed folder that is
    missing when they were recorded at that seed, so ``SEEDS=0,1 ONLY=toy`` after a plain report still shows
    the other runs (at seed 0 only, as their sections say).
    """
    output_dir, executed = run_paths(spec.name, seed or 0, figures_dir, reports_dir, per_seed)
    if per_seed and not (output_dir / RESULTS_FILE).is_file():
        single_dir, single_executed = run_paths(spec.name, seed or 0, figures_dir, reports_dir, False)
        if _recorded_seed(single_dir) == seed:
            output_dir, executed = single_dir, single_executed
    found = (output_dir / RESULTS_FILE).is_file()
    reason = "not selected by --only; showing its previous results" if found else "not selected by --only"
    return Outcome(spec, "not_selected", output_dir, executed if executed.is_file() else None,
                   _recorded_wall_time(output_dir) if found else None, reason, seed=seed)


def _classify(spec: RunSpec, error: Any, output_dir: Path, executed: Path, wall: float) -> Outcome:
    if error.ename == "DatasetUnavailable":
        reason, fix = _split_fix(str(error.evalue))
        return Outcome(spec, "unavailable", output_dir, executed, wall, reason, fix)
    index = _source_index(spec.notebook, error.source, error.cell_index)
    first = next((line for line in str(error.source).splitlines() if line.strip()), "").strip()
    cell = f"cell {index} (`{first[:80]}`)"
    return Outcome(spec, "failed", output_dir, executed, wall, f"{error.ename}: {error.evalue}", "", cell)


def _count_code_cells(notebook: Path) -> int:
    try:
        return sum(cell.get("cell_type") == "code" for cell in json.loads(notebook.read_text())["cells"])
    except (OSError, ValueError, KeyError):
        return 0


def _split_fix(message: str) -> tuple[str, str]:
    """gm_lib.data phrases its errors '<what is missing>: <how to fix it>'."""
    match = re.match(r"^(.*?): ((?:put|point|run|install|download|set|copy) .*)$", message, flags=re.DOTALL)
    return (match.group(1), match.group(2)) if match else (message, _DEFAULT_FIX)


def _source_index(notebook: Path, source: str, fallback: int) -> int:
    """The failing cell's index in the source notebook (papermill's injected cell shifts the executed one)."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return fallback
    for i, cell in enumerate(cells):
        text = cell.get("source", "")
        if ("".join(text) if isinstance(text, list) else text) == source:
            return i
    return fallback


def _export_html(executed: Path) -> None:
    """The executed notebook as standalone HTML beside it (figures inlined), for readers without Jupyter."""
    if not executed.is_file():
        return
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    executed.with_suffix(".html").write_text(body, encoding="utf-8")


def _recorded_seed(output_dir: Path) -> int | None:
    try:
        return int(json.loads((output_dir / RESULTS_FILE).read_text())["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recorded_wall_time(output_dir: Path) -> float | None:
    try:
        return float(json.loads((output_dir / RESULTS_FILE).read_text())["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe(outcome: Outcome) -> str:
    """One terminal line for a run's outcome."""
    wall = f" ({outcome.wall_time_s:.1f} s)" if outcome.wall_time_s is not None else ""
    if outcome.status == "unavailable":
        return f"NOT RUN (data unavailable): {outcome.reason}. Fix: {outcome.fix}"
    if outcome.status == "failed":
        where = f" in {outcome.cell}" if outcome.cell else ""
        kept = f"; partial output kept in {outcome.executed}" if outcome.executed else ""
        return f"FAILED{where}{wall}: {outcome.reason}{kept}"
    if outcome.status == "cached":
        took = f", it took {outcome.wall_time_s:.1f} s" if outcome.wall_time_s is not None else ""
        return f"unchanged since its last run{took}: not re-executed (--force re-runs it)"
    return f"ok{wall}"
