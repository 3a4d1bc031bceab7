"""``python -m gm_build.data [--datasets svhn,celeba] [--root DIR]`` (what ``make data DATASETS=...`` runs).

Exit status 0 when every asked dataset is present afterwards, 1 when one failed (one line each on stderr,
no traceback), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gm_build.data.install import default_datasets, fetch_datasets
from gm_build.data.sources import DATASETS


def _names(text: str) -> list[str]:
    names = [part.strip().lower().replace("-", "_") for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown dataset {', '.join(unknown) or '(none)'}: choose from "
                                         f"{','.join(DATASETS)}")
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> int:
    from huggingface_hub.utils import logging as hub_logging

    from gm_lib.paths import data_root

    hub_logging.set_verbosity_error()  # its retry warnings would break the one-line failures; we say what failed
    parser = argparse.ArgumentParser(prog="make data", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=_names, default=None,
                        help=f"comma-separated, from {','.join(DATASETS)} (default: every one that is missing)")
    parser.add_argument("--root", type=Path, default=None, help="data folder (default: $GM_DATA_DIR)")
    args = parser.parse_args(argv)
    root = (args.root or data_root()).expanduser().resolve()
    try:
        names = args.datasets if args.datasets is not None else default_datasets(root)
    except ValueError as error:  # bad GM_DATA_PINS
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not names:
        print(f"make data: every dataset is present in {root}")
        return 0
    try:
        failures = fetch_datasets(names, root, say=lambda line: print(line, flush=True))
    except ValueError as error:
        failures = [str(error)]
    except KeyboardInterrupt:
        print(f"make data: interrupted; {root} is as it was (run make data again to resume)", file=sys.stderr)
        return 130
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
