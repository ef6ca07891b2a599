"""The config repo: record steps as commits, read them back.

``GitRecorder(path).record(step)`` is the record stage; ``read_history(path,
"ns/name")`` reads a Canary's steps back from the trailers. Everything here
speaks pygit2 and translates its errors into :mod:`gitflagger.errors`.
"""

from gitflagger.adapters.git.history import HistoryEntry, read_history
from gitflagger.adapters.git.recorder import (
    DEFAULT_BRANCH,
    DEFAULT_PREFIX,
    GitRecorder,
    Identity,
    Recorder,
    RecordResult,
    SkipReason,
    Step,
)
from gitflagger.adapters.git.repository import open_repository
from gitflagger.adapters.git.trailers import StepTrailers, parse_trailers

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_PREFIX",
    "GitRecorder",
    "HistoryEntry",
    "Identity",
    "RecordResult",
    "Recorder",
    "SkipReason",
    "Step",
    "StepTrailers",
    "open_repository",
    "parse_trailers",
    "read_history",
]
