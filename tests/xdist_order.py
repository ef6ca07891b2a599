"""Pytest plugin: the order and grouping of tests for ``make test``'s pytest-xdist run.

``make test`` runs ``pytest -n N --dist loadgroup``: each worker is a pytest session of its own
(its own testbed, Prometheus and git server, started when its first test needs them), and the
controller hands out tests one by one in collection order to whichever worker is free. So:

- **Slow first.** Testbed tests wait on controllers and intervals for seconds to minutes; the
  rest are quick and CPU-bound. Testbed tests go first, so the long ones start early and the
  quick ones fill the gaps at the end instead of one long test running alone at the end.
- **Module fixtures once.** A test that uses a module- or class-scoped fixture (an unpacked
  image, an installed chart) is put in an ``xdist_group`` named after its module, so that
  fixture is set up on one worker, once, as in a serial run.

Without xdist (a plain ``pytest``) the order changes the same way and the groups do nothing.
"""

from __future__ import annotations

import pytest

SHARED_SCOPES = {"module", "class", "package"}


def uses_shared_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(d.scope in SHARED_SCOPES for defs in info.name2fixturedefs.values() for d in defs)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if uses_shared_fixture(item) and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    items.sort(key=lambda item: item.get_closest_marker("testbed") is None)  # stable: files keep their order
