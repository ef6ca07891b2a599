"""A git server on loopback: smart HTTP with basic auth, and SSH with a host key.

- HTTP: ``git http-backend`` (CGI) behind a threaded Python HTTP server. Basic
  auth with ``username``/``password``; the ``token`` is accepted as a Bearer
  token or as the password of any user. Anything else gets ``401`` with
  ``WWW-Authenticate: Basic``. Push is enabled (``http.receivepack true``).
- SSH: Debian's ``/usr/sbin/sshd`` with its own config, ed25519 host key and
  an authorized_keys file holding the generated client keys (one plain, one
  protected by ``KEY_PASSPHRASE``). Git's ssh transport runs
  ``git-receive-pack '/abs/path.git'`` in the login shell. The ssh user is the
  user running the tests (sshd needs a real account; root in CI).

- HTTPS (opt-in, :meth:`GitServer.start_https`): the same handler behind TLS on
  its own port, with a server certificate for ``127.0.0.1`` and ``localhost``
  signed by a throwaway CA generated for this server (``tls.ca``). ``tls.other_ca``
  is a second CA that signed nothing here: trusting it is "the wrong CA".

URLs: ``http://127.0.0.1:PORT/NAME.git``, ``https://127.0.0.1:PORT/NAME.git`` and ``ssh://USER@127.0.0.1:PORT/ROOT/NAME.git``
(the absolute-path ssh:// form works with both the git CLI and libgit2).
``known_hosts`` holds ``[127.0.0.1]:PORT ssh-ed25519 ...``; ``ssh_home`` is a
directory whose ``.ssh/known_hosts`` is that file, for libgit2 (see the
``homedir`` note in the tests).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime
import getpass
import ipaddress
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pygit2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.testbed.prometheus import free_port, kill_group, log_tail

SSHD_BIN = "/usr/sbin/sshd"
KEY_PASSPHRASE = "testbed passphrase"
REALM = "gitflagger-testbed"


class GitServerError(RuntimeError):
    """The git server failed to start."""


@dataclass(frozen=True)
class RepoUrls:
    path: Path
    http: str
    ssh: str
    https: str = ""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the HTTPS listener: its CA, its certificate and key, and an unrelated CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _tls_files(directory: Path) -> TlsFiles:
    """A CA, a server certificate it signs for 127.0.0.1 and localhost, and a second, unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("gitflagger testbed git CA")
    _, other_cert = ca("gitflagger testbed unrelated CA")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server-key.pem",
        other_ca=directory / "other-ca.pem",
    )
    pem = serialization.Encoding.PEM
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.other_ca.write_bytes(other_cert.public_bytes(pem))
    files.cert.write_bytes(leaf.public_bytes(pem))
    files.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key.chmod(0o600)
    return files


def _run(*cmd: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GitServerError(f"git server: {' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _keygen(path: Path, passphrase: str = "", comment: str = "gitflagger-testbed") -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path))


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    git: GitServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Connections cut by stop() end up here; keep the traceback out of the test output.
        with open(self.git.dir / "http.log", "a") as log:
            log.write(f"{client_address}: {traceback.format_exc()}\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.git._connections.add(self.connection)
        if isinstance(self.connection, ssl.SSLSocket):
            # Handshake here, in the request's thread: in accept() one stalled client
            # would block every other connection.
            self.connection.do_handshake()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.git._connections.discard(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        with open(self.server.git.dir / "http.log", "a") as log:
            log.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _reply(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        git = self.server.git
        body = self._body() if self.command == "POST" else b""
        user = git.check_auth(self.headers.get("Authorization"))
        if user is None:
            self._reply(401, b"authentication required\n",
                        [("WWW-Authenticate", f'Basic realm="{REALM}"'), ("Content-Type", "text/plain")])
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(git.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.Popen(["git", "http-backend"], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        git._cgi.add(proc)
        try:
            out, err = proc.communicate(body)
        finally:
            git._cgi.discard(proc)
        if err:
            self.log_message("http-backend: %s", err.decode(errors="replace").strip())
        head, sep, rest = out.partition(b"\r\n\r\n")
        if not sep:
            head, sep, rest = out.partition(b"\n\n")
        if proc.returncode != 0 and not sep:
            self._reply(500, err or b"http-backend failed\n", [("Content-Type", "text/plain")])
            return
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self._reply(status, rest, headers)


class GitServer:
    """Bare repos under ``root`` served over smart HTTP and SSH on 127.0.0.1."""

    def __init__(
        self,
        root: Path | None = None,
        username: str = "gitflagger",
        password: str = "s3cret-testbed",
        token: str = "testbed-token-0123456789",
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gitflagger-gitserver-"))
        self.root = Path(root) if root is not None else self.dir / "repos"
        self.root.mkdir(parents=True, exist_ok=True)
        self.username, self.password, self.token = username, password, token
        self.ssh_user = getpass.getuser()
        self.http_port = free_port()
        self.https_port = free_port()
        self.ssh_port = free_port()
        self._httpd: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._httpsd: _HTTPServer | None = None
        self._https_thread: threading.Thread | None = None
        self._tls: TlsFiles | None = None
        self._sshd: subprocess.Popen[bytes] | None = None
        self._connections: set[socket.socket] = set()
        self._cgi: set[subprocess.Popen[bytes]] = set()
        keys = self.dir / "keys"
        keys.mkdir()
        self.host_key = keys / "ssh_host_ed25519_key"
        self.client_key = keys / "client_ed25519"
        self.client_key_passphrase = keys / "client_ed25519_passphrase"
        self.unauthorized_key = keys / "unauthorized_ed25519"
        self.other_host_key = keys / "other_host_ed25519_key"
        for key in (self.host_key, self.client_key, self.unauthorized_key, self.other_host_key):
            _keygen(key)
        _keygen(self.client_key_passphrase, KEY_PASSPHRASE)
        self.authorized_keys = keys / "authorized_keys"
        self.authorized_keys.write_text(
            Path(f"{self.client_key}.pub").read_text() + Path(f"{self.client_key_passphrase}.pub").read_text()
        )
        self.ssh_home = self.dir / "home"
        (self.ssh_home / ".ssh").mkdir(parents=True)
        self.known_hosts = self.ssh_home / ".ssh" / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line() + "\n")
        atexit.register(self.close)

    # ---- lifecycle -------------------------------------------------------

    def start(self, timeout: float = 30.0) -> GitServer:
        self.start_http()
        self.start_ssh(timeout)
        return self

    def stop(self) -> None:
        """Stop every server abruptly: in-flight requests and sessions are cut."""
        self.stop_http()
        self.stop_https()
        self.stop_ssh()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_http(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = _HTTPServer(("127.0.0.1", self.http_port), _Handler)
        self._httpd.git = self
        self._http_thread = threading.Thread(
            target=self._httpd.serve_forever, name="gitserver-http", daemon=True
        )
        self._http_thread.start()

    def stop_http(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None
        for proc in list(self._cgi):
            kill_group(proc, timeout=5)
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._http_thread is not None:
            self._http_thread.join(timeout=10)

    @property
    def tls(self) -> TlsFiles:
        """The HTTPS listener's CA, certificate and key (generated on first use)."""
        if self._tls is None:
            self._tls = _tls_files(self.dir / "tls")
        return self._tls

    def start_https(self) -> None:
        """Serve the same repos over HTTPS on ``https_port`` (idempotent)."""
        if self._httpsd is not None:
            return
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls.cert, self.tls.key)
        httpd = _HTTPServer(("127.0.0.1", self.https_port), _Handler)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        httpd.git = self
        self._httpsd = httpd
        self._https_thread = threading.Thread(target=httpd.serve_forever, name="gitserver-https", daemon=True)
        self._https_thread.start()

    def stop_https(self) -> None:
        if self._httpsd is None:
            return
        self._httpsd.shutdown()
        self._httpsd.server_close()
        self._httpsd = None
        if self._https_thread is not None:
            self._https_thread.join(timeout=10)

    def start_ssh(self, timeout: float = 30.0) -> None:
        if self._sshd is not None and self._sshd.poll() is None:
            return
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.ssh_port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}", f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "AuthenticationMethods publickey",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {self.ssh_user}", "PermitUserRC no", "PermitUserEnvironment no", "PermitTTY no",
            "X11Forwarding no", "AllowTcpForwarding no", "AllowAgentForwarding no", "PrintMotd no",
            "UseDNS no", "MaxStartups 100", "MaxSessions 100", "LogLevel VERBOSE", "",
        ]))
        log = self.dir / "sshd.log"
        _run(SSHD_BIN, "-t", "-f", str(config))
        with open(log, "ab") as out:
            self._sshd = subprocess.Popen([SSHD_BIN, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._sshd.poll() is not None:
                raise GitServerError(f"git server: sshd exited with {self._sshd.returncode}; "
                                     f"log tail:\n{log_tail(log)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.ssh_port), 1) as s:
                s.settimeout(5)
                if s.recv(4).startswith(b"SSH-"):
                    return
            time.sleep(0.05)
        raise GitServerError(f"git server: sshd not listening on {self.ssh_port}; log tail:\n{log_tail(log)}")

    def stop_ssh(self) -> None:
        if self._sshd is None:
            return
        sessions = _descendants(self._sshd.pid)  # per-connection children and their git processes
        kill_group(self._sshd, timeout=5)
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        self._sshd = None

    # ---- repos -----------------------------------------------------------

    def repo_path(self, name: str) -> Path:
        return self.root / f"{name.removesuffix('.git')}.git"

    def http_url(self, name: str, credentials: bool = False) -> str:
        auth = f"{self.username}:{self.password}@" if credentials else ""
        return f"http://{auth}127.0.0.1:{self.http_port}/{name.removesuffix('.git')}.git"

    def https_url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.https_port}/{name.removesuffix('.git')}.git"

    def ssh_url(self, name: str) -> str:
        return f"ssh://{self.ssh_user}@127.0.0.1:{self.ssh_port}{self.repo_path(name)}"

    def create_repo(self, name: str, initial_commit: bool = True, branch: str = "main") -> RepoUrls:
        path = self.repo_path(name)
        if path.exists():
            raise GitServerError(f"git server: repo {name} already exists")
        _run("git", "init", "-q", "--bare", "-b", branch, str(path))
        _run("git", "-C", str(path), "config", "http.receivepack", "true")
        if initial_commit:
            repo = pygit2.Repository(str(path))
            blob = repo.create_blob(b"# testbed config repo\n")
            builder = repo.TreeBuilder()
            builder.insert("README.md", blob, pygit2.enums.FileMode.BLOB)
            sig = pygit2.Signature("testbed", "testbed@example.invalid", 1_700_000_000, 0)
            repo.create_commit(f"refs/heads/{branch}", sig, sig, "Initial commit", builder.write(), [])
        return RepoUrls(path, self.http_url(name), self.ssh_url(name), self.https_url(name))

    def install_rejecting_hook(self, name: str, message: str) -> None:
        hook = self.repo_path(name) / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\necho {shlex.quote(message)} >&2\nexit 1\n")
        hook.chmod(0o755)

    def remove_hook(self, name: str) -> None:
        (self.repo_path(name) / "hooks" / "pre-receive").unlink(missing_ok=True)

    def head(self, name: str, branch: str = "main") -> str | None:
        """The commit id of ``branch`` in the bare repo, or None."""
        ref = pygit2.Repository(str(self.repo_path(name))).references.get(f"refs/heads/{branch}")
        return str(ref.target) if ref is not None else None

    # ---- auth and clients ------------------------------------------------

    def check_auth(self, header: str | None) -> str | None:
        """The authenticated user for an Authorization header, or None."""
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() == "bearer":
            return "token" if value.strip() == self.token else None
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if (user, password) == (self.username, self.password) or (user and password == self.token):
            return user
        return None

    def known_hosts_line(self, host_key: Path | None = None) -> str:
        keytype, key = Path(f"{host_key or self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.ssh_port} {keytype} {key}"

    def git_ssh_command(self, key: Path | None = None, known_hosts: Path | None = None) -> str:
        """A ``GIT_SSH_COMMAND`` for the git CLI: this key only, strict host key checking."""
        return " ".join([
            "ssh", "-F", "/dev/null", "-i", shlex.quote(str(key or self.client_key)),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={shlex.quote(str(known_hosts or self.known_hosts))}",
            "-o", "GlobalKnownHostsFile=/dev/null",
        ])

    def git_env(self, key: Path | None = None, known_hosts: Path | None = None) -> dict[str, str]:
        """Environment for running the git CLI against this server without prompts."""
        return {**os.environ, "GIT_SSH_COMMAND": self.git_ssh_command(key, known_hosts),
                "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false"}
