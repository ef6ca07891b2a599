"""Secret checksums as the config repo records them: keyed, so a checksum cannot be brute-forced.

A Secret never enters git, but its checksum does (``secretChecksums`` and the
``secret/…`` entries of ``status.trackedConfigs`` in ``canary.yaml``), so a
changed Secret still shows up in the history. A plain ``sha256`` of a
low-entropy value (a 6-digit PIN, a dictionary password) is reversed by
hashing guesses, and a config repo is usually readable by far more people than
the Secret. So before a Secret's checksum is written it is sealed:
``hmac-sha256:<hex>`` = HMAC-SHA256(key, plain checksum). Guessing then needs
the key, which never enters git either.

The key, in order of preference:

1. ``--checksum-key-file`` (say, a Kubernetes Secret mounted into the
   controller): every replica and every restart seals alike.
2. Otherwise a random 32-byte key created on first use in the repository's git
   directory, ``<gitdir>/gitflagger/checksum-key`` (mode 0600). Files in the
   git directory are never pushed or cloned, so the key stays on the machine
   that recorded. For a remote repo that is the local cache: a fresh cache (a
   new pod without a persistent volume) gets a new key, and the next step of
   each Canary that has Secrets shows its checksums changing once. Nothing
   decides on these values: rollouts compare the cluster's own
   ``status.trackedConfigs``, which are unsealed (Flagger's, for compatibility).

Rebuilding a Canary's state from ``canary.yaml`` must therefore compare a
sealed entry with :meth:`ChecksumKey.matches`, never with ``==``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from gitflagger.errors import PermanentError

SCHEME = "hmac-sha256"
KEY_FILE = Path("gitflagger") / "checksum-key"
"""Relative to the repository's git directory."""
MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class ChecksumKey:
    """The key that seals Secret checksums; its bytes never appear in a repr."""

    key: bytes = field(repr=False)

    def seal(self, checksum: str) -> str:
        """``hmac-sha256:<hex>`` of a plain checksum; a sealed one is returned unchanged."""
        if checksum.startswith(f"{SCHEME}:"):
            return checksum
        digest = hmac.new(self.key, checksum.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{SCHEME}:{digest}"

    def matches(self, recorded: str, observed: str) -> bool:
        """Whether a checksum read from git stands for the plain checksum ``observed``."""
        return hmac.compare_digest(self.seal(recorded), self.seal(observed))

    @classmethod
    def ephemeral(cls) -> ChecksumKey:
        """A throwaway key: for output that is never stored, yet must not show a plain checksum."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_file(cls, path: Path) -> ChecksumKey:
        """A key from a file (trailing whitespace ignored); at least 16 bytes."""
        try:
            key = path.read_bytes().strip()
        except OSError as err:
            raise PermanentError(f"--checksum-key-file {path}: {err.strerror or err}") from err
        if len(key) < MIN_KEY_BYTES:
            raise PermanentError(f"--checksum-key-file {path}: a key needs at least {MIN_KEY_BYTES} bytes")
        return cls(key)

    @classmethod
    def for_git_dir(cls, git_dir: str | Path, *, create: bool = True) -> ChecksumKey:
        """The repository's own key, created (0600, exclusively) on first use when ``create`` allows.

        Without ``create`` (a dry run writes nothing) a missing key gives a
        throwaway one: a dry run then shows secret checksums as changed.
        """
        path = Path(git_dir) / KEY_FILE
        if path.exists() or not create:
            return cls._read(path) if path.exists() else cls.ephemeral()
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32).hex().encode("ascii"))
        try:
            os.link(draft, path)  # atomic and exclusive: a reader never sees a half-written key
        except FileExistsError:
            pass  # another recorder won the race: use its key
        finally:
            draft.unlink()
        return cls._read(path)

    @classmethod
    def _read(cls, path: Path) -> ChecksumKey:
        key = path.read_bytes().strip()
        if len(key) < MIN_KEY_BYTES:
            raise PermanentError(f"{path}: checksum key is too short; delete it to create a new one")
        return cls(key)
