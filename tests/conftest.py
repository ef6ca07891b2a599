"""Shared pytest configuration.

Testbed fixtures live in their own plugin modules so each part of the testbed
(control plane; Prometheus, mesh simulator and git server) owns its file.
"""

pytest_plugins = [
    "tests.testbed.fixtures_cluster",
    "tests.testbed.fixtures_services",
    "tests.testbed.fixtures_metrics",
]
