"""Every error gitflagger raises, named by what the caller does next.

Adapters translate their library's exceptions into these at the boundary, so
no ``ApiException`` or ``GitError`` ever reaches the engine or the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class GitflaggerError(Exception):
    """Base class. ``str(err)`` is always one clear line fit for a user."""


class PermanentError(GitflaggerError):
    """Retrying will not help: the input or the configuration must change."""


class TemporaryError(GitflaggerError):
    """Retrying later may succeed (network, conflicts, a server restarting)."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: ``spec.analysis.stepWeight: must be between 1 and 100, got 0``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ValidationError(PermanentError):
    """An object failed validation. Carries every problem found, each with its field path."""

    def __init__(self, problems: Iterable[FieldProblem], *, subject: str = "") -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        self.subject = subject
        prefix = f"invalid {subject}: " if subject else "invalid input: "
        super().__init__(prefix + "; ".join(str(p) for p in self.problems))
