"""``--repo`` and its credentials: what each URL means, what is refused before any connection, no leaks."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gitflagger.adapters.git import RemoteConfig, decode_secret_bytes
from gitflagger.adapters.git.remote import Credentials, Transport, redact_url
from gitflagger.adapters.git.transport import scrub
from gitflagger.errors import PermanentError


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        pytest.param("./config.git", Transport.LOCAL, id="relative-path"),
        pytest.param("/srv/config.git", Transport.LOCAL, id="absolute-path"),
        pytest.param("file:///srv/config.git", Transport.LOCAL, id="file-url"),
        pytest.param("/srv/odd:name.git", Transport.LOCAL, id="path-with-colon"),
        pytest.param("http://127.0.0.1:8080/c.git", Transport.HTTP, id="http"),
        pytest.param("https://git.example.com/org/c.git", Transport.HTTPS, id="https"),
        pytest.param("ssh://git@git.example.com:2222/org/c.git", Transport.SSH, id="ssh-url"),
        pytest.param("git+ssh://git@git.example.com/org/c.git", Transport.SSH, id="git+ssh"),
        pytest.param("git@git.example.com:org/c.git", Transport.SSH, id="scp-form"),
    ],
)
def test_what_a_url_means(url: str, transport: Transport) -> None:
    assert RemoteConfig(url).transport is transport


def test_file_url_is_the_path() -> None:
    assert RemoteConfig("file:///srv/config.git").local_path == Path("/srv/config.git")
    with pytest.raises(PermanentError, match="a file:// URL must not name a host"):
        _ = RemoteConfig("file://server/srv/config.git").local_path


def test_ssh_login_and_host() -> None:
    assert RemoteConfig("ssh://deploy@h:2222/x.git").ssh_username() == "deploy"
    assert RemoteConfig("ssh://h/x.git").ssh_username() == "git"
    assert RemoteConfig("ssh://h/x.git", username="bot").ssh_username() == "bot"
    assert RemoteConfig("git@h.example:org/x.git").ssh_username() == "git"
    assert RemoteConfig("ssh://deploy@h:2222/x.git").host == "h:2222"
    assert RemoteConfig("git+ssh://h/x.git").libgit2_url == "ssh://h/x.git"


KEY = Path("/k/id")
PW = Path("/k/pw")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            RemoteConfig("https://bot:hunter2@git.example.com/c.git"),
            "--repo https://***@git.example.com/c.git: credentials in the URL are not allowed; "
            "use --git-username with --git-password-file, or --git-token-file",
            id="password-in-https-url",
        ),
        pytest.param(
            RemoteConfig("https://bot@git.example.com/c.git"),
            "--repo https://bot@git.example.com/c.git: credentials in the URL are not allowed; "
            "use --git-username with --git-password-file, or --git-token-file",
            id="user-in-https-url",
        ),
        pytest.param(
            RemoteConfig("ssh://git:hunter2@h/c.git", ssh_key=KEY),
            "--repo ssh://***@h/c.git: credentials in the URL are not allowed; use --ssh-key",
            id="password-in-ssh-url",
        ),
        pytest.param(
            RemoteConfig("http://h/c.git", username="bot", password_file=PW),
            "--repo http://h/c.git: refusing to send credentials over plain http; "
            "use https, or pass --allow-insecure-http",
            id="basic-auth-over-http",
        ),
        pytest.param(
            RemoteConfig("http://h/c.git", token_file=PW),
            "--repo http://h/c.git: refusing to send credentials over plain http; "
            "use https, or pass --allow-insecure-http",
            id="token-over-http",
        ),
        pytest.param(
            RemoteConfig("http://h/c.git", secret_data={"username": "u", "password": "p"}),
            "--repo http://h/c.git: refusing to send credentials over plain http; "
            "use https, or pass --allow-insecure-http",
            id="secret-over-http",
        ),
        pytest.param(
            RemoteConfig("https://h/c.git", password_file=PW),
            "--git-password-file needs --git-username",
            id="password-without-user",
        ),
        pytest.param(
            RemoteConfig("https://h/c.git", username="u", password_file=PW, token_file=PW),
            "--git-password-file and --git-token-file: choose one",
            id="password-and-token",
        ),
        pytest.param(
            RemoteConfig("https://h/c.git", ssh_key=KEY),
            "--repo https://h/c.git: --ssh-key and --known-hosts apply to ssh URLs only",
            id="ssh-key-for-https",
        ),
        pytest.param(
            RemoteConfig("ssh://h/c.git", ssh_key=KEY, password_file=PW),
            "--repo ssh://h/c.git: ssh authenticates with --ssh-key, not a password or token",
            id="password-for-ssh",
        ),
        pytest.param(
            RemoteConfig("ssh://h/c.git"),
            "--repo ssh://h/c.git: an ssh URL needs --ssh-key",
            id="ssh-without-key",
        ),
        pytest.param(
            RemoteConfig("./config.git", token_file=PW),
            "--repo ./config.git: a local repo takes no credentials",
            id="credentials-for-a-path",
        ),
        pytest.param(
            RemoteConfig("ftp://h/c.git"),
            "--repo ftp://h/c.git: unsupported URL scheme 'ftp' (use https, ssh or a path)",
            id="unknown-scheme",
        ),
    ],
)
def test_refused_before_any_connection(config: RemoteConfig, message: str) -> None:
    with pytest.raises(PermanentError) as err:
        config.check()
    assert str(err.value) == message


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(RemoteConfig("http://h/c.git", token_file=PW, allow_insecure_http=True), id="allowed"),
        pytest.param(RemoteConfig("http://h/c.git"), id="anonymous-http"),
        pytest.param(RemoteConfig("https://h/c.git", username="u", password_file=PW), id="https-basic"),
        pytest.param(RemoteConfig("ssh://h/c.git", secret_data={"identity": "k"}), id="ssh-key-from-secret"),
    ],
)
def test_accepted(config: RemoteConfig) -> None:
    config.check()


def test_credentials_are_read_from_files_at_use(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("first\n")
    config = RemoteConfig("https://h/c.git", username="bot", password_file=password)
    assert config.load_credentials().password == "first"
    password.write_text("rotated\n")
    creds = config.load_credentials()
    assert (creds.username, creds.password, creds.source) == ("bot", "rotated", f"password from {password}")


def test_token_file_is_a_bearer_token_unless_a_username_is_given(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    bearer = RemoteConfig("https://h/c.git", token_file=token).load_credentials()
    as_password = RemoteConfig(
        "https://h/c.git", token_file=token, username="x-access-token"
    ).load_credentials()
    assert (bearer.username, bearer.token) == (None, "tok-123")
    assert (as_password.username, as_password.token) == ("x-access-token", "tok-123")


def test_secret_data_uses_fluxs_keys() -> None:
    https = RemoteConfig("https://h/c.git", secret_data={"username": b"bot", "password": b"pw"})
    bearer = RemoteConfig("https://h/c.git", secret_data={"bearerToken": "tok\n"})
    ssh = RemoteConfig(
        "ssh://h/c.git",
        secret_data={
            "identity": "KEY",
            "identity.pub": "PUB",
            "password": "phrase",
            "known_hosts": "h ssh-ed25519 A",
        },
    )
    assert (https.load_credentials().username, https.load_credentials().password) == ("bot", "pw")
    assert bearer.load_credentials().token == "tok"
    creds = ssh.load_credentials()
    assert (creds.ssh_key, creds.ssh_public_key, creds.ssh_passphrase, creds.known_hosts) == (
        "KEY",
        "PUB",
        "phrase",
        "h ssh-ed25519 A",
    )
    assert creds.known_hosts_source == "known_hosts of the Secret"


def test_secret_data_as_the_api_returns_it() -> None:
    data = {"username": base64.b64encode(b"bot").decode(), "password": base64.b64encode(b"pw").decode()}
    assert decode_secret_bytes(data) == {"username": b"bot", "password": b"pw"}
    with pytest.raises(PermanentError, match="git credentials Secret: a value is not base64"):
        decode_secret_bytes({"password": "not base64!"})


def test_a_missing_credential_file_is_one_clear_line(tmp_path: Path) -> None:
    config = RemoteConfig("https://h/c.git", username="bot", password_file=tmp_path / "nope")
    with pytest.raises(PermanentError) as err:
        config.load_credentials()
    assert str(err.value) == f"--git-password-file {tmp_path / 'nope'}: No such file or directory"


def test_no_repr_shows_a_secret(tmp_path: Path) -> None:
    config = RemoteConfig("https://h/c.git", secret_data={"password": "hunter2"})
    creds = Credentials(
        username="bot", password="hunter2", token="tok-123", ssh_key="PRIVATE", ssh_passphrase="pp"
    )
    assert "hunter2" not in repr(config)
    assert not any(value in repr(creds) for value in ("hunter2", "tok-123", "PRIVATE", "pp'"))


def test_error_texts_are_scrubbed() -> None:
    creds = Credentials(username="bot", password="hunter2", token="tok-123")
    text = (
        "auth failed for https://bot:hunter2@h/c.git with\ntok-123 and "
        + base64.b64encode(b"hunter2").decode()
    )
    assert scrub(text, creds) == "auth failed for https://***@h/c.git with *** and ***"


def test_redact_url() -> None:
    assert redact_url("https://u:p@h/x.git") == "https://***@h/x.git"
    assert redact_url("ssh://git@h/x.git") == "ssh://git@h/x.git"
    assert redact_url("/srv/x.git") == "/srv/x.git"
