"""Shared pytest configuration.

Testbed fixtures live in their own plugin modules so each part of the testbed
(control plane; Prometheus, mesh simulator and git server) owns its file;
tests/xdist_order.py decides how ``make test`` spreads the suite over pytest-xdist workers.
"""

pytest_plugins = [
    "tests.testbed.fixtures_cluster",
    "tests.testbed.fixtures_services",
    "tests.testbed.fixtures_metrics",
    "tests.xdist_order",
    "tests.testbed.fixtures_flux",
]

# Property tests judge results, not speed: a shared 2-core CI machine can take longer than
# hypothesis's default 200 ms deadline per example, which would fail a correct test. Speed is
# measured by the benchmarks (tests/bench), never here.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("gitflagger", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gitflagger")
