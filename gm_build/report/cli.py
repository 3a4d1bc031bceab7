"""The ``make report`` command line: parse the arguments, run (or plan) the notebooks, build the report.

See :mod:`gm_build.report` for the usage.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from gm_build.report.build import ReportContext, write_report
from gm_build.report.cluster import EXECUTORS
from gm_build.report.manifest import RunSpec, load_manifest, resolve_device, run_parameters
from gm_build.report.plan import (
    ModelPlan,
    format_plan,
    model_plans,
    notebook_runs,
    results_versions_note,
    stale_reasons,
)
from gm_build.report.progress import format_minutes
from gm_build.report.run import (
    KERNEL,
    Outcome,
    check_kernel,
    describe,
    execute_run,
    expected_seconds,
    previous_outcome,
    run_paths,
)
from gm_build.report.timing import describe_time_split
from gm_lib.data import DatasetUnavailable, load_dataset
from gm_lib.paths import repo_root
from gm_lib.profiles import PROFILES
from gm_lib.results import RESULTS_FILE, git_commit

__all__ = ["main", "parse_args", "resolve_seeds", "print_plan"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The CLI above; paths default to the repository's reports/ and figures/."""
    root = repo_root()
    parser = argparse.ArgumentParser(prog="python -m gm_build.report", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["smoke", "default", "full"], default="default")
    parser.add_argument("--manifest", type=Path, default=root / "reports" / "manifest.yaml")
    parser.add_argument("--only", nargs="+", metavar="RUN", help="run names to execute (others: earlier results)")
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: the manifest's seed)")
    parser.add_argument("--seeds", type=_seed_list, default=None, metavar="S,S,...",
                        help="seeds to run every notebook with, e.g. 0,1,2 (default: the profile's count from --seed)")
    parser.add_argument("--device", default="auto", help="auto (cuda if visible, else mps, else cpu), cpu, cuda, mps")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="auto: bf16 only for families it keeps the quality of, on hardware where it is faster")
    parser.add_argument("--force", action="store_true", help="re-execute runs even when nothing changed")
    parser.add_argument("--kernel", default=KERNEL, help=argparse.SUPPRESS)
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local: one notebook after the other here; slurm: one Slurm job per run (submitit)")
    parser.add_argument("--slurm-partition", default=None, help="Slurm partition for --executor slurm")
    parser.add_argument("--slurm-timeout-min", type=int, default=240, help="time limit per job (minutes)")
    parser.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per job")
    parser.add_argument("--slurm-cpus", type=int, default=8, help="CPU cores per job")
    parser.add_argument("--plan", action="store_true",
                        help="print per notebook run and model: cached, or re-execute / train and why; run nothing")
    parser.add_argument("--reports-dir", type=Path, default=root / "reports")
    parser.add_argument("--figures-dir", type=Path, default=root / "figures")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the report pipeline; returns the exit status (see the module docstring)."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = load_manifest(args.manifest)
        names = [run.name for run in manifest.runs]
        unknown = sorted(set(args.only or []) - set(names))
        if unknown:
            raise ValueError(f"--only: unknown run(s) {unknown}; the manifest has {names}")
        if not args.plan:
            check_kernel(args.kernel)
        seeds = resolve_seeds(args.seeds, args.seed, manifest.seed, args.profile)
        local = args.executor == "local"
        device = resolve_device(args.device) if local else args.device  # a cluster job resolves it on its node
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.plan:
        return print_plan(manifest.runs, seeds, args)
    reports_dir, figures_dir = args.reports_dir.absolute(), args.figures_dir.absolute()
    print(f"report: profile {args.profile}, {_seed_words(seeds)}, device {device}, precision {args.precision}, "
          f"{len(names)} run(s) in {args.manifest}" + ("" if local else f", executor {args.executor}"))
    per_seed = len(seeds) > 1
    run_kwargs = dict(profile=args.profile, device=device, precision=args.precision, reports_dir=reports_dir,
                      figures_dir=figures_dir, force=args.force, kernel=args.kernel, per_seed=per_seed)
    selected = [spec for spec in manifest.runs if not args.only or spec.name in args.only]
    if local:
        done = _run_locally(selected, seeds, run_kwargs, names)
    else:
        done = _run_on_cluster(selected, seeds, run_kwargs, args)
    outcomes: list[Outcome] = [
        done.get((spec.name, seed)) or previous_outcome(spec, figures_dir, reports_dir, seed, per_seed)
        for spec in manifest.runs for seed in seeds]
    context = ReportContext(args.profile, seeds[0], device, args.precision, time.perf_counter() - start,
                            datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), git_commit(), tuple(seeds))
    paths = write_report(outcomes, context, reports_dir)
    print(f"report: {paths['md']}, {paths['html'].name}, {paths['pdf'].name} ({time.perf_counter() - start:.0f} s)")
    print(describe_time_split(outcomes))
    missing_data_line([f"{o.reason}: {o.fix}" for o in outcomes if o.status == "unavailable"])
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        at = f" (seed {o.seed})" if per_seed else ""
        print(f"error: {o.spec.name}{at}: {o.spec.notebook} failed in {o.cell or 'setup'}: {o.reason}", file=sys.stderr)
    return 1 if failed else 0


def print_plan(specs: tuple[RunSpec, ...], seeds: list[int], args: argparse.Namespace) -> int:
    """``make report PLAN=1``: each selected notebook run (and seed) and its models, cached or why not; runs nothing."""
    per_seed = len(seeds) > 1
    device = resolve_device(args.device)
    reports_dir, figures_dir = args.reports_dir.absolute(), args.figures_dir.absolute()
    planned: dict[str, str] = {}  # run folder -> the notebook run above that trains it
    unavailable: list[str] = []
    for seed in seeds:
        for spec in specs:
            if args.only and spec.name not in args.only:
                continue
            output_dir, executed = run_paths(spec.name, seed, figures_dir, reports_dir, per_seed)
            params = run_parameters(spec, profile=args.profile, seed=seed, device=device, precision=args.precision,
                                    output_dir=output_dir)
            try:
                reasons = ["--force"] if args.force else stale_reasons(spec.notebook, params, output_dir, RESULTS_FILE)
                if not reasons and not executed.is_file():
                    reasons = [f"its executed notebook {executed.name} is missing"]
                _check_data(spec.notebook, params)
                models = [_trained_above(m, planned, spec.name) for m in model_plans(spec.notebook, params)]
            except DatasetUnavailable as error:
                print(f"{spec.name}: not run, data unavailable: {error}")  # the message names make data DATASETS=
                unavailable.append(str(error))
                continue
            note = "" if reasons else results_versions_note(output_dir, RESULTS_FILE)
            for line in format_plan(spec.name, f" (seed {seed})" if per_seed else "", reasons, models, note):
                print(line)
    print("report: rebuilt from these runs' results (the builder never trains)")
    missing_data_line(unavailable)
    return 0


def missing_data_line(messages: list[str]) -> None:
    """One closing line naming the command that fetches every missing dataset (from DatasetUnavailable messages)."""
    names = sorted({name for text in messages for name in re.findall(r"make data DATASETS=(\w+)", text)})
    if names:
        print(f"missing data: make data DATASETS={','.join(names)} fetches it (then make report again)")


def _check_data(notebook: Path, params: dict) -> None:
    """Raise DatasetUnavailable when a dataset the notebook's models train on is missing (never downloads)."""
    for spec in {run.data for run in notebook_runs(notebook, params).values()}:
        load_dataset(spec.name, spec.split, n=1, binarize=spec.binarize, holdout=spec.holdout)


def _trained_above(model: ModelPlan, planned: dict[str, str], run_name: str) -> ModelPlan:
    """A model an earlier notebook run of the plan trains is loaded here (05 loads 01's and 04's models)."""
    if model.action in ("train", "unavailable") and model.run_dir.name in planned:
        return replace(model, action="cached", reason=f"trained by {planned[model.run_dir.name]} above")
    if model.action == "train":
        planned[model.run_dir.name] = run_name
    return model


def resolve_seeds(given: list[int] | None, first: int | None, manifest_seed: int, profile: str) -> list[int]:
    """The seeds to run: ``--seeds`` as given, else the profile's ``seeds`` count from ``--seed`` (or the manifest's).

    Raises ValueError when both ``--seeds`` and ``--seed`` are given.
    """
    if given is not None:
        if first is not None:
            raise ValueError("give either --seed N (the first of the profile's seeds) or --seeds S,S,..., not both")
        return given
    start = manifest_seed if first is None else first
    return list(range(start, start + PROFILES[profile].seeds))


def _seed_list(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2] (order kept, repeats dropped); a bad list is argparse's usage error (exit 2)."""
    try:
        seeds = [int(part) for part in text.replace(" ", ",").split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are integers separated by commas, e.g. 0,1,2; got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed, e.g. 0,1,2")
    return list(dict.fromkeys(seeds))


def _seed_words(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


def _run_locally(
    specs: list[RunSpec], seeds: list[int], run_kwargs: dict, names: list[str],
) -> dict[tuple[str, int], Outcome]:
    """One notebook after the other on this machine, with the live progress line; all runs of a seed, then the next.

    Seed by seed, so the manifest's dependency order holds within each seed (05 loads 01's and 04's models
    of its own seed) and an interrupted report has whole seeds.
    """
    outcomes = {}
    for seed in seeds:
        for spec in specs:
            output_dir, _ = run_paths(spec.name, seed, run_kwargs["figures_dir"], run_kwargs["reports_dir"],
                                      run_kwargs["per_seed"])
            expected = expected_seconds(spec, run_kwargs["profile"], output_dir)
            about = f", expected ~{format_minutes(expected)}" if expected is not None else ""
            at = f" seed {seed}" if run_kwargs["per_seed"] else ""
            print(f"[{names.index(spec.name) + 1}/{len(names)}] {spec.name}{at} ({spec.notebook.name}{about}) ...",
                  flush=True)
            outcomes[spec.name, seed] = execute_run(spec, seed=seed, **run_kwargs)
            print("    " + describe(outcomes[spec.name, seed]), flush=True)
    return outcomes


def _run_on_cluster(
    specs: list[RunSpec], seeds: list[int], run_kwargs: dict, args: argparse.Namespace,
) -> dict[tuple[str, int], Outcome]:
    """Each run and seed as one submitit job (Slurm, or submitit's local executor): :mod:`gm_build.report.cluster`."""
    from gm_build.report.cluster import submit_runs

    options = {"timeout_min": args.slurm_timeout_min, "gpus_per_node": args.slurm_gpus,
               "cpus_per_task": args.slurm_cpus, "slurm_partition": args.slurm_partition}
    if args.executor == "submitit-local":
        options = {"timeout_min": args.slurm_timeout_min}
    folder = run_kwargs["reports_dir"] / "jobs"
    return submit_runs(specs, kind=args.executor, folder=folder, options=options, run_kwargs=run_kwargs,
                       seeds=seeds, echo=lambda line: print(line, flush=True))


