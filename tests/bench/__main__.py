"""``python -m tests.bench [--quick] [--only NAME] [--report PATH]``: see :mod:`tests.bench.harness`."""

from tests.bench.harness import main

raise SystemExit(main())
