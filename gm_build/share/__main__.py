"""``python -m gm_build.share pack OUT [--profile P]`` and ``python -m gm_build.share unpack FROM`` (``make pack`` /
``make unpack``). A refused archive prints one ``error:`` line and exits 1, with nothing installed."""

from __future__ import annotations

import argparse
import os
import sys
import time

from gm_build.share.manifest import ArchiveRefused
from gm_build.share.packing import pack
from gm_build.share.unpacking import UnpackReport, unpack


def _report_run_folders(profile: str) -> set[str]:
    """The run folders ``make report PROFILE=profile`` uses, at each of the profile's seeds from the manifest's."""
    from gm_build.report.manifest import load_manifest, resolve_device
    from gm_build.report.plan import report_runs
    from gm_lib.paths import repo_root
    from gm_lib.profiles import PROFILES

    first, device = load_manifest(repo_root() / "reports" / "manifest.yaml").seed, resolve_device("auto")
    return {run.directory.name for seed in range(first, first + PROFILES[profile].seeds)
            for run in report_runs(profile, seed, device=device).values()}


def _print_pack(out: str, profile: str) -> None:
    start = time.perf_counter()
    report = pack(out, profile, only=_report_run_folders(profile))
    for name, reason in report.skipped.items():
        print(f"  not packed    {name}: {reason}")
    for name in report.runs:
        print(f"  packed        {name}")
    print(f"wrote {report.path}: {len(report.runs)} runs, {report.n_files} files, {report.size / 2**20:.1f} MiB "
          f"in {time.perf_counter() - start:.1f} s (profile {profile})")
    print(f"sha256 {report.sha256}  (publish it with the archive: make unpack FROM=... SHA256={report.sha256[:12]}...)")


def _said(manifest: dict, key: str) -> str:
    """A manifest field for the reader, on one short line (verification needs none of these, so may lack them)."""
    return " ".join(str(manifest.get(key, "?")).split())[:60]


def _print_unpack(report: UnpackReport, source: str, seconds: float) -> None:
    from gm_lib.results import git_commit

    manifest = report.manifest
    print(f"{source}: packed at {_said(manifest, 'git_commit')} (here {git_commit()}), profile "
          f"{_said(manifest, 'profile')}, seeds {_said(manifest, 'seeds')}")
    for name in report.cached:
        print(f"  cached        {name}")
    for name in report.kept:
        print(f"  already here  {name}")
    for name, reason in report.retrain.items():
        print(f"  will retrain  {name}: {reason}")
    print(f"installed {len(report.cached)} runs ({len(report.kept)} already cached, {len(report.retrain)} will "
          f"retrain) and {report.results_installed} FID statistics / classifier files ({report.results_kept} already "
          f"there) in {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gm_build.share", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    pack_parser = commands.add_parser("pack", help="write the archive of this commit's trained runs")
    pack_parser.add_argument("out", help="archive to write (.tar; .tar.gz compresses)")
    pack_parser.add_argument("--profile", default=os.environ.get("PROFILE") or "default",
                             help="the profile the runs were trained at, recorded in the manifest")
    unpack_parser = commands.add_parser("unpack", help="verify an archive and install it into $GM_CACHE_DIR")
    unpack_parser.add_argument("source", help="archive file, https:// URL or hf://owner/repo[/file.tar][@revision]")
    unpack_parser.add_argument("--sha256", help="the archive's sha256 as its publisher printed it (make pack does)")
    unpack_parser.add_argument("--no-progress", action="store_true", help="no download progress bar")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            _print_pack(args.out, args.profile)
        else:
            start = time.perf_counter()
            report = unpack(args.source, progress=not args.no_progress, sha256=args.sha256)
            _print_unpack(report, args.source, time.perf_counter() - start)
    except ArchiveRefused as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
