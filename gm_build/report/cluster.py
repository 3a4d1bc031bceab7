"""``make report EXECUTOR=slurm``: each notebook run of the manifest, at each seed, as one Slurm job, through submitit.

When one machine is not enough (the ``full`` profile, several seeds or datasets), the runs go to the
cluster's own scheduler rather than to one of ours: submitit (https://github.com/facebookincubator/submitit)
pickles :func:`gm_build.report.run.execute_run` with its arguments, ``sbatch``-es it and hands back the
:class:`~gm_build.report.run.Outcome`. The jobs write where a local run writes — figures, executed notebooks
and the checkpoint cache (``$GM_CACHE_DIR``) — so those must be on the cluster's shared file system, as is
the repository with its ``.venv``; the runner passes ``GM_DATA_DIR`` and ``GM_CACHE_DIR`` to every job
explicitly. A run waits for the runs named in its manifest ``after:`` list at the same seed (05 reuses the
models of 01 and 04 of its seed from the cache): as a Slurm dependency ``afterany`` (it still runs when one of
them failed, as in a local report, and trains what it misses), or, for submitit's local executor, by waiting
before it is submitted.

``--executor submitit-local`` runs the same job path on this machine (submitit's LocalExecutor, one
process per run); the tests use it.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from gm_build.report.manifest import RunSpec, resolve_device
from gm_build.report.run import Outcome, describe, execute_run, run_paths
from gm_lib.paths import cache_dir, data_root

__all__ = ["EXECUTORS", "submit_runs"]

EXECUTORS = ("local", "slurm", "submitit-local")


def submit_runs(
    specs: list[RunSpec], *, kind: str, folder: Path, options: dict[str, Any], run_kwargs: dict[str, Any],
    seeds: list[int], echo=print,
) -> dict[tuple[str, int], Outcome]:
    """Submit ``specs`` (manifest order) at each of ``seeds`` as one job each, wait for all; ``{(run, seed): Outcome}``.

    Args:
        kind: ``"slurm"`` or ``"submitit-local"``.
        folder: submitit's folder for pickles and job logs (``%j`` is the job id); on the shared file system.
        options: submitit parameters, e.g. ``{"timeout_min": 240, "slurm_partition": "gpu"}``.
        run_kwargs: keyword arguments of :func:`execute_run` but the seed (profile, device, directories, per_seed, ...).
        seeds: the seeds; with more than one, each line names the seed.
        echo: prints one line per submitted and per finished job.

    A job that dies (timeout, node failure) becomes a ``failed`` Outcome naming its log file.
    """
    import submitit

    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="local" if kind == "submitit-local" else "slurm")
    executor.update_parameters(name="gm-lab-report", **options)
    env = {"GM_DATA_DIR": str(data_root()), "GM_CACHE_DIR": str(cache_dir())}
    jobs: dict[tuple[str, int], Any] = {}
    for seed in seeds:
        for spec in specs:
            waits_for = [jobs[name, seed] for name in spec.after if (name, seed) in jobs]
            if kind == "slurm" and waits_for:
                dependency = "afterany:" + ":".join(str(job.job_id) for job in waits_for)
                executor.update_parameters(slurm_additional_parameters={"dependency": dependency})
            elif kind == "slurm":
                executor.update_parameters(slurm_additional_parameters={})
            else:
                for job in waits_for:  # the local executor has no dependencies: wait here
                    job.wait()
            jobs[spec.name, seed] = executor.submit(_job, spec, seed, run_kwargs, env)
            after = f" after {', '.join(spec.after)}" if waits_for else ""
            echo(f"submitted {_label(spec.name, seed, seeds)} ({spec.notebook.name}) as job "
                 f"{jobs[spec.name, seed].job_id}{after}")
    return _collect(specs, jobs, run_kwargs, seeds, echo)


def _job(spec: RunSpec, seed: int, run_kwargs: dict[str, Any], env: dict[str, str]) -> Outcome:
    """What runs on the node: the runner's environment, the node's device, then :func:`execute_run`."""
    os.environ.update(env)  # before gm_lib reads them, and inherited by the notebook's kernel
    return execute_run(spec, seed=seed, **{**run_kwargs, "device": resolve_device(run_kwargs["device"])})


def _label(name: str, seed: int, seeds: list[int]) -> str:
    return name if len(seeds) == 1 else f"{name} seed {seed}"


def _collect(
    specs: list[RunSpec], jobs: dict[tuple[str, int], Any], run_kwargs: dict[str, Any], seeds: list[int], echo,
) -> dict[tuple[str, int], Outcome]:

    outcomes: dict[tuple[str, int], Outcome] = {}
    pending = dict(jobs)
    while pending:
        for (name, seed), job in list(pending.items()):
            if not job.done():
                continue
            spec = next(s for s in specs if s.name == name)
            try:
                outcome = replace(job.result(), spec=spec)
            except Exception as error:  # the job itself died: timeout, node failure, out of memory
                output_dir, _ = run_paths(name, seed, Path(run_kwargs["figures_dir"]), Path(run_kwargs["reports_dir"]),
                                          run_kwargs.get("per_seed", False))
                reason = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
                outcome = Outcome(spec, "failed", output_dir, None, None, reason,
                                  f"see the job's log {job.paths.stderr}", cell=f"job {job.job_id}", seed=seed)
            outcomes[name, seed] = outcome
            echo(f"{_label(name, seed, seeds)} (job {job.job_id}): {describe(outcome)}")
            del pending[name, seed]
        time.sleep(1.0)
    return outcomes
