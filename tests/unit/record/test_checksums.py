"""Secret checksums in git are sealed with a key that never enters git."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from gitflagger.adapters.git import ChecksumKey, GitRecorder, open_repository
from gitflagger.adapters.git.checksums import KEY_FILE
from gitflagger.errors import PermanentError
from tests.unit.record.steps import file_at_head, manifests, step


def test_seal_is_hmac_sha256_of_the_plain_checksum() -> None:
    key = ChecksumKey(b"k" * 32)
    plain = "sha256:" + "ab" * 32
    expected = hmac.new(b"k" * 32, plain.encode(), hashlib.sha256).hexdigest()
    assert key.seal(plain) == f"hmac-sha256:{expected}"
    assert key.seal(key.seal(plain)) == key.seal(plain)
    assert key.matches(key.seal(plain), plain) and not key.matches(key.seal(plain), "sha256:" + "cd" * 32)
    assert ChecksumKey(b"x" * 32).seal(plain) != key.seal(plain)


def test_the_repositorys_key_is_created_once_private_and_kept(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    first = ChecksumKey.for_git_dir(repo.path)
    path = Path(repo.path) / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ChecksumKey.for_git_dir(repo.path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == ["checksum-key"]  # no draft left behind


def test_a_dry_run_never_creates_the_key(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    ChecksumKey.for_git_dir(repo.path, create=False)
    assert not (Path(repo.path) / KEY_FILE).exists()


def test_key_files(tmp_path: Path) -> None:
    good, short = tmp_path / "good", tmp_path / "short"
    good.write_bytes(b"0123456789abcdef0123\n")
    short.write_bytes(b"tiny")
    assert ChecksumKey.from_file(good).key == b"0123456789abcdef0123"
    with pytest.raises(PermanentError, match=r"--checksum-key-file .*short: a key needs at least 16 bytes"):
        ChecksumKey.from_file(short)
    with pytest.raises(PermanentError, match=r"--checksum-key-file .*missing: No such file or directory"):
        ChecksumKey.from_file(tmp_path / "missing")


def test_recorded_secret_checksums_are_sealed_with_the_given_key(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    key = ChecksumKey(b"controller-key-0123456789")
    GitRecorder(repo, checksum_key=key).record(step(1, items=manifests(secret=True)))
    snapshot = file_at_head(repo, "local/test/podinfo/canary.yaml")
    plain = manifests(secret=True)[2].checksum
    assert f"secret-podinfo-token-primary: {key.seal(plain)}" in snapshot
    assert plain.split(":")[1] not in snapshot
    assert not (Path(repo.path) / KEY_FILE).exists()  # a given key is used as is, none is created


def test_tracked_secret_checksums_are_sealed_and_configmaps_are_not(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    key = ChecksumKey(b"controller-key-0123456789")
    base = step(1)
    state = dataclasses.replace(
        base.decision.state,
        tracked_configs={"configmap/app": "sha256:" + "1" * 64, "secret/db": "sha256:" + "2" * 64},
    )
    decided = dataclasses.replace(base, decision=dataclasses.replace(base.decision, state=state))
    GitRecorder(repo, checksum_key=key).record(decided)
    snapshot = file_at_head(repo, "local/test/podinfo/canary.yaml")
    assert f"configmap/app: sha256:{'1' * 64}" in snapshot
    assert f"secret/db: {key.seal('sha256:' + '2' * 64)}" in snapshot
    assert "2" * 64 not in snapshot


def test_a_repository_without_secrets_gets_no_key(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    GitRecorder(repo).record(step(1))
    assert not (Path(repo.path) / KEY_FILE).exists()
    GitRecorder(repo).record(step(2, weight=20, items=manifests(secret=True)))
    assert (Path(repo.path) / KEY_FILE).exists()
