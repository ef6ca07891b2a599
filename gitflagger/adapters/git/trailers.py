"""The commit trailers that make the config repo's history machine-readable.

Every step commit ends with one paragraph of ``Key: value`` lines (ARCHITECTURE.md, *The config repo*)::

    Canary: test/podinfo
    Phase: Progressing
    Canary-Weight: 20
    Primary-Weight: 80
    Failed-Checks: 0
    Iterations: 0
    Revision: sha256:9f2c…
    Step-Id: 5e1b…/sha256:9f2c…/3
    Previous-Step: 0d4c…                  the Canary's previous step commit; absent on its first

``Previous-Step`` links a Canary's steps into a chain, newest to oldest, so
``gitflagger history`` reads only that Canary's commits however long the branch
is (see :mod:`gitflagger.adapters.git.latest`). A rebase rewrites it along with
the commit ids it names (:mod:`gitflagger.adapters.git.rebase`).

``gitflagger history`` and the recorder's idempotency check read them back, so
the format and the parser live side by side and are tested as a round trip.
The parser follows git's own rule: trailers are the last paragraph of the
message, and only when every line of it is a ``Token: value`` line (or a
whitespace-led continuation), so a body that merely contains a colon is never
mistaken for trailers.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from gitflagger.model.canary import Canary

_TRAILER = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$")
_HEX_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
PREVIOUS_STEP = "Previous-Step"
_UID_NAMESPACE = uuid.UUID("8c5a3f4e-6b0f-4c4a-9a53-6f1e2d9b7c10")
"""Fixed namespace for :func:`canary_uid`: the same Canary always gets the same uid."""


def canary_uid(canary: Canary) -> str:
    """The Canary's ``metadata.uid``, or a stable uid derived from ``namespace/name``.

    A Canary read from a file (``gitflagger simulate``) has no uid; deriving one
    keeps its Step-Ids stable across runs, so a re-run records nothing twice.
    """
    return canary.uid or str(uuid.uuid5(_UID_NAMESPACE, canary.ref))


def step_id(uid: str, revision: str, step: int) -> str:
    """``<canary uid>/<revision>/<step number>``: names one step of one rollout."""
    return f"{uid}/{revision}/{step}"


def parse_trailers(message: str) -> dict[str, str]:
    """The trailers of a commit message, by key; ``{}`` when the last paragraph is not trailers.

    >>> parse_trailers("subject\\n\\nbody: no trailer\\nmore\\n\\nPhase: Failed\\nCanary-Weight: 0\\n")
    {'Phase': 'Failed', 'Canary-Weight': '0'}
    >>> parse_trailers("subject only")
    {}
    """
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, str] = {}
    last_key = ""
    for line in paragraphs[-1].splitlines():
        if line[:1] in (" ", "\t") and last_key:
            found[last_key] = f"{found[last_key]} {line.strip()}"
            continue
        match = _TRAILER.match(line)
        if match is None:
            return {}
        last_key = match.group(1)
        found[last_key] = match.group(2).strip()
    return found


@dataclass(frozen=True)
class StepTrailers:
    """The facts one step commit carries in its trailers."""

    canary: str
    """``namespace/name``."""
    phase: str
    canary_weight: int
    primary_weight: int
    failed_checks: int
    iterations: int
    revision: str
    step_id: str
    previous_step: str | None = None
    """The commit id of the Canary's previous step in its directory; ``None`` for its first step."""

    def render(self) -> str:
        """The trailer paragraph, the documented keys in their order, both weights included."""
        chain = [f"{PREVIOUS_STEP}: {self.previous_step}"] if self.previous_step else []
        return "\n".join(
            [
                f"Canary: {self.canary}",
                f"Phase: {self.phase}",
                f"Canary-Weight: {self.canary_weight}",
                f"Primary-Weight: {self.primary_weight}",
                f"Failed-Checks: {self.failed_checks}",
                f"Iterations: {self.iterations}",
                f"Revision: {self.revision}",
                f"Step-Id: {self.step_id}",
                *chain,
            ]
        )

    @classmethod
    def from_message(cls, message: str) -> StepTrailers | None:
        """Read a step commit's trailers; ``None`` for any commit gitflagger did not write.

        Commits made by people (a README edit, a manual revert) share the branch;
        they simply are not steps, so this never raises.
        """
        found = parse_trailers(message)
        try:
            return cls(
                canary=found["Canary"],
                phase=found["Phase"],
                canary_weight=int(found["Canary-Weight"]),
                primary_weight=int(found.get("Primary-Weight", 100 - int(found["Canary-Weight"]))),
                failed_checks=int(found["Failed-Checks"]),
                iterations=int(found.get("Iterations", "0")),
                revision=found["Revision"],
                step_id=found["Step-Id"],
                previous_step=_commit_id(found.get(PREVIOUS_STEP)),
            )
        except (KeyError, ValueError):
            return None


def with_previous_step(message: str, previous: str | None) -> str:
    """``message`` with its ``Previous-Step`` trailer set to ``previous`` (removed for ``None``).

    The rest of the message is kept byte for byte, so a rebased step reads as the original.
    """
    body = message.rstrip("\n")
    lines = body.split("\n")
    while lines and lines[-1].startswith(f"{PREVIOUS_STEP}:"):
        lines.pop()
    if previous:
        lines.append(f"{PREVIOUS_STEP}: {previous}")
    return "\n".join(lines) + "\n"


def _commit_id(value: str | None) -> str | None:
    """A full hex commit id, or ``None``: a chain link that cannot be an id is no link."""
    if value and _HEX_ID.fullmatch(value):
        return value
    return None
