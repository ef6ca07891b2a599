"""What a reconcile runs with: the Context (configuration and wiring) and the CanaryMemory.

The two change at different rates and belong to different owners, so they are
two objects:

- :class:`Context` is set up once, by ``gitflagger run`` or a test, and never
  changes: the cluster and the config repo, the metrics server, the reports,
  the apply mode, the clock, the leadership guard. It is frozen; a variant (a
  controller's own guard, a test's other apply mode) is a new Context made with
  ``dataclasses.replace``.
- :class:`CanaryMemory` is what is remembered of each Canary between its steps,
  and it changes on every step. The controller owns one and forgets a Canary's
  part when the Canary is deleted; a one-off ``reconcile_one`` starts empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from gitflagger.engine.alerting import AlertProviders
from gitflagger.engine.flux import Flux
from gitflagger.engine.ports import ClusterPort, IntentPort, RecordPort
from gitflagger.engine.report import Reporting
from gitflagger.engine.telemetry import Telemetry
from gitflagger.model.canary import DEFAULT_PROVIDER
from gitflagger.render.names import FLAGGER_LABELLING, Labelling


class ApplyMode(StrEnum):
    SSA = "ssa"
    """gitflagger applies what it commits (server-side apply)."""
    GIT_ONLY = "git-only"
    """Flux or Argo CD applies the repo; gitflagger waits for the live state to catch up."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _always_leading() -> None:
    """The guard of a controller without leader election: every write may go ahead."""


@dataclass(frozen=True)
class Context:
    """Everything a reconcile needs besides the Canary and its memory; never changed once built."""

    cluster: ClusterPort
    recorder: RecordPort
    metrics_server: str
    telemetry: Telemetry = field(default_factory=Telemetry)
    reporting: Reporting = field(default_factory=Reporting)
    intents: IntentPort | None = None
    apply_mode: ApplyMode = ApplyMode.SSA
    mesh_provider: str = DEFAULT_PROVIDER
    """The router of Canaries without ``spec.provider`` (``--mesh-provider``)."""
    labelling: Labelling = FLAGGER_LABELLING
    """Selector labels and copied label prefixes (``--selector-labels``, ``--include-label-prefix``)."""
    no_cross_namespace_refs: bool = False
    """Refuse metric template and alert provider references into another namespace
    (``--no-cross-namespace-refs``)."""
    flux: Flux | None = None
    """git-only mode with Flux: the objects to nudge after a push and whose verdict to read."""
    clock: Callable[[], datetime] = _utc_now
    guard: Callable[[], None] = _always_leading
    """Called right before each write of a step; raises ``LeadershipLost`` to stop it. A controller
    with leader election runs with a copy of its Context carrying its own guard."""
    alert_providers: AlertProviders = None  # type: ignore[assignment]  # one on cluster, below
    """Resolves the Canaries' alert providers once per pass; one on :attr:`cluster` by default."""

    def __post_init__(self) -> None:
        if self.alert_providers is None:
            object.__setattr__(self, "alert_providers", AlertProviders(self.cluster))  # still constructing

    @property
    def alerting(self) -> AlertProviders:
        return self.alert_providers


@dataclass
class CanaryMemory:
    """What is remembered of each Canary (``ns/name``) between its steps; owned by the controller."""

    applied: dict[str, dict[str, str]] = field(default_factory=dict)
    """``Kind/name`` → checksum applied at the Canary's last step: what drift is measured against."""
    invalid: dict[str, str] = field(default_factory=dict)
    """The validation message last announced, so a bad spec is one Event, not one per pass."""
    faults: dict[str, str] = field(default_factory=dict)
    """The unexpected error last announced (:mod:`.faults`), cleared by a step that succeeds."""
    gitops: dict[str, dict[str, str]] = field(default_factory=dict)
    """git-only mode: per topic, what was last announced about Flux (:mod:`.git_only`), so each
    problem is one Event, not one per pass."""

    def forget(self, canary: str) -> None:
        """Drop everything remembered of a deleted Canary."""
        for memory in (self.applied, self.invalid, self.faults, self.gitops):
            memory.pop(canary, None)
