"""A damaged or locked config repo, and a run that fails early, through the real commands.

Each fault is one line on stderr (never ``internal error``) and a non-zero exit;
a run that fails before its first commit leaves no repository behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest
import structlog
from click.testing import CliRunner, Result

from gitflagger.adapters.git import locks
from gitflagger.adapters.git.repository import open_repository, removed_unless_written
from gitflagger.cli.main import cli
from tests.unit.cli.test_simulate_cli import PODINFO, ROOT, TIMELINES, simulate_json

INVALID = ROOT / "fixtures" / "invalid"


@pytest.fixture(autouse=True)
def plain_logging() -> None:
    """As a command that configured no logging (``simulate``) runs: warnings are plain stderr lines."""
    structlog.reset_defaults()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "internal error" not in lines[0] and "Traceback" not in result.stderr
    return lines[0]


def simulate(repo: Path, *files: str, story: str = "rollback") -> Result:
    return invoke("simulate", *files, "--timeline", str(TIMELINES / f"{story}.yaml"), "--repo", str(repo),
                  "-o", "json")


# ---- a lock left by a killed process ------------------------------------------------------------------


def test_simulate_names_a_young_lock_to_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LOCK_WAIT", 0.2)
    repo = tmp_path / "config.git"
    simulate_json(repo, "promote")
    lock = repo / "refs" / "heads" / "main.lock"
    lock.write_text("")

    line = one_error_line(simulate(repo, *PODINFO))

    assert line.startswith(f"error: git: refs/heads/main is locked by a dead process: remove {lock} (")
    assert lock.exists()


def test_simulate_removes_a_stale_lock_with_a_warning(tmp_path: Path) -> None:
    repo = tmp_path / "config.git"
    simulate_json(repo, "promote")
    lock = repo / "refs" / "heads" / "main.lock"
    lock.write_text("")
    old = time.time() - locks.STALE_LOCK_AGE - 30
    os.utime(lock, (old, old))

    result = simulate(repo, *PODINFO)

    assert result.exit_code == 0, result.output
    assert not lock.exists()
    assert result.stderr.startswith(f"warning: removed a stale lock file {lock} (")
    assert json.loads(result.stdout.splitlines()[-1])["phase"] == "Failed"  # the warning stays off stdout


# ---- history on a damaged repository ------------------------------------------------------------------


def _loose(repo: Path, oid: str) -> Path:
    return repo / "objects" / oid[:2] / oid[2:]


def _rev(repo: Path, spec: str) -> str:
    return str(pygit2.Repository(str(repo)).revparse_single(spec).id)


def garbage_ref(repo: Path) -> str:
    (repo / "refs" / "heads" / "main").write_text("garbage\n")
    return "corrupted loose reference file: refs/heads/main"


def ref_to_nothing(repo: Path) -> str:
    (repo / "refs" / "heads" / "main").write_text("0123456789" * 4 + "\n")
    return "object 0123456789012345678901234567890123456789 is missing"


def missing_head_commit(repo: Path) -> str:
    head = _rev(repo, "main")
    _loose(repo, head).unlink()
    return f"object {head} is missing"


def missing_older_commit(repo: Path) -> str:
    older = _rev(repo, "main~3")
    _loose(repo, older).unlink()
    return f"object {older} is missing"


def missing_tree(repo: Path) -> str:
    tree = _rev(repo, "main^{tree}")
    _loose(repo, tree).unlink()
    return tree


def truncated_pack(repo: Path) -> str:
    subprocess.run(["git", "--git-dir", str(repo), "repack", "-adq"], check=True)
    (pack,) = (repo / "objects" / "pack").glob("pack-*.pack")
    os.chmod(pack, 0o644)
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size // 2)
    return f"truncated or corrupt pack file: {pack.name}"


@pytest.mark.parametrize(
    "damage", [garbage_ref, ref_to_nothing, missing_head_commit, missing_older_commit, missing_tree,
               truncated_pack], ids=lambda f: f.__name__)
def test_history_of_a_damaged_repo_is_one_line_naming_it(
    tmp_path: Path, damage: Callable[[Path], str]
) -> None:
    repo = tmp_path / "config.git"
    simulate_json(repo, "promote")
    assert invoke("history", "test/podinfo", "--repo", str(repo)).exit_code == 0  # whole before
    detail = damage(repo)

    line = one_error_line(invoke("history", "test/podinfo", "--repo", str(repo)))

    assert line.startswith(f"error: {repo}: the repository is damaged: "), line
    assert detail in line


# ---- no empty repository left behind -----------------------------------------------------------------


def with_env_from(tmp_path: Path, *lines: str) -> Path:
    """The podinfo Deployment with an ``envFrom`` entry of ``lines`` (under ``configMapRef:``)."""
    text = Path(PODINFO[0]).read_text()
    assert "          env:\n" in text
    entry = "".join(f"                {line}\n" for line in lines)
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(text.replace(
        "          env:\n", f"          envFrom:\n            - configMapRef:\n{entry}          env:\n", 1))
    return deployment


def test_an_invalid_config_name_leaves_no_repo(tmp_path: Path) -> None:
    deployment = with_env_from(tmp_path, "name: Bad_Name")
    repo = tmp_path / "config.git"

    line = one_error_line(simulate(repo, str(deployment), *PODINFO[1:]))

    assert line == (
        "error: invalid Deployment test/podinfo: "
        "spec.template.spec.containers[0].envFrom[0].configMapRef.name: "
        "must be a lowercase RFC 1123 name (a-z, 0-9, '-' and '.'), got \"Bad_Name\""
    )
    assert not repo.exists()


@pytest.mark.parametrize("invalid", sorted(p.name for p in INVALID.glob("*.yaml")))
def test_an_invalid_canary_leaves_no_repo(tmp_path: Path, invalid: str) -> None:
    repo = tmp_path / "config.git"
    one_error_line(simulate(repo, str(INVALID / invalid), *PODINFO[:2]))
    assert not repo.exists()


def test_a_run_failing_after_the_repo_was_created_takes_it_away(tmp_path: Path) -> None:
    """A required ConfigMap missing from the files fails in render, after the repo was opened."""
    deployment = with_env_from(tmp_path, "name: absent", "optional: false")
    parent = tmp_path / "new" / "place"
    repo = parent / "config.git"
    empty_dir = tmp_path / "empty.git"
    empty_dir.mkdir()

    for where in (repo, empty_dir):
        line = one_error_line(simulate(where, str(deployment), *PODINFO[1:]))
        assert "configmap/absent" in line and "does not exist" in line
    assert not repo.exists()
    assert empty_dir.is_dir() and list(empty_dir.iterdir()) == []  # was there before: emptied, kept


def test_a_repo_that_existed_is_never_removed(tmp_path: Path) -> None:
    repo = tmp_path / "config.git"
    open_repository(repo)  # exists, no commit yet
    with pytest.raises(RuntimeError), removed_unless_written(repo):
        raise RuntimeError("a failing command")
    assert (repo / "HEAD").exists()

    fresh = tmp_path / "fresh.git"
    with removed_unless_written(fresh):
        simulate_json(fresh, "promote")  # commits landed: kept
    assert pygit2.Repository(str(fresh)).references.get("refs/heads/main") is not None
    shutil.rmtree(fresh)
