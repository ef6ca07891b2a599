"""The chart's rendered Deployment as ``gitflagger run`` reads it: its arguments, and the chat
webhook URLs it takes from the chart's Secrets as environment variables.

The chart and the command must agree on every flag, and on what they refuse: both refuse a
Slack URL and an MS Teams URL together. No cluster: the testbed's helm renders.
"""

from __future__ import annotations

from typing import Any

import click
import pytest

from gitflagger.adapters.notifiers import MSTeams, Slack
from gitflagger.cli.flagger_flags import global_notifier
from gitflagger.cli.run import run as run_command
from tests.unit.charts.chart_support import CHART, Obj, controller_args, template, template_error
from tests.unit.charts.test_chart_values import BASE, TABLE, TEAMS_URL, container

pytestmark = pytest.mark.testbed


def chart_secret_env(objects: list[Obj]) -> dict[str, str]:
    """The container's variables that come from a Secret this chart renders, with their values."""
    secrets = {o["metadata"]["name"]: o["stringData"] for o in objects if o["kind"] == "Secret"}
    found: dict[str, str] = {}
    for var in container(objects)["env"]:
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["name"] in secrets:
            found[var["name"]] = secrets[ref["name"]][ref["key"]]
    return found


@pytest.mark.parametrize("values", [v for v, _ in TABLE], ids=[c.__name__ for _, c in TABLE])
def test_the_rendered_arguments_are_gitflagger_runs_flags(
    values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The arguments, and the chat URLs from the chart's Secrets, parse as ``gitflagger run``'s and
    give the values set: a flag it lacks, or two global notifiers, is a UsageError."""
    objects = template(CHART, {**BASE, **values})
    args = controller_args(objects)
    assert args[0] == "run"
    for var in ("SLACK_URL", "MSTEAMS_URL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in chart_secret_env(objects).items():
        monkeypatch.setenv(var, value)
    ctx = run_command.make_context("run", args[1:])
    assert ctx.params["metrics_addr"] == ":8080"
    assert ctx.params["cluster_name"] == values.get("clusterName", "")
    notifier = global_notifier(ctx.params)
    if "msteams.url" in values:
        assert isinstance(notifier, MSTeams) and notifier.url == values["msteams.url"]
    elif "slack.url" in values:
        assert isinstance(notifier, Slack) and notifier.url == values["slack.url"]
    else:
        assert notifier is None


def test_slack_and_msteams_urls_together_are_refused_naming_both() -> None:
    both = {"slack.url": "https://hooks.slack.com/services/T/B/secret", "msteams.url": TEAMS_URL}
    error = template_error(CHART, {**BASE, **both}).strip()
    assert "slack.url" in error and "msteams.url" in error and error.count("\n") <= 3, error
    with pytest.raises(click.UsageError, match="--slack-url and --msteams-url"):  # and gitflagger run
        global_notifier({"slack_url": both["slack.url"], "msteams_url": TEAMS_URL})
