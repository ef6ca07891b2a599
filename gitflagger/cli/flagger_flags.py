"""Flagger's controller flags, spelled, defaulted and meant as Flagger's ``cmd/flagger`` does.

A Flagger install's arguments (or its Helm values) carry over to ``gitflagger run``
unchanged: ``--cluster-name``, ``--slack-url``/``--slack-channel``/``--slack-user``,
``--msteams-url``, ``--selector-labels``, ``--include-label-prefix``,
``--no-cross-namespace-refs`` and ``--log-level``. Each is acted on; where
Flagger would quietly drop a value (both chat URLs set: it keeps Teams; an
unknown log level: it logs at info) this refuses it with a usage error instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from gitflagger.adapters.notifiers import MSTeams, Notifier, Slack
from gitflagger.engine.telemetry import LOG_LEVELS
from gitflagger.render.names import SELECTOR_LABELS, Labelling

FLAGGER_EPILOG = """\b
Flagger's flags (same names, same meaning):
  gitflagger run --repo ./config.git --cluster-name prod-eu --slack-url $HOOK --slack-channel ops
  gitflagger run --repo ./config.git --msteams-url $TEAMS_HOOK
  gitflagger run --repo ./config.git --selector-labels app.kubernetes.io/name,app
  gitflagger run --repo ./config.git --include-label-prefix app.kubernetes.io,team
  gitflagger run --repo ./config.git --no-cross-namespace-refs --log-level warn
"""


def _bool_value(ctx: click.Context, param: click.Parameter, value: Any) -> bool:
    """``--no-cross-namespace-refs`` alone, or ``=true``/``=false`` as Flagger's chart writes it."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise click.BadParameter(f"expected true or false, got {value!r}", ctx=ctx, param=param)


def flagger_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add Flagger's controller flags to a command (``run`` and ``reconcile`` render alike with them).

    Their values are checked before the command's body runs, so a bad combination
    is a usage error before any connection is made.
    """

    @functools.wraps(command)
    def func(*args: Any, **opts: Any) -> Any:
        labelling(opts)
        global_notifier(opts)
        return command(*args, **opts)

    for option in reversed(
        [
            click.option("--cluster-name", default="", metavar="NAME",
                         help="Cluster name shown as the first field (\"Cluster\") of every chat alert, "
                         "as Flagger's. Example: --cluster-name prod-eu"),
            click.option("--slack-url", default=None, envvar="SLACK_URL",
                         help="Slack incoming webhook of the global notifier (or $SLACK_URL): alerts of "
                         "Canaries that have no analysis.alerts, as in Flagger. Example: --slack-url $HOOK"),
            click.option("--slack-channel", default="general", show_default=True,
                         help="Slack channel of the global notifier. Example: --slack-channel ops"),
            click.option("--slack-user", default="flagger", show_default=True,
                         help="Slack user name of the global notifier. Example: --slack-user gitflagger"),
            click.option("--msteams-url", default=None, envvar="MSTEAMS_URL",
                         help="MS Teams incoming webhook of the global notifier (or $MSTEAMS_URL), instead "
                         "of Slack. Example: --msteams-url $TEAMS_HOOK"),
            click.option("--selector-labels", default=",".join(SELECTOR_LABELS), show_default=True,
                         metavar="LIST",
                         help="Pod selector labels looked for on a target, in order; the first found gets "
                         "the -primary suffix. Example: --selector-labels app.kubernetes.io/name,app"),
            click.option("--include-label-prefix", default="", metavar="LIST",
                         help="Prefixes of the target labels and annotations copied to the primary and "
                         "its HPA and configs ('*': all; default: none). "
                         "Example: --include-label-prefix app.kubernetes.io,team"),
            click.option("--no-cross-namespace-refs", default="false", is_flag=False, flag_value="true",
                         metavar="[=BOOL]", callback=_bool_value,
                         help="Refuse a Canary whose metric templateRef or alert providerRef names another "
                         "namespace (a Warning Event names the field). Example: --no-cross-namespace-refs"),
            click.option("--log-level", type=click.Choice(sorted(LOG_LEVELS), case_sensitive=False),
                         default="info", show_default=True,
                         help="Lowest level of the JSON log lines. Example: --log-level debug"),
        ]
    ):
        func = option(func)
    return func


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def labelling(opts: dict[str, Any]) -> Labelling:
    """``--selector-labels`` and ``--include-label-prefix`` as the renderer takes them."""
    selector_labels = _list(opts["selector_labels"])
    if not selector_labels:
        raise click.BadParameter("names no label", param_hint="--selector-labels")
    prefixes = _list(opts["include_label_prefix"])
    return Labelling(selector_labels=selector_labels, include_label_prefixes=prefixes)


def global_notifier(opts: dict[str, Any]) -> Notifier | None:
    """The notifier for Canaries without ``analysis.alerts``: Slack or MS Teams, never both."""
    slack, teams = opts.get("slack_url"), opts.get("msteams_url")
    if slack and teams:
        raise click.UsageError(
            "--slack-url and --msteams-url (or $SLACK_URL and $MSTEAMS_URL) are both set: the global "
            "notifier is one of them; use analysis.alerts for more"
        )
    if teams:
        return MSTeams(teams)
    if slack:
        return Slack(slack, channel=opts["slack_channel"], username=opts["slack_user"])
    return None


def log_level(opts: dict[str, Any]) -> int:
    """``--log-level`` as a :mod:`logging` level."""
    return LOG_LEVELS[str(opts.get("log_level") or "info").lower()]
