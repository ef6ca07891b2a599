"""The README's table of the chart's values lists every value of charts/gitflagger/values.yaml, and
only those, so the table cannot fall behind the chart."""

from __future__ import annotations

import re

import yaml

from tests.unit.charts.chart_support import CHART, REPO
from tests.unit.charts.test_chart_values import leaves


def table_values() -> set[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("#### The chart's values", 1)[1].split("\n#", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`([^`]+)`", first))
    return names


def test_the_readme_table_lists_every_chart_value_and_no_other() -> None:
    values = {path for path, _ in leaves(yaml.safe_load((CHART / "values.yaml").read_text()))}
    assert table_values() == values
