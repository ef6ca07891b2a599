"""decide → render → the step to record: the pure middle of every reconcile, shared by all engines.

``gitflagger simulate`` and the controller observe and apply very differently
(a scripted timeline against a live cluster), but between the two they do the
same thing: ask the decision core what this step does, render what must exist
afterwards, and describe the step for the config repo. Keeping that in one
function means a simulated rollout and a real one cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gitflagger.adapters.git import RecordedStep
from gitflagger.decide import Decision, MetricResult, Observation, decide, metrics_due
from gitflagger.model.canary import Canary
from gitflagger.model.status import State
from gitflagger.render import FLAGGER_LABELLING, Labelling, Manifest, WorkloadInputs, render


@dataclass(frozen=True)
class Plan:
    """What one step will do: the decision, the objects that must exist after it, and its record."""

    decision: Decision
    manifests: tuple[Manifest, ...]
    step: RecordedStep


def plan_step(
    canary: Canary,
    state: State,
    observation: Observation,
    inputs: WorkloadInputs,
    labelling: Labelling = FLAGGER_LABELLING,
) -> Plan:
    """Decide and render one step; the commit carries only the metrics the step actually judged."""
    decision = decide(canary, state, observation)
    manifests = render(
        canary,
        inputs,
        decision,
        include_label_prefixes=labelling.include_label_prefixes,
        selector_labels=labelling.selector_labels,
    )
    analysed = set(metrics_due(canary, state, observation))
    step = RecordedStep(
        canary=canary,
        decision=decision,
        manifests=manifests,
        revision=observation.revision,
        time=observation.now,
        metrics=_judged(observation.metrics, analysed),
        webhooks=observation.webhooks,
    )
    return Plan(decision, manifests, step)


def _judged(metrics: Mapping[str, MetricResult], analysed: set[str]) -> dict[str, MetricResult]:
    return {k: v for k, v in metrics.items() if k in analysed}
