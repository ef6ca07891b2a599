"""``gitflagger report NS/NAME --out FILE.html``: a rollout as one self-contained web page, from git alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import pygit2

from gitflagger.adapters.git import RepoSettings, open_repository
from gitflagger.adapters.git.cache import RepoCache
from gitflagger.adapters.git.layout import prefix_parts
from gitflagger.adapters.git.repository import branch_ref
from gitflagger.adapters.git.step_log import read_steps
from gitflagger.cli.history import canary_ref
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
from gitflagger.errors import PermanentError
from gitflagger.render.report import Rollout, render_report, split_rollouts
from gitflagger.render.report.page import summary_line


def _rollout_choice(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value in ("latest", "all") or (value.isdigit() and int(value) >= 1):
        return value
    raise click.BadParameter(f"expected latest, all or a rollout number (1 is the oldest), got {value!r}")


@click.command(epilog=f"""\b
Examples:
  gitflagger report test/podinfo --repo ./config.git --out podinfo.html
  gitflagger report test/podinfo --repo ./config.git --rollout all --out podinfo-all.html
  gitflagger report test/podinfo --repo ./config.git --rollout 3 --out rollout-3.html

\b
The page has no script and loads nothing: attach it to a ticket as it is.

{REPO_EPILOG}""")
@click.argument("canary", metavar="NS/NAME", callback=canary_ref)
@repo_options(help_repo="The config repo to read: a path, file://, https:// or ssh:// URL.")
@click.option("--rollout", default="latest", show_default=True, callback=_rollout_choice,
              metavar="latest|all|N", help="Which rollout: the latest, all, or number N (1 = oldest).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")
def report(canary: str, repo: RepoSettings, rollout: str, out: Path) -> None:
    """Write a report of the Canary NS/NAME's rollouts: weights, metrics, gates, events and every step."""
    chosen = select(load_rollouts(repo, canary), rollout, canary)
    page = render_report(canary, chosen, source=f"{repo.remote.display} ({repo.branch})",
                         generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    out.write_text(page, encoding="utf-8")
    for r in chosen:
        click.echo(f"rollout {r.number}: {summary_line(r)}")
    click.echo(f"wrote {out} ({len(page.encode()) // 1024 or 1} KiB)")


def load_rollouts(repo: RepoSettings, canary: str) -> list[Rollout]:
    """The Canary's rollouts, oldest first, read from the branch head (a remote is fetched first)."""
    git, head = branch_head(repo)
    return split_rollouts(read_steps(git, head, canary, prefix=repo.prefix))


def branch_head(repo: RepoSettings) -> tuple[pygit2.Repository, pygit2.Oid]:
    repo.check()
    if repo.remote.is_remote:
        cache = RepoCache(repo.remote, repo.branch, repo.cache_root)
        fetched = cache.fetch(prefix=prefix_parts(repo.prefix), allow_empty=False)
        assert fetched.after is not None  # allow_empty=False raised otherwise
        return cache.repo, fetched.after
    git = open_repository(repo.remote.local_path, create=False)
    ref = git.references.get(branch_ref(repo.branch))
    if ref is None:
        raise PermanentError(f"{repo.remote.display}: no branch {repo.branch!r} (nothing recorded yet?)")
    return git, ref.peel(pygit2.Commit).id


def select(rollouts: list[Rollout], which: str, canary: str) -> list[Rollout]:
    if not rollouts:
        raise PermanentError(f"{canary}: no steps recorded (check the name and --repo-prefix)")
    if which == "all":
        return rollouts
    if which == "latest":
        return rollouts[-1:]
    number = int(which)
    if number > len(rollouts):
        raise PermanentError(f"{canary}: --rollout {number}: there are {len(rollouts)} rollouts")
    return [rollouts[number - 1]]
