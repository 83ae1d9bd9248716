"""``python -m minircan.bench``: see ``minircan.bench.cli``."""

from .cli import main

raise SystemExit(main())
