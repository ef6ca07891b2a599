"""Signed step commits that ``git log --show-signature`` verifies, with an SSH key and with a GPG key."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder, GpgSigner, SshSigner, open_repository, parse_signer
from gitflagger.adapters.git.rebase import rebase, unpushed_commits
from gitflagger.errors import PermanentError
from tests.unit.record.steps import podinfo, step


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.fixture
def ssh_key(tmp_path: Path) -> Path:
    key = tmp_path / "signing_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", str(key)], check=True)
    return key


def allowed_signers(tmp_path: Path, key: Path) -> Path:
    keytype, blob = Path(f"{key}.pub").read_text().split()[:2]
    path = tmp_path / "allowed_signers"
    path.write_text(f'gitflagger@localhost namespaces="git" {keytype} {blob}\n')
    return path


def test_ssh_signed_commits_verify_with_git(tmp_path: Path, ssh_key: Path) -> None:
    repo = open_repository(tmp_path / "r")
    recorder = GitRecorder(repo, signer=SshSigner(ssh_key))
    recorder.record(step(1))
    recorder.record(step(2, weight=20))
    signers = allowed_signers(tmp_path, ssh_key)

    log = git(
        Path(repo.path), "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "--show-signature", "main"
    )

    assert log.returncode == 0, log.stderr
    assert log.stdout.count('Good "git" signature for gitflagger@localhost with ED25519 key') == 2
    commit = repo.references["refs/heads/main"].peel(pygit2.Commit)
    assert commit.gpg_signature[0].startswith(b"-----BEGIN SSH SIGNATURE-----")


def test_another_key_does_not_verify(tmp_path: Path, ssh_key: Path) -> None:
    repo = open_repository(tmp_path / "r")
    GitRecorder(repo, signer=SshSigner(ssh_key)).record(step(1))
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    signers = allowed_signers(tmp_path, stranger)
    verify = git(Path(repo.path), "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", "main")
    assert verify.returncode != 0


def test_a_rebase_signs_the_rewritten_commits_again(tmp_path: Path, ssh_key: Path) -> None:
    repo = open_repository(tmp_path / "r")
    signer = SshSigner(ssh_key)
    GitRecorder(repo, signer=signer).record(step(1))
    base = repo.references["refs/heads/main"].target
    repo.create_reference_direct("refs/heads/ours", base, True)
    GitRecorder(repo, signer=signer).record(step(2, weight=20))
    GitRecorder(repo, branch="ours", signer=signer).record(step(1, canary=podinfo("frontend", "prod")))
    ours = repo.references["refs/heads/ours"].target
    upstream = repo.references["refs/heads/main"].target
    assert isinstance(ours, pygit2.Oid) and isinstance(upstream, pygit2.Oid) and isinstance(base, pygit2.Oid)
    commits = unpushed_commits(repo, ours, [base])
    assert commits is not None

    result = rebase(repo, commits, upstream, base, prefix=("local",), signer=signer)

    assert result.head is not None and result.head != ours
    signers = allowed_signers(tmp_path, ssh_key)
    verify = git(
        Path(repo.path), "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", str(result.head)
    )
    assert verify.returncode == 0, verify.stderr


@pytest.fixture
def gnupg_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="gfg-gpg-"))  # short: gpg-agent's socket path has a length limit
    home.chmod(0o700)
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={"GNUPGHOME": str(home)}, check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_gpg_signed_commits_verify_with_git(
    tmp_path: Path, gnupg_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNUPGHOME", str(gnupg_home))
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "gitflagger <gitflagger@localhost>",
            "ed25519",
            "sign",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"], capture_output=True, text=True, check=True
    )
    fingerprint = next(line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr:"))
    repo = open_repository(tmp_path / "r")

    GitRecorder(repo, signer=GpgSigner(fingerprint)).record(step(1))
    log = git(
        Path(repo.path),
        "log",
        "--show-signature",
        "main",
        env={"GNUPGHOME": str(gnupg_home), "PATH": "/usr/bin:/bin"},
    )

    assert log.returncode == 0, log.stderr
    assert 'Good signature from "gitflagger <gitflagger@localhost>"' in log.stdout


def test_signing_failures_are_one_clear_line(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    bogus = tmp_path / "not-a-key"
    bogus.write_text("nope\n")
    with pytest.raises(PermanentError, match=rf"^signing with ssh key {bogus} failed: "):
        GitRecorder(repo, signer=SshSigner(bogus)).record(step(1))
    assert repo.references.get("refs/heads/main") is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            "ssh:/no/such/key", "--sign-commits ssh:/no/such/key: no such key file", id="missing-key"
        ),
        pytest.param(
            "pgp:ABC", "--sign-commits 'pgp:ABC': expected ssh:KEYFILE or gpg:KEYID", id="unknown-kind"
        ),
        pytest.param("gpg:", "--sign-commits 'gpg:': expected ssh:KEYFILE or gpg:KEYID", id="empty"),
    ],
)
def test_parse_signer_refuses(spec: str, message: str) -> None:
    with pytest.raises(PermanentError) as err:
        parse_signer(spec)
    assert str(err.value) == message


def test_parse_signer(ssh_key: Path) -> None:
    assert parse_signer(f"ssh:{ssh_key}") == SshSigner(ssh_key)
    assert parse_signer("gpg:ABCDEF") == GpgSigner("ABCDEF")
