"""What the report shows: each recorded step as read back from its commit, grouped into rollouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Metric:
    """One line of a step's ``Metrics:`` section: ``name: value (min 99, max 500) pass``."""

    name: str
    value: float | None
    """``None`` when nothing was measured (``no values found``, a query error)."""
    text: str
    """The value as recorded (``95.5``, ``no values found``)."""
    min: float | None = None
    max: float | None = None
    passed: bool = True


@dataclass(frozen=True)
class Gate:
    """One line of a step's ``Gates:`` section: a webhook, its type and its answer."""

    name: str
    kind: str
    passed: bool
    message: str = ""


@dataclass(frozen=True)
class StepRecord:
    """One step commit: its trailers, the evidence in its body, and its manifest diff."""

    commit: str
    time: datetime
    subject: str
    phase: str
    canary_weight: int
    primary_weight: int
    failed_checks: int
    revision: str
    trailers: tuple[tuple[str, str], ...] = ()
    events: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()
    gates: tuple[Gate, ...] = ()
    diff: str = ""
    """The unified diff of the Canary's directory against the commit's parent."""


@dataclass(frozen=True)
class Rollout:
    """The steps of one revision, oldest first; ``number`` counts from 1, oldest rollout first."""

    number: int
    steps: tuple[StepRecord, ...] = field(default_factory=tuple)

    @property
    def revision(self) -> str:
        return self.steps[0].revision

    @property
    def result(self) -> str:
        """The last phase: ``Succeeded``, ``Failed``, or the phase it is still in."""
        return self.steps[-1].phase

    @property
    def failed_checks(self) -> int:
        """How many checks failed: each step that raised the count, and the highest count reached."""
        return max((s.failed_checks for s in self.steps), default=0)

    @property
    def duration_seconds(self) -> float:
        return (self.steps[-1].time - self.steps[0].time).total_seconds()

    @property
    def ended_because(self) -> str:
        """Why it ended (or where it stands): the last step's first event, else its subject."""
        last = self.steps[-1]
        return last.events[0] if last.events else last.subject


def split_rollouts(steps: list[StepRecord]) -> list[Rollout]:
    """Oldest-first steps → one rollout per run of steps with the same revision, oldest first."""
    groups: list[list[StepRecord]] = []
    for step in steps:
        if groups and groups[-1][-1].revision == step.revision:
            groups[-1].append(step)
        else:
            groups.append([step])
    return [Rollout(i + 1, tuple(g)) for i, g in enumerate(groups)]
