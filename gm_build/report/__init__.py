"""``make report``: re-execute the manifest's notebooks with papermill and rebuild the report.

Usage:
    python -m gm_build.report --profile default [--manifest reports/manifest.yaml] [--only RUN ...]
                            [--seed N | --seeds 0,1,2] [--device auto|cpu|cuda] [--precision auto|fp32|bf16] [--force]
                            [--reports-dir reports] [--figures-dir figures]
                            [--executor local|slurm] [--slurm-partition P] [--slurm-timeout-min 240]
                            [--slurm-gpus 0] [--slurm-cpus 8] [--plan]

Writes ``<reports>/executed/<run>.{ipynb,html}``, ``<figures>/<run>/`` (figures + results.json) and
``<reports>/report.{md,html,pdf}``. Seeds: each run is executed once per seed, ``--seeds`` (e.g. ``0,1,2``),
else the profile's ``seeds`` count starting at ``--seed`` or the manifest's seed (``full``: 3, the others: 1);
with several seeds each goes to ``<figures>/<run>/seed<k>/`` and ``<reports>/executed/<run>-seed<k>.*``, and
the report shows mean ± sd over the seeds (:mod:`gm_build.report.seeds`).

Exit status 0 when every selected run succeeded or was skipped because its data is unavailable; 1 when a
notebook failed (named with its cell; the other runs still run and the report marks it FAILED); 2 for bad
arguments or a missing kernel.

Incremental: a run whose notebook file, parameters (profile, seed, device, precision, ...), the code of the
gm_lib modules its cells import and its models' cache keys are unchanged since its last successful
execution, and whose results.json is still there, is not re-executed (status "cached",
:mod:`gm_build.report.plan`); a change of the report builder alone rebuilds the report and executes nothing;
``--force`` re-executes everything. Models and metrics are also cached by the library itself
(load-or-train), so a forced re-run is quick when checkpoints exist. ``--plan`` (``make report PLAN=1``)
prints what a run would do, per notebook run and per model, with the reasons, and runs nothing.

``--executor slurm`` submits each selected run and seed as one Slurm job with submitit and waits for them all
(see :mod:`gm_build.report.cluster`); ``local`` (the default) runs them one after the other here, showing
a live progress line per notebook (:mod:`gm_build.report.progress`).
"""

from gm_build.report.cli import main, parse_args, print_plan, resolve_seeds

__all__ = ["main", "parse_args", "resolve_seeds", "print_plan"]
