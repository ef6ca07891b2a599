"""A remote clone shows its progress on a terminal, and only there.

``gitflagger history`` over HTTP from the testbed's git server into an empty
``--repo-cache``: with stderr on a pseudo-terminal it draws ``Receiving
objects: …% (n/total)`` and ends with ``done.``; with stderr on a pipe it
prints none of that.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.cli.main import cli
from tests.integration.config_repo_support import credential_files
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES

pytestmark = pytest.mark.testbed

GITFLAGGER = str(Path(sys.executable).parent / "gitflagger")


def test_a_clone_shows_progress_on_a_terminal_only(git_server: GitServer, git_repo: RepoUrls,
                                                     tmp_path: Path) -> None:
    files = credential_files(git_server, tmp_path / "creds")
    remote = ["--repo", git_repo.http, "--git-username", git_server.username,
              "--git-password-file", str(files.password), "--allow-insecure-http"]
    pushed = CliRunner().invoke(cli, ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"),
                                      *remote, "--repo-cache", str(tmp_path / "writer")])
    assert pushed.exit_code == 0, pushed.output

    main, terminal = pty.openpty()
    try:
        done = subprocess.run([GITFLAGGER, "history", "test/podinfo", *remote, "--repo-cache",
                               str(tmp_path / "tty"), "-o", "jsonl"], stdout=subprocess.PIPE, stderr=terminal,
                              timeout=120)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the pty's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main)
    assert done.returncode == 0
    text = shown.decode()
    assert "Receiving objects: 100% (" in text and ", done." in text, text
    assert text.count("\r") >= 1

    cache = str(tmp_path / "pipe")
    args = [GITFLAGGER, "history", "test/podinfo", *remote, "--repo-cache", cache, "-o", "jsonl"]
    piped = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.count("\n") == done.stdout.count(b"\n") > 5
