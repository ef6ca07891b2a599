"""``--git-ca-file``: the bundle is checked, handed to libgit2 once, and named in TLS errors."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner

from gitflagger.adapters.git import RemoteConfig, transport
from gitflagger.cli.main import cli
from gitflagger.errors import PermanentError
from tests.testbed.gitserver import _tls_files
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """Record what would reach libgit2 instead of changing this process's trust store."""
    calls: list[tuple[object, object]] = []
    monkeypatch.setattr(transport, "_TRUSTED_CA_FILES", [])
    monkeypatch.setattr(transport, "_load_ca", lambda f: calls.append((f, None)))
    return calls


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tls_files(tmp_path_factory.mktemp("tls")).ca


def test_a_ca_file_is_handed_to_libgit2_once(loaded: list[tuple[object, object]], ca: Path) -> None:
    transport.trust_ca_file(ca)
    transport.trust_ca_file(ca)
    assert loaded == [(str(ca.resolve()), None)]
    assert transport.trusted_ca_files() == (str(ca.resolve()),)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the CA file"),
        ("", "holds no PEM certificate"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "holds no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "unreadable certificate"),
    ],
    ids=["missing", "empty", "a key, not a certificate", "garbled"],
)
def test_an_unusable_file_never_reaches_libgit2(
    loaded: list[tuple[object, object]], tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PermanentError, match=message):
        transport.trust_ca_file(path)
    assert loaded == [] and transport.trusted_ca_files() == ()


def test_libgit2_refusing_the_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, ca: Path
) -> None:
    monkeypatch.setattr(transport, "_TRUSTED_CA_FILES", [])

    def refuse(cert_file: str) -> None:
        raise pygit2.GitError("OpenSSL error: failed to load certificates")

    monkeypatch.setattr(transport, "_load_ca", refuse)
    with pytest.raises(PermanentError, match=f"libgit2 cannot use the CA file {ca}: OpenSSL error"):
        transport.trust_ca_file(ca)
    assert transport.trusted_ca_files() == ()


def test_tls_errors_name_the_ca_files(monkeypatch: pytest.MonkeyPatch) -> None:
    remote = RemoteConfig("https://git.example.com:8443/org/config.git")
    monkeypatch.setattr(transport, "_TRUSTED_CA_FILES", [])
    plain = transport._tls_rejected(remote)
    assert "not signed by the system's CAs" in plain and "does not name git.example.com;" in plain
    assert "pass its certificate with --git-ca-file" in plain
    monkeypatch.setattr(transport, "_TRUSTED_CA_FILES", ["/etc/git/ca.pem"])
    named = transport._tls_rejected(remote)
    assert "not signed by the CA file /etc/git/ca.pem or the system's CAs" in named


def test_the_cli_option_and_its_environment_variable(loaded: list[tuple[object, object]], ca: Path,
                                                     tmp_path: Path) -> None:
    repo = str(tmp_path / "config.git")
    runner = CliRunner()
    simulate = ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), "--repo", repo]
    by_flag = runner.invoke(cli, [*simulate, "--git-ca-file", str(ca)])
    assert by_flag.exit_code == 0, by_flag.output
    missing = {"GITFLAGGER_GIT_CA_FILE": str(tmp_path / "missing.pem")}
    by_env = runner.invoke(cli, ["history", "test/podinfo", "--repo", repo], env=missing)
    assert by_env.exit_code == 1
    assert f"error: git: cannot read the CA file {tmp_path / 'missing.pem'}" in by_env.output
    assert loaded == [(str(ca.resolve()), None)]
