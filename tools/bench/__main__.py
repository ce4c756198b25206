"""``python -m bench``: see tools/bench/cli.py."""

import sys

from bench.cli import main

sys.exit(main())
