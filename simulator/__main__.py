"""``python -m simulator``: see ``simulator/cli.py``."""

from simulator.cli import main

raise SystemExit(main())
