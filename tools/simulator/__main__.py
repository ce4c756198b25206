"""``python -m simulator``: see ``tools/simulator/cli.py``."""

from simulator.cli import main

raise SystemExit(main())
