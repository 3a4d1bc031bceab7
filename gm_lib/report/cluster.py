"""``make report EXECUTOR=slurm``: each notebook run of the manifest as one Slurm job, through submitit.

When one machine is not enough (the ``full`` profile, several seeds or datasets), the runs go to the
cluster's own scheduler rather than to one of ours: submitit (https://github.com/facebookincubator/submitit)
pickles :func:`gm_lib.report.run.execute_run` with its arguments, ``sbatch``-es it and hands back the
:class:`~gm_lib.report.run.Outcome`. The jobs write where a local run writes — figures, executed notebooks
and the checkpoint cache (``$GM_CACHE_DIR``) — so those must be on the cluster's shared file system, as is
the repository with its ``.venv``; the runner passes ``GM_DATA_DIR`` and ``GM_CACHE_DIR`` to every job
explicitly. A run waits for the runs named in its manifest ``after:`` list (05 reuses the models of 01 and
04 from the cache): as a Slurm dependency ``afterany`` (it still runs when one of them failed, as in a local
report, and trains what it misses), or, for submitit's local executor, by waiting before it is submitted.

``--executor submitit-local`` runs the same job path on this machine (submitit's LocalExecutor, one
process per run); the tests use it.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from gm_lib.paths import cache_dir, data_root
from gm_lib.report.run import Outcome, RunSpec, execute_run, resolve_device

__all__ = ["EXECUTORS", "submit_runs"]

EXECUTORS = ("local", "slurm", "submitit-local")


def submit_runs(
    specs: list[RunSpec], *, kind: str, folder: Path, options: dict[str, Any], run_kwargs: dict[str, Any],
    echo=print,
) -> dict[str, Outcome]:
    """Submit ``specs`` (manifest order) as one job each, wait for all, return ``{run name: Outcome}``.

    Args:
        kind: ``"slurm"`` or ``"submitit-local"``.
        folder: submitit's folder for pickles and job logs (``%j`` is the job id); on the shared file system.
        options: submitit parameters, e.g. ``{"timeout_min": 240, "slurm_partition": "gpu"}``.
        run_kwargs: keyword arguments of :func:`execute_run` (profile, seed, device, directories, ...).
        echo: prints one line per submitted and per finished run.

    A job that dies (timeout, node failure) becomes a ``failed`` Outcome naming its log file.
    """
    import submitit

    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="local" if kind == "submitit-local" else "slurm")
    executor.update_parameters(name="gm-lab-report", **options)
    env = {"GM_DATA_DIR": str(data_root()), "GM_CACHE_DIR": str(cache_dir())}
    jobs: dict[str, Any] = {}
    for spec in specs:
        waits_for = [jobs[name] for name in spec.after if name in jobs]
        if kind == "slurm" and waits_for:
            dependency = "afterany:" + ":".join(str(job.job_id) for job in waits_for)
            executor.update_parameters(slurm_additional_parameters={"dependency": dependency})
        elif kind == "slurm":
            executor.update_parameters(slurm_additional_parameters={})
        else:
            for job in waits_for:  # the local executor has no dependencies: wait here
                job.wait()
        jobs[spec.name] = executor.submit(_job, spec, run_kwargs, env)
        after = f" after {', '.join(spec.after)}" if waits_for else ""
        echo(f"submitted {spec.name} ({spec.notebook.name}) as job {jobs[spec.name].job_id}{after}")
    return _collect(specs, jobs, run_kwargs, echo)


def _job(spec: RunSpec, run_kwargs: dict[str, Any], env: dict[str, str]) -> Outcome:
    """What runs on the node: the runner's environment, the node's device, then :func:`execute_run`."""
    os.environ.update(env)  # before gm_lib reads them, and inherited by the notebook's kernel
    return execute_run(spec, **{**run_kwargs, "device": resolve_device(run_kwargs["device"])})


def _collect(specs: list[RunSpec], jobs: dict[str, Any], run_kwargs: dict[str, Any], echo) -> dict[str, Outcome]:
    from gm_lib.report import describe

    outcomes: dict[str, Outcome] = {}
    pending = dict(jobs)
    while pending:
        for name, job in list(pending.items()):
            if not job.done():
                continue
            spec = next(s for s in specs if s.name == name)
            try:
                outcome = job.result()
                outcome = replace(outcome, spec=spec)
            except Exception as error:  # the job itself died: timeout, node failure, out of memory
                output_dir = (Path(run_kwargs["figures_dir"]) / name).absolute()
                reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
                outcome = Outcome(spec, "failed", output_dir, None, None, reason,
                                  f"see the job's log {job.paths.stderr}", cell=f"job {job.job_id}")
            outcomes[name] = outcome
            echo(f"{name} (job {job.job_id}): {describe(outcome)}")
            del pending[name]
        time.sleep(1.0)
    return outcomes
