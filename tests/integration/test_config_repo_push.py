"""Pushing to the testbed's git server: lost races, conflicts, refusing hooks, a server killed mid-push.

After every scenario the server's branch holds each Step-Id exactly once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.git import RemoteConfig, RepoSettings
from gitflagger.cli.main import cli
from gitflagger.errors import PermanentError, TemporaryError
from tests.integration.config_repo_support import (
    credential_files,
    http_remote,
    recorder,
    server_commits,
    ssh_remote,
    step_ids,
    weights_on_server,
)
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES
from tests.unit.record.steps import manifests, podinfo, step

pytestmark = pytest.mark.testbed

FRONTEND = podinfo("frontend", "prod")


def both(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> tuple[RemoteConfig, RemoteConfig]:
    """The same repo as an HTTP remote and as an SSH remote."""
    return http_remote(git_server, git_repo, credential_files(git_server, tmp_path / "creds")), ssh_remote(
        git_server, git_repo
    )


def test_a_lost_race_is_rebased_and_pushed(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    http, ssh = both(git_server, git_repo, tmp_path)
    a, b = recorder(http, tmp_path / "a"), recorder(ssh, tmp_path / "b")

    a.record(step(1))
    b.record(step(1, canary=FRONTEND))
    b.record(step(2, canary=FRONTEND, weight=20))
    a.flush()
    b.flush()  # its base is gone: fetch, replay both commits, push

    assert b.push_retries == 1
    assert set(step_ids(git_server, git_repo).values()) == {1} and len(step_ids(git_server, git_repo)) == 3
    history = RepoSettings(ssh, cache_root=tmp_path / "c").history("prod/frontend")
    assert [r.trailers.canary_weight for r in history] == [20, 10]
    assert history[0].trailers.previous_step == history[1].commit  # the chain survived the rewrite


def test_a_step_both_writers_recorded_is_committed_once(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    """A replica taking over re-runs the step its predecessor already pushed."""
    http, ssh = both(git_server, git_repo, tmp_path)
    a, b = recorder(http, tmp_path / "a"), recorder(ssh, tmp_path / "b")
    a.record(step(1))
    b.record(step(1))
    b.record(step(2, weight=20))
    a.flush()
    b.flush()

    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 20]
    assert set(step_ids(git_server, git_repo).values()) == {1}


def test_two_writers_racing_commit_every_step_exactly_once(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    http, ssh = both(git_server, git_repo, tmp_path)
    errors: list[BaseException] = []

    def writer(remote: RemoteConfig, name: str) -> None:
        rec = recorder(remote, tmp_path / name)
        canaries = [podinfo(f"{name}{i}", "race") for i in range(3)]
        try:
            for number in range(1, 7):
                for canary in canaries:
                    rec.record(step(number, canary=canary, weight=number * 10))
                rec.flush()
        except BaseException as err:  # reported below; a thread's exception is otherwise lost
            errors.append(err)

    threads = [threading.Thread(target=writer, args=args) for args in ((http, "web"), (ssh, "api"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    ids = step_ids(git_server, git_repo)
    assert len(ids) == 36 and set(ids.values()) == {1}
    for name in ("web", "api"):
        for i in range(3):
            assert weights_on_server(git_server, git_repo, f"race/{name}{i}") == [10, 20, 30, 40, 50, 60]


def test_a_conflict_on_the_same_canary_is_a_clear_error_and_the_rest_is_pushed(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    http, ssh = both(git_server, git_repo, tmp_path)
    a, b = recorder(http, tmp_path / "a"), recorder(ssh, tmp_path / "b")
    a.record(step(1))
    a.flush()
    b.record(step(2, weight=20))  # b's view: podinfo at step 1
    b.record(step(1, canary=FRONTEND))
    a.record(step(5, weight=50, items=manifests(image="podinfo:9")))  # meanwhile a rewrites podinfo
    a.flush()
    theirs = git_server.head(git_repo.path.name)
    assert theirs is not None

    with pytest.raises(PermanentError) as err:
        b.flush()

    assert str(err.value) == (
        f"git: {git_repo.ssh}: someone else changed the same Canary directory; "
        f"local/test/podinfo (last changed by {theirs[:12]}): dropped local step {step(2).step_id} "
        "(the local commits are kept under refs/gitflagger/conflicts/ in the cache)"
    )
    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 50]
    assert weights_on_server(git_server, git_repo, "prod/frontend") == [10]
    b.record(step(6, weight=60, items=manifests(image="podinfo:9")))  # the next pass starts from the remote
    b.flush()
    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 50, 60]


@pytest.mark.parametrize("transport", ["http", "ssh"])
def test_a_refusing_hook_is_an_error_with_its_message_never_success(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, transport: str
) -> None:
    http, ssh = both(git_server, git_repo, tmp_path)
    remote = http if transport == "http" else ssh
    before = git_server.head(git_repo.path.name)
    git_server.install_rejecting_hook(git_repo.path.name, "config repo is frozen for the release")
    writer = recorder(remote, tmp_path / "w")
    writer.record(step(1))

    with pytest.raises(PermanentError) as err:
        writer.flush()

    assert str(err.value) == (
        f"git: {remote.display} refused the push to 'main': pre-receive hook declined: "
        "config repo is frozen for the release"
    )
    assert git_server.head(git_repo.path.name) == before
    git_server.remove_hook(git_repo.path.name)
    writer.record(step(2, weight=20))  # the next pass pushes both
    writer.flush()
    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 20]


def _blocking_hook(server: GitServer, urls: RepoUrls, hook: str, marker: Path) -> None:
    path = urls.path / "hooks" / hook
    path.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch {marker}\nsleep 120\n")
    path.chmod(0o755)


def _wait_for(marker: Path, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the push never reached the hook"


@pytest.mark.parametrize(
    ("transport", "hook", "landed"),
    [
        pytest.param("http", "pre-receive", False, id="http-before-the-ref-moved"),
        pytest.param("ssh", "pre-receive", False, id="ssh-before-the-ref-moved"),
        pytest.param("http", "post-receive", True, id="http-after-the-ref-moved"),
    ],
)
def test_the_server_killed_mid_push_leaves_a_state_the_next_pass_completes(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, transport: str, hook: str, landed: bool
) -> None:
    http, ssh = both(git_server, git_repo, tmp_path)
    remote = http if transport == "http" else ssh
    writer = recorder(remote, tmp_path / "w")
    pushed = writer.record(step(1)).commit_id
    marker = tmp_path / "in-hook"
    _blocking_hook(git_server, git_repo, hook, marker)
    failure: list[BaseException] = []

    def flush() -> None:
        try:
            writer.flush()
        except BaseException as err:  # examined below
            failure.append(err)

    thread = threading.Thread(target=flush)
    thread.start()
    _wait_for(marker, thread)
    git_server.stop()
    thread.join()
    git_server.start()
    (git_repo.path / "hooks" / hook).unlink()

    assert len(failure) == 1 and isinstance(failure[0], TemporaryError), failure
    assert str(failure[0]).startswith(f"git: pushing to {remote.display} failed: ")
    assert (git_server.head(git_repo.path.name) == pushed) is landed
    writer.record(step(1))  # the crashed pass's step, run again: already recorded
    writer.record(step(2, weight=20))
    writer.flush()
    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 20]
    assert set(step_ids(git_server, git_repo).values()) == {1}
    assert len(server_commits(git_server, git_repo)) == 3


def test_the_first_push_creates_the_branch_of_an_empty_remote(git_server: GitServer, tmp_path: Path) -> None:
    urls = git_server.create_repo(f"empty-{tmp_path.name}", initial_commit=False)
    settings = RepoSettings(ssh_remote(git_server, urls), cache_root=tmp_path / "reader")
    with pytest.raises(PermanentError) as err:
        settings.history("test/podinfo")
    assert str(err.value) == f"git: {urls.ssh} has no branch 'main' (the repository is empty)"

    writer = recorder(ssh_remote(git_server, urls), tmp_path / "w")
    first = writer.record(step(1)).commit_id
    writer.flush()

    assert git_server.head(urls.path.name) == first
    assert [r.commit for r in settings.history("test/podinfo")] == [first]


def test_a_dry_run_against_a_remote_pushes_nothing(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    before = git_server.head(git_repo.path.name)
    args = ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), "--repo", git_repo.ssh]
    args += ["--ssh-key", str(git_server.client_key), "--known-hosts", str(git_server.known_hosts)]

    result = CliRunner().invoke(cli, [*args, "--repo-cache", str(tmp_path / "cache"), "--dry-run"])

    assert result.exit_code == 1, result.output  # a diff, as `flux diff` says it
    assert "+++ b/local/test/podinfo/canary.yaml" in result.stdout
    assert result.stdout.splitlines()[-1] == f"dry run: nothing recorded in {git_repo.ssh} (main)"
    assert git_server.head(git_repo.path.name) == before


def test_a_persisted_batch_is_on_the_remote_when_publish_returns(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    http, _ = both(git_server, git_repo, tmp_path)
    writer = recorder(http, tmp_path / "w")
    writer.begin()
    results = [writer.record(step(1, canary=podinfo(f"app{i}"))) for i in range(3)]
    persisted = writer.persist()
    assert git_server.head(git_repo.path.name) != persisted.head  # the persist pushes nothing

    published = writer.publish(persisted)

    assert git_server.head(git_repo.path.name) == published.head == results[-1].commit_id
    assert [head for _, head in writer.push_log] == [persisted.head]
    writer.flush()  # nothing left to push
    assert [head for _, head in writer.push_log] == [persisted.head]


def test_a_refused_publish_raises_and_the_batch_waits_in_the_cache(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    http, _ = both(git_server, git_repo, tmp_path)
    git_server.install_rejecting_hook(git_repo.path.name, "branch protected")
    writer = recorder(http, tmp_path / "w")
    writer.begin()
    writer.record(step(1))
    persisted = writer.persist()
    before = git_server.head(git_repo.path.name)
    with pytest.raises(PermanentError, match="branch protected"):
        writer.publish(persisted)
    assert git_server.head(git_repo.path.name) == before
    git_server.remove_hook(git_repo.path.name)
    assert writer.publish(persisted).head == git_server.head(git_repo.path.name) == persisted.head


def test_the_old_background_push_mode_reaches_the_remote_without_publish(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    """``background_push``: the order the controller had before, kept for the bench's comparison."""
    http, _ = both(git_server, git_repo, tmp_path)
    writer = recorder(http, tmp_path / "w")
    writer.background_push = True
    writer.begin()
    results = [writer.record(step(1, canary=podinfo(f"app{i}"))) for i in range(3)]
    persisted = writer.persist()

    deadline = time.monotonic() + 60
    while not writer.push_log and time.monotonic() < deadline:
        time.sleep(0.02)  # no flush: the push started at the persist
    assert git_server.head(git_repo.path.name) == persisted.head == results[-1].commit_id
    assert [head for _, head in writer.push_log] == [persisted.head]
    writer.flush()  # nothing left to push
    assert [head for _, head in writer.push_log] == [persisted.head]
    assert len(step_ids(git_server, git_repo)) == 3


def test_a_batch_whose_background_push_lost_a_race_is_replayed_by_flush(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    http, ssh = both(git_server, git_repo, tmp_path)
    a, b = recorder(http, tmp_path / "a"), recorder(ssh, tmp_path / "b")
    b.background_push = True
    a.begin()
    b.begin()
    a.record(step(1))
    b.record(step(1, canary=FRONTEND))
    a.persist()
    a.flush()
    b.persist()  # its background push is refused: the remote moved
    b.flush()  # fetch, replay, push

    assert b.push_retries >= 1
    ids = step_ids(git_server, git_repo)
    assert len(ids) == 2 and set(ids.values()) == {1}


def test_a_refused_background_push_is_retried_without_duplicating_a_step(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    http, _ = both(git_server, git_repo, tmp_path)
    git_server.install_rejecting_hook(git_repo.path.name, "frozen")
    writer = recorder(http, tmp_path / "w")
    writer.background_push = True
    writer.begin()
    writer.record(step(1))
    writer.persist()
    with pytest.raises(PermanentError, match="frozen"):
        writer.flush()
    git_server.remove_hook(git_repo.path.name)

    writer.begin()
    assert writer.record(step(1)).skipped_reason is not None  # the step waits in the cache, not again
    writer.record(step(2, weight=20))
    writer.persist()
    writer.flush()
    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 20]
    assert set(step_ids(git_server, git_repo).values()) == {1}
