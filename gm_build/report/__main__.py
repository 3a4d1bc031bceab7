"""``python -m gm_build.report``: see :mod:`gm_build.report`."""

import sys

from gm_build.report.cli import main

raise SystemExit(main(sys.argv[1:]))
