"""``gitflagger promote|abort|retry NS/NAME``: an operator's intent, recorded as a commit in the config repo.

The controller reads the intent at the Canary's next step and acts on it (or
says in an Event why it cannot); the intent commit and the controller's
acknowledgement are the audit trail.
"""

from __future__ import annotations

from pathlib import Path

import click

from gitflagger.adapters.git import DEFAULT_BRANCH, DEFAULT_PREFIX, Identity, open_repository
from gitflagger.adapters.git.intents import record_intent
from gitflagger.cli.history import canary_ref
from gitflagger.decide import ManualIntent

_HELP = {
    ManualIntent.PROMOTE: "Promote the Canary NS/NAME now, skipping the rest of its analysis.",
    ManualIntent.ABORT: "Abort the rollout of the Canary NS/NAME: route all traffic back and roll back.",
    ManualIntent.RETRY: "Retry the failed release of the Canary NS/NAME from the start.",
}


def _command(intent: ManualIntent) -> click.Command:
    @click.command(
        intent.value,
        help=_HELP[intent] + " Acted on at the Canary's next step.",
        epilog=f"""\b
Examples:
  gitflagger {intent.value} test/podinfo --repo ./config.git
  gitflagger {intent.value} test/podinfo --repo ./config.git --reason "INC-123: approved by on-call"
""",
    )
    @click.argument("canary", metavar="NS/NAME", callback=canary_ref)
    @click.option("--repo", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="The config repository the controller records into (a local path).")
    @click.option("--branch", default=DEFAULT_BRANCH, show_default=True)
    @click.option("--repo-prefix", default=DEFAULT_PREFIX, show_default=True,
                  help="The controller's --repo-prefix.")
    @click.option("--reason", default="", help="Why: goes into the commit message.")
    @click.option("--author", default="", envvar="GIT_AUTHOR_NAME", help="Who asks ($GIT_AUTHOR_NAME).")
    @click.option("--email", default="", envvar="GIT_AUTHOR_EMAIL", help="Their email ($GIT_AUTHOR_EMAIL).")
    def command(canary: str, repo: Path, branch: str, repo_prefix: str, reason: str, author: str,
                email: str) -> None:
        identity = Identity(author or "gitflagger", email or "gitflagger@localhost")
        repository = open_repository(repo, create=False, branch=branch)
        commit = record_intent(repository, canary, intent, branch=branch, prefix=repo_prefix,
                               identity=identity, reason=reason)
        click.echo(f"{intent.value} recorded for {canary}: commit {commit[:10]} on {branch}")

    return command


promote = _command(ManualIntent.PROMOTE)
abort = _command(ManualIntent.ABORT)
retry = _command(ManualIntent.RETRY)
