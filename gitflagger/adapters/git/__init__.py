"""The config repo: record steps as commits, push them, read them back.

``RepoSettings(RemoteConfig(url)).recorder()`` is the record stage for a local
path, ``file://``, HTTPS or SSH repo (:mod:`~gitflagger.adapters.git.config_repo`);
``.history("ns/name")`` reads a Canary's steps back from the trailers.
Everything here speaks pygit2 and translates its errors into
:mod:`gitflagger.errors`.
"""

from gitflagger.adapters.git.checksums import ChecksumKey
from gitflagger.adapters.git.config_repo import RepoSettings
from gitflagger.adapters.git.dryrun import DryRunRecorder, FileDiff
from gitflagger.adapters.git.history import HistoryEntry, history_at, read_history
from gitflagger.adapters.git.identity import DEFAULT_BRANCH, DEFAULT_PREFIX, Identity
from gitflagger.adapters.git.recorder import GitRecorder, RecordedStep, RecordResult, SkipReason
from gitflagger.adapters.git.remote import RemoteConfig, decode_secret_bytes
from gitflagger.adapters.git.remote_recorder import RemoteRecorder, RetryPolicy
from gitflagger.adapters.git.repository import open_repository
from gitflagger.adapters.git.signing import GpgSigner, Signer, SshSigner, parse_signer
from gitflagger.adapters.git.trailers import StepTrailers, parse_trailers

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_PREFIX",
    "ChecksumKey",
    "DryRunRecorder",
    "FileDiff",
    "GitRecorder",
    "GpgSigner",
    "HistoryEntry",
    "Identity",
    "RecordResult",
    "RecordedStep",
    "RemoteConfig",
    "RemoteRecorder",
    "RepoSettings",
    "RetryPolicy",
    "Signer",
    "SkipReason",
    "SshSigner",
    "StepTrailers",
    "decode_secret_bytes",
    "history_at",
    "open_repository",
    "parse_signer",
    "parse_trailers",
    "read_history",
]
