"""The report of a simulated rollback in real headless Chromium: the charts carry the right points.

``gitflagger simulate`` records fixtures/timelines/rollback.yaml (weights 10 and
20, then five failed checks of a 95.5% success rate against a 99% minimum, then
the rollback); ``gitflagger report`` writes the page; Chromium opens it from a
file and the test reads the drawn SVG back: points, their order on screen, the
threshold line, and no console error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitflagger.cli.main import cli
from tests.browser.support import browser, console_errors, screenshot  # noqa: F401 (fixture)
from tests.unit.cli.test_simulate_cli import simulate_json

POINTS = """
return Array.from(document.querySelectorAll(arguments[0])).map(e => {
  const r = e.getBoundingClientRect();
  return {value: e.dataset.value, failed: e.classList.contains("failed"), x: r.x + r.width / 2,
          y: r.y + r.height / 2, shown: r.width > 0 && r.height > 0};
});
"""


def test_the_report_of_a_rollback_draws_its_weights_and_the_failing_success_rate(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.chdir(tmp_path)  # the page names its repo as given: "rollback.git", in the screenshot too
    simulate_json(Path("rollback.git"), "rollback")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "test/podinfo", "--repo", "rollback.git", "--out", str(page)])
    assert result.exit_code == 0, result.output

    browser.get(page.as_uri())

    canary = browser.execute_script(POINTS, '.weights [data-series="canary"]')
    assert [p["value"] for p in canary] == ["0", "10", "20", "20", "20", "20", "20", "20", "0"]
    assert all(p["shown"] for p in canary)
    xs = [p["x"] for p in canary]
    assert xs == sorted(xs), "points left to right in time"
    assert canary[0]["y"] > canary[1]["y"] > canary[2]["y"], "0 drawn below 10, 10 below 20"
    primary = browser.execute_script(POINTS, '.weights [data-series="primary"]')
    assert [p["value"] for p in primary] == ["100", "90", "80", "80", "80", "80", "80", "80", "100"]

    rate = browser.execute_script(POINTS, '[data-metric="request-success-rate"] [data-series]')
    assert [(p["value"], p["failed"]) for p in rate] == [("99.9", False)] + [("95.5", True)] * 5
    (threshold,) = browser.execute_script(
        "return Array.from(document.querySelectorAll('[data-metric=\"request-success-rate\"] .threshold'))"
        ".map(e => ({value: e.dataset.threshold, y: e.getBoundingClientRect().y}))")
    assert threshold["value"] == "99"
    assert rate[0]["y"] < threshold["y"] < rate[1]["y"], "99.9 above the 99 line, 95.5 below it"

    screenshot(browser, "report-rollback", height=1500)
    summary = browser.find_element("css selector", ".summary").text
    assert summary.startswith("Failed · Failed after 8m00s, 5 failed checks")
    details = browser.find_elements("css selector", "details.step")
    assert len(details) == 9 and not any(d.get_attribute("open") for d in details)
    details[-1].find_element("css selector", "summary").click()
    assert "phase: Failed" in details[-1].text  # the last step's diff opens

    assert console_errors(browser) == []
