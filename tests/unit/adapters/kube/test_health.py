"""deployment_health and route_weights: Flagger's readiness rules and GetRoutes, as tables.

Each row of the deployment table is one branch of Flagger's
``isDeploymentReady`` (pkg/canary/deployment_ready.go), with its message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gitflagger.adapters.kube import deployment_health
from gitflagger.decide.observation import WorkloadHealth
from gitflagger.model.status import parse_time
from gitflagger.render.routers.istio import route_weights

SINCE = "2024-05-01T10:00:00Z"
SINCE_DT = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
UNAVAILABLE = {
    "type": "Available",
    "status": "False",
    "reason": "MinimumReplicasUnavailable",
    "lastUpdateTime": SINCE,
    "lastTransitionTime": SINCE,
}
AVAILABLE = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
PROGRESSING = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
WAITING = "waiting for rollout to finish: "


def dep(
    replicas: int | None = 2,
    *,
    generation: int = 3,
    observed: int = 3,
    total: int = 2,
    updated: int = 2,
    available: int = 2,
    conditions: tuple[dict[str, Any], ...] = (AVAILABLE, PROGRESSING),
) -> dict[str, Any]:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    return {
        "metadata": {"name": "podinfo", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": list(conditions),
        },
    }


@pytest.mark.parametrize(
    ("deployment", "threshold", "expected"),
    [
        pytest.param(dep(), 100, WorkloadHealth(), id="rolled-out"),
        pytest.param(
            dep(0, total=0, updated=0, available=0), 100, WorkloadHealth(), id="scaled-to-zero-is-ready"
        ),
        pytest.param(
            None, 100, WorkloadHealth(exists=False, ready=False, message="deployment not found"), id="missing"
        ),
        pytest.param(
            dep(generation=4, observed=3),
            100,
            WorkloadHealth(
                ready=False,
                message="waiting for rollout to finish: "
                "observed deployment generation less than desired generation",
            ),
            id="generation-not-observed",
        ),
        pytest.param(
            dep(updated=1, available=1, conditions=(UNAVAILABLE, DEADLINE)),
            100,
            WorkloadHealth(
                ready=False,
                message='deployment "podinfo" exceeded its progress deadline',
                deadline_exceeded=True,
                unavailable_since=SINCE_DT,
            ),
            id="progress-deadline-exceeded-wins",
        ),
        pytest.param(
            dep(total=3, updated=1, available=2),
            100,
            WorkloadHealth(
                ready=False,
                message="waiting for rollout to finish: 1 out of 2 new replicas have been updated",
            ),
            id="updating",
        ),
        pytest.param(
            dep(total=3, updated=2, available=2),
            100,
            WorkloadHealth(
                ready=False, message="waiting for rollout to finish: 1 old replicas are pending termination"
            ),
            id="old-replicas-terminating",
        ),
        pytest.param(
            dep(available=1, conditions=(UNAVAILABLE, PROGRESSING)),
            100,
            WorkloadHealth(
                ready=False,
                unavailable_since=SINCE_DT,
                message=WAITING + "1 of 2 (readyThreshold 100%) updated replicas are available",
            ),
            id="not-all-available",
        ),
        pytest.param(dep(available=1), 50, WorkloadHealth(), id="ready-threshold-met"),
        pytest.param(
            dep(4, total=4, updated=4, available=2),
            75,
            WorkloadHealth(
                ready=False,
                message=WAITING + "2 of 3 (readyThreshold 75%) updated replicas are available",
            ),
            id="ready-threshold-rounds-down",
        ),
        pytest.param(
            dep(available=2, conditions=(UNAVAILABLE,)),
            100,
            WorkloadHealth(),
            id="unavailable-ignored-without-progressing-condition",
        ),
        pytest.param(
            dep(None, total=1, updated=1, available=1),
            100,
            WorkloadHealth(),
            id="replicas-unset-skips-that-check",
        ),
    ],
)
def test_deployment_health(
    deployment: dict[str, Any] | None, threshold: int, expected: WorkloadHealth
) -> None:
    assert deployment_health(deployment, ready_threshold=threshold) == expected


def test_unavailable_since_falls_back_to_last_update_time() -> None:
    condition = {k: v for k, v in UNAVAILABLE.items() if k != "lastTransitionTime"}
    assert (
        deployment_health(dep(available=1, conditions=(condition, PROGRESSING))).unavailable_since == SINCE_DT
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (SINCE, SINCE_DT),
        ("2024-05-01T10:00:00.123456Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_parse_time(value: object, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def route(*destinations: tuple[str, int | None], **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "route": [
            {"destination": {"host": host}, **({} if weight is None else {"weight": weight})}
            for host, weight in destinations
        ],
    }


def vs(*http: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "spec": {"http": list(http)},
    }


P, C = "podinfo-primary", "podinfo-canary"


@pytest.mark.parametrize(
    ("virtual_service", "expected"),
    [
        pytest.param(vs(route((P, 100), (C, 0))), (100, 0), id="initialized"),
        pytest.param(vs(route((P, 60), (C, 40))), (60, 40), id="mid-analysis"),
        pytest.param(vs(route((C, 30), (P, 70))), (70, 30), id="order-does-not-matter"),
        pytest.param(
            vs(
                route((P, 0), (C, 100), match=[{"headers": {"x-canary": {"exact": "insider"}}}]),
                route((P, 100)),
            ),
            (0, 100),
            id="ab-testing-reads-the-matched-route",
        ),
        pytest.param(vs(route((P, 90), (C, 10), mirror={"host": C})), (90, 10), id="mirrored"),
        pytest.param(vs(route((C, None))), (0, 100), id="lone-destination-without-weight-takes-all"),
        pytest.param(vs(route((P, None), (C, None))), (0, 0), id="weights-missing"),
        pytest.param(vs(route((P, 100))), None, id="no-canary-route"),
        pytest.param(
            vs(route(("podinfo-primary.test.svc.cluster.local", 100), (C, 0))), (0, 0), id="hosts-exact"
        ),
        pytest.param(vs(), None, id="no-http-routes"),
        pytest.param(None, None, id="missing"),
    ],
)
def test_route_weights(virtual_service: dict[str, Any] | None, expected: tuple[int, int] | None) -> None:
    assert route_weights(virtual_service, P, C) == expected
