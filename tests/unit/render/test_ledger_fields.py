"""Fields of the field ledger that no other test showed acted on: ``service.name`` and the ready thresholds.

Each test sets the field and checks what it changes downstream, not only that it parses.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gitflagger.engine.observe import Live, first_look
from gitflagger.model import parse_canary
from gitflagger.render import render
from tests.unit.model.canaries import edited, minimal
from tests.unit.render import podinfo

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_service_name_names_the_generated_objects() -> None:
    canary = parse_canary(edited(minimal(), metadata__uid="u1", spec__service__name="frontend"))
    names = sorted((m.kind, m.name) for m in render(canary, podinfo.inputs(), podinfo.decision(promote=True)))
    routed = [n for n in names if n[0] in ("Service", "VirtualService", "DestinationRule")]
    assert routed == [
        ("DestinationRule", "frontend-canary"),
        ("DestinationRule", "frontend-primary"),
        ("Service", "frontend"),
        ("Service", "frontend-canary"),
        ("Service", "frontend-primary"),
        ("VirtualService", "frontend"),
    ]


def _half_ready(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name, "namespace": "test", "generation": 1},
        "spec": {"replicas": 4, "template": podinfo.target()["spec"]["template"]},
        "status": {"observedGeneration": 1, "replicas": 4, "updatedReplicas": 4, "availableReplicas": 2},
    }


def test_ready_thresholds_gate_the_step() -> None:
    """Two of four replicas available: not ready at Flagger's default 100%, ready at a threshold of 50%."""
    live = Live(target=_half_ready("podinfo"), primary=_half_ready("podinfo-primary"))
    strict = first_look(parse_canary(minimal()), live, NOW)
    assert (strict.primary.ready, strict.canary.ready) == (False, False)
    lenient = parse_canary(
        edited(minimal(), spec__analysis__primaryReadyThreshold=50, spec__analysis__canaryReadyThreshold=50)
    )
    seen = first_look(lenient, live, NOW)
    assert (seen.primary.ready, seen.canary.ready) == (True, True)
    only_primary = parse_canary(edited(minimal(), spec__analysis__primaryReadyThreshold=50))
    seen = first_look(only_primary, live, NOW)
    assert (seen.primary.ready, seen.canary.ready) == (True, False)
