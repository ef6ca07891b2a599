"""``gitflagger promote|abort|retry NS/NAME``: an operator's intent, recorded as a commit in the config repo.

The controller reads the intent at the Canary's next step and acts on it (or
says in an Event why it cannot); the intent commit and the controller's
acknowledgement are the audit trail.
"""

from __future__ import annotations

import dataclasses

import click
import pygit2

from gitflagger.adapters.git import Identity, RepoSettings
from gitflagger.adapters.git.intents import record_intent
from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.repository import branch_ref
from gitflagger.cli.history import canary_ref
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
from gitflagger.decide import ManualIntent
from gitflagger.errors import PermanentError

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
"""
        + REPO_EPILOG,
    )
    @click.argument("canary", metavar="NS/NAME", callback=canary_ref)
    @repo_options(help_repo="The config repo the controller records into (its --repo and --repo-prefix).")
    @click.option("--reason", default="", help="Why: goes into the commit message.")
    @click.option("--author", default="", envvar="GIT_AUTHOR_NAME", help="Who asks ($GIT_AUTHOR_NAME).")
    @click.option("--email", default="", envvar="GIT_AUTHOR_EMAIL", help="Their email ($GIT_AUTHOR_EMAIL).")
    def command(canary: str, repo: RepoSettings, reason: str, author: str, email: str) -> None:
        if not repo.remote.is_remote and not repo.remote.local_path.exists():
            # Never create one: the controller would not be reading it.
            raise PermanentError(f"{repo.remote.local_path}: no git repository here")
        identity = Identity(author or "gitflagger", email or "gitflagger@localhost")
        recorder = dataclasses.replace(repo, identity=identity).writer()
        recorder.sync()  # a remote repo: commit on top of its head, so the push is a fast-forward
        if not _recorded(recorder.repo, repo, canary):
            # An intent for a Canary the controller never stepped would sit unread forever.
            where = "/".join((*canary_directory(repo.prefix, *canary.split("/", 1)), ""))
            raise PermanentError(
                f"{canary}: no such Canary in {repo.remote.display} ({repo.branch}): nothing recorded "
                f"in {where}; nothing committed (check the name and --repo-prefix)"
            )
        commit = record_intent(recorder.repo, canary, intent, branch=repo.branch, prefix=repo.prefix,
                               identity=identity, reason=reason)
        recorder.flush()
        click.echo(f"{intent.value} recorded for {canary}: commit {commit[:10]} on {repo.branch}")

    return command


def _recorded(git: pygit2.Repository, repo: RepoSettings, canary: str) -> bool:
    """The branch head holds the Canary's directory: the controller has stepped it at least once."""
    ref = git.references.get(branch_ref(repo.branch))
    if ref is None:
        return False
    tree = git[ref.target].peel(pygit2.Commit).tree
    path = "/".join(canary_directory(repo.prefix, *canary.split("/", 1)))
    try:
        return isinstance(tree[path], pygit2.Tree)
    except KeyError:
        return False


promote = _command(ManualIntent.PROMOTE)
abort = _command(ManualIntent.ABORT)
retry = _command(ManualIntent.RETRY)
