"""KubeCluster's report side and leader election against the testbed's real API server.

Canary status through the subresource with conflict retries, Events as
Flagger writes them, finalizers, and two LeaderElectors competing for one
Lease (polling only: no assertion depends on how long anything takes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.kube import KubeCluster, LeaderElector, NotFound
from tests.integration.test_kube_support import canary, create, ensure_canary_crd, wait_for
from tests.testbed.cluster import Cluster

pytestmark = pytest.mark.testbed


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client(), qps=200, burst=200)
    try:
        ensure_canary_crd(kc)
        yield kc
    finally:
        kc.close()


def label(kube: KubeCluster, obj: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    """Someone else's write to the Canary, which moves its resourceVersion on."""
    meta = obj["metadata"]
    return kube.transport.request(
        "PATCH",
        f"/apis/flagger.app/v1beta1/namespaces/{meta['namespace']}/canaries/{meta['name']}",
        what="label canary",
        body={"metadata": {"labels": {key: value}}},
        content_type="application/merge-patch+json",
    )


def events_of(kube: KubeCluster, ns: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    uid = obj["metadata"]["uid"]
    return [e for e in kube.list_objects("v1", "Event", ns) if e["involvedObject"].get("uid") == uid]


def test_status_patch_after_a_concurrent_update_retries_and_succeeds(
    kube: KubeCluster, namespace: str
) -> None:
    stale = create(kube, canary(namespace))
    label(kube, stale, "team", "checkout")
    requests = kube.requests_made

    updated = kube.patch_canary_status(stale, {"phase": "Progressing", "canaryWeight": 10, "failedChecks": 0})

    # The stale write is refused (409), the Canary read again and the status written on top of it.
    assert kube.requests_made - requests == 3
    assert updated["status"] == {"phase": "Progressing", "canaryWeight": 10, "failedChecks": 0}
    live = kube.get("flagger.app/v1beta1", "Canary", namespace, "podinfo")
    assert live is not None
    assert live["status"] == updated["status"] and live["metadata"]["labels"] == {"team": "checkout"}
    assert "managedFields" not in updated["metadata"]

    cleared = kube.patch_canary_status(updated, {"canaryWeight": None})
    assert cleared["status"] == {"phase": "Progressing", "failedChecks": 0}


def test_status_patch_never_writes_to_a_recreated_canary(kube: KubeCluster, namespace: str) -> None:
    old = create(kube, canary(namespace))
    kube.delete("flagger.app/v1beta1", "Canary", namespace, "podinfo")
    wait_for(
        "the Canary to be gone",
        lambda: kube.get("flagger.app/v1beta1", "Canary", namespace, "podinfo") is None,
    )
    new = create(kube, canary(namespace))

    with pytest.raises(NotFound):
        kube.patch_canary_status(old, {"phase": "Failed"})

    live = kube.get("flagger.app/v1beta1", "Canary", namespace, "podinfo")
    assert live is not None and live["metadata"]["uid"] == new["metadata"]["uid"] and "status" not in live


def test_events_carry_flagger_texts_and_repeats_are_counted(kube: KubeCluster, namespace: str) -> None:
    obj = create(kube, canary(namespace))
    key = f"podinfo.{namespace}"

    kube.emit_event(obj, f"New revision detected {key}")
    kube.emit_event(obj, f"Halt {key} advancement success rate 42.00% < 99%", warning=True)
    kube.emit_event(obj, f"Halt {key} advancement success rate 42.00% < 99%", warning=True)

    events = sorted(events_of(kube, namespace, obj), key=lambda e: e["type"])
    assert [(e["type"], e["reason"], e["message"], e["count"]) for e in events] == [
        ("Normal", "Synced", f"New revision detected {key}", 1),
        ("Warning", "Synced", f"Halt {key} advancement success rate 42.00% < 99%", 2),
    ]
    for event in events:
        assert event["source"] == {"component": "flagger"}
        assert event["reportingComponent"] == "flagger"
        assert event["involvedObject"]["kind"] == "Canary"
        assert event["involvedObject"]["name"] == "podinfo"


def test_finalizers_are_added_once_and_removed_even_from_a_deleted_canary(
    kube: KubeCluster, namespace: str
) -> None:
    obj = create(kube, canary(namespace))
    name = "gitflagger.app/revert-on-deletion"

    held = kube.add_finalizer(obj, name)
    requests = kube.requests_made
    again = kube.add_finalizer(held, name)
    assert kube.requests_made == requests  # already there: nothing sent
    assert held["metadata"]["finalizers"] == again["metadata"]["finalizers"] == [name]

    kube.delete("flagger.app/v1beta1", "Canary", namespace, "podinfo")
    terminating = kube.get("flagger.app/v1beta1", "Canary", namespace, "podinfo")
    assert terminating is not None and terminating["metadata"].get("deletionTimestamp")

    released = kube.remove_finalizer(held, name)  # held is stale: the delete changed the Canary
    assert released["metadata"].get("finalizers", []) == []
    wait_for(
        "the Canary to be gone",
        lambda: kube.get("flagger.app/v1beta1", "Canary", namespace, "podinfo") is None,
    )
    gone = kube.remove_finalizer(terminating, name)
    assert gone["metadata"]["finalizers"] == []


def test_leader_election_one_leads_and_the_other_takes_over(kube: KubeCluster, namespace: str) -> None:
    a = LeaderElector(kube, namespace, "gitflagger-leader", "replica-a", lease_seconds=2, renew_seconds=1)
    b = LeaderElector(kube, namespace, "gitflagger-leader", "replica-b", lease_seconds=2, renew_seconds=1)

    assert a.acquire() and a.is_leader
    assert not b.acquire() and not b.is_leader and b.holder == "replica-a"

    # A releases on shutdown: B takes over at its next attempt, without waiting for expiry.
    a.release()
    assert not a.is_leader
    assert b.acquire() and b.is_leader
    assert not a.acquire()

    # B stops renewing (a crash): A takes over once the Lease has expired.
    wait_for("replica-a to take over the expired lease", a.acquire, timeout=60)
    assert not b.renew() and not b.is_leader and b.holder == "replica-a"

    lease = kube.get("coordination.k8s.io/v1", "Lease", namespace, "gitflagger-leader")
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "replica-a" and lease["spec"]["leaseTransitions"] == 2
