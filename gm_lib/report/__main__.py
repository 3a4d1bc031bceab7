"""``python -m gm_lib.report``: see :mod:`gm_lib.report`."""

import sys

from gm_lib.report.cli import main

raise SystemExit(main(sys.argv[1:]))
