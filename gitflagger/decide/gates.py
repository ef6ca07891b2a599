"""Gate webhooks: the answers the decision needs from outside, and which ones are due.

Flagger calls its gate webhooks in the middle of ``advanceCanary``, one after
the other, and stops at the first that blocks. The decision core cannot call
anything, so the engine calls the gates first and passes their answers in
``Observation.webhooks``. To know *which* gates to call, the engine asks
:func:`gitflagger.decide.gates_due`, which runs the very same decision with an
optimistic :class:`GateBook`: every unanswered gate is assumed to let the
rollout continue, and the book notes each type the path consulted. That is the
exact set of types Flagger would call when everything passes, in Flagger's
order; any failure only shortens the path, so calling them all is enough.

For real decisions the book is strict: a due gate with no answer counts as a
failure (no evidence, no progress). ``rollback`` gates are the one twist: their
"failure" would abort a healthy release, so a missing rollback answer halts
the step instead, without counting a failed check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitflagger.decide.observation import WebhookResult
from gitflagger.model.canary import Analysis, Webhook, WebhookType

NO_RESULT = "no result"
"""The error text of a gate that was due but was not called."""


@dataclass(frozen=True)
class Answer:
    """One webhook's answer; ``missing`` when the engine passed none."""

    webhook: Webhook
    ok: bool
    message: str
    missing: bool = False


@dataclass
class GateBook:
    """Reads gate answers and remembers which types and metrics the decision consulted."""

    analysis: Analysis
    results: Mapping[str, WebhookResult]
    optimistic: bool = False
    due: list[WebhookType] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    def answers(self, kind: WebhookType) -> tuple[Answer, ...]:
        """The answers of every webhook of ``kind``, in spec order."""
        hooks = self.analysis.webhooks_of(kind)
        out: list[Answer] = []
        for hook in hooks:
            result = self.results.get(hook.name)
            if result is not None:
                out.append(Answer(hook, result.ok, result.message))
                continue
            if kind not in self.due:
                self.due.append(kind)
            if self.optimistic:
                # The answer that lets the path continue: gates pass, rollback stays quiet.
                out.append(Answer(hook, ok=kind is not WebhookType.ROLLBACK, message=""))
            else:
                out.append(Answer(hook, ok=False, message=NO_RESULT, missing=True))
        return tuple(out)

    def note_metrics(self, names: tuple[str, ...]) -> None:
        for name in names:
            if name not in self.metrics:
                self.metrics.append(name)
