"""``python -m gm_build.exercises student SRC DST`` (``make student``) and ``… grade DIR`` (``make grade``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gm_build.exercises.grading import format_table, grade
from gm_build.exercises.student import write_student_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gm_build.exercises", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write the student versions (solutions removed)")
    student.add_argument("source", type=Path, nargs="?", default=Path("notebooks"))
    student.add_argument("target", type=Path, nargs="?", default=Path("student"))
    graded = commands.add_parser("grade", help="run the checks of a folder of notebooks and print a table")
    graded.add_argument("directory", type=Path, nargs="?", default=Path("student"))
    graded.add_argument("--source", type=Path, default=None,
                        help="the source notebooks whose locked cells the student's must keep (default: notebooks/)")
    graded.add_argument("--strict", action="store_true", help="exit 1 unless every exercise passed")
    args = parser.parse_args(argv)
    if args.command == "student":
        for path in write_student_versions(args.source, args.target):
            print(f"wrote {path}")
        return 0
    if not sorted(args.directory.glob("*.ipynb")):
        print(f"no notebooks in {args.directory}", file=sys.stderr)
        return 2
    rows = grade(args.directory, args.source)
    print(format_table(rows))
    return 1 if args.strict and not all(r.passed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
