"""Signed step commits, with an SSH key or a GPG key, verifiable with ``git log --show-signature``.

Git signs a commit by signing the commit object's bytes without the
``gpgsig`` header and then inserting the signature there; both key types use
that header. We do the same with pygit2: :meth:`pygit2.Repository.create_commit_string`
gives the exact bytes, an external tool signs them, and
:meth:`pygit2.Repository.create_commit_with_signature` writes the signed object.

* SSH (``git -c gpg.format=ssh`` semantics): ``ssh-keygen -Y sign -n git -f KEY``.
  Verifiers list the key in an allowed-signers file
  (``git -c gpg.ssh.allowedSignersFile=FILE log --show-signature``). The key
  must be usable without a prompt: unencrypted, or its public half with the
  private key loaded in ``ssh-agent``.
* GPG: ``gpg --batch --detach-sign --armor --local-user KEYID``, using the
  usual ``GNUPGHOME``; a passphrase must come from ``gpg-agent``.

Signing is the only step of recording that runs a program; a rebase re-signs
every commit it rewrites (:mod:`gitflagger.adapters.git.rebase`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pygit2

from gitflagger.errors import PermanentError

SIGN_TIMEOUT = 30.0


class Signer(Protocol):
    """Makes an ASCII-armoured detached signature over a commit's bytes."""

    def sign(self, payload: bytes) -> str: ...


@dataclass(frozen=True)
class SshSigner:
    """``ssh-keygen -Y sign -n git``: what git does with ``gpg.format=ssh``."""

    key: Path

    def sign(self, payload: bytes) -> str:
        return _run(
            ["ssh-keygen", "-Y", "sign", "-n", "git", "-f", str(self.key)], payload, f"ssh key {self.key}"
        )


@dataclass(frozen=True)
class GpgSigner:
    """``gpg --detach-sign --armor`` with one named key."""

    key_id: str

    def sign(self, payload: bytes) -> str:
        command = ["gpg", "--batch", "--no-tty", "--detach-sign", "--armor", "--local-user", self.key_id]
        return _run(command, payload, f"gpg key {self.key_id}")


def parse_signer(spec: str) -> Signer:
    """``ssh:/path/to/key`` or ``gpg:KEYID`` (the ``--sign-commits`` option)."""
    kind, _, value = spec.partition(":")
    if kind == "ssh" and value:
        key = Path(value).expanduser()
        if not key.is_file():
            raise PermanentError(f"--sign-commits {spec}: no such key file")
        return SshSigner(key)
    if kind == "gpg" and value:
        return GpgSigner(value)
    raise PermanentError(f"--sign-commits {spec!r}: expected ssh:KEYFILE or gpg:KEYID")


def write_commit(
    repo: pygit2.Repository,
    *,
    author: pygit2.Signature,
    committer: pygit2.Signature,
    message: str,
    tree: pygit2.Oid,
    parents: Sequence[pygit2.Oid],
    signer: Signer | None = None,
) -> pygit2.Oid:
    """Write a commit object (signed when ``signer`` is given) without moving any ref."""
    if signer is None:
        oid: pygit2.Oid = repo.create_commit(None, author, committer, message, tree, list(parents))
        return oid
    # pygit2's stub says Oid; the call returns the commit object's text.
    content = str(repo.create_commit_string(author, committer, message, tree, list(parents)))
    signature = signer.sign(content.encode("utf-8"))
    signed: pygit2.Oid = repo.create_commit_with_signature(content, signature)
    return signed


def _run(command: list[str], payload: bytes, what: str) -> str:
    if shutil.which(command[0]) is None:
        raise PermanentError(f"cannot sign commits with {what}: {command[0]} is not installed")
    try:
        # A new session has no controlling terminal, so a key that wants a passphrase fails at
        # once instead of prompting on whatever terminal started the controller.
        proc = subprocess.run(
            command,
            input=payload,
            capture_output=True,
            timeout=SIGN_TIMEOUT,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as err:
        raise PermanentError(f"signing with {what} timed out (does the key need a passphrase?)") from err
    if proc.returncode != 0 or not proc.stdout.strip():
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise PermanentError(
            f"signing with {what} failed: {lines[-1] if lines else f'exit {proc.returncode}'}"
        )
    return proc.stdout.decode("ascii", errors="strict")
