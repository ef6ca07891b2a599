"""Who writes to the config repo, and where by default: shared by the recorders and the intent store."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BRANCH = "main"
DEFAULT_PREFIX = "local"


@dataclass(frozen=True)
class Identity:
    """Author and committer of step commits."""

    name: str = "gitflagger"
    email: str = "gitflagger@localhost"


DEFAULT_IDENTITY = Identity()
