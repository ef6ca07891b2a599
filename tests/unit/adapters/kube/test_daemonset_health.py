"""daemonset_health: Flagger's ``isDaemonSetReady`` (pkg/canary/daemonset_ready.go), one row per branch.

And the decision core's use of it: a DaemonSet has no progress-deadline
condition, so ``progressDeadlineSeconds`` is measured from the Canary's last
phase change, as Flagger measures it for a DaemonSet.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitflagger.adapters.kube import daemonset_health, workload_health
from gitflagger.decide.observation import WorkloadHealth

WAITING = "waiting for rollout to finish: "


def ds(
    *,
    generation: int = 4,
    observed: int = 4,
    desired: int = 2,
    updated: int = 2,
    available: int = 2,
    ready: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": "DaemonSet",
        "metadata": {"name": "podinfo", "generation": generation},
        "spec": {},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberReady": available if ready is None else ready,
        },
    }


@pytest.mark.parametrize(
    ("daemonset", "threshold", "expected"),
    [
        pytest.param(ds(), 100, WorkloadHealth(), id="every-pod-updated-and-available"),
        pytest.param(
            ds(generation=5, observed=4),
            100,
            WorkloadHealth(
                ready=False,
                message=WAITING + "observed daemonset generation less than desired generation",
            ),
            id="generation-not-observed",
        ),
        pytest.param(
            ds(updated=1),
            100,
            WorkloadHealth(ready=False, message=WAITING + "1 out of 2 new pods have been updated"),
            id="rolling-update-in-progress",
        ),
        pytest.param(
            ds(available=1),
            100,
            WorkloadHealth(
                ready=False, message=WAITING + "1 of 2 (readyThreshold 100%) updated pods are available"
            ),
            id="updated-but-not-available",
        ),
        pytest.param(ds(available=1), 50, WorkloadHealth(), id="half-available-at-threshold-50"),
        pytest.param(
            ds(desired=3, updated=3, available=1), 50, WorkloadHealth(), id="threshold-rounds-down-3x50%-is-1"
        ),
        pytest.param(
            ds(desired=3, updated=3, available=0),
            50,
            WorkloadHealth(
                ready=False, message=WAITING + "0 of 1 (readyThreshold 50%) updated pods are available"
            ),
            id="below-the-rounded-down-threshold",
        ),
        pytest.param(
            ds(desired=0, updated=0, available=0),
            100,
            WorkloadHealth(),
            id="scaled-to-zero-is-ready",
        ),
        pytest.param(
            ds(ready=0),
            100,
            WorkloadHealth(),
            id="flagger-counts-available-not-ready-pods",
        ),
    ],
)
def test_daemonset_health(daemonset: dict[str, Any], threshold: int, expected: WorkloadHealth) -> None:
    assert daemonset_health(daemonset, threshold) == expected


def test_a_missing_daemonset_does_not_exist() -> None:
    assert daemonset_health(None).exists is False


def test_workload_health_reads_each_kind_by_its_own_rules() -> None:
    """A DaemonSet's status has no ``updatedReplicas``: read as a Deployment, it would look unready."""
    assert workload_health("DaemonSet", ds()).ready
    assert not workload_health("Deployment", {"spec": {"replicas": 2}, "status": ds()["status"]}).ready
