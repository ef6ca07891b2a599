"""LeaderElector's rules, on a fake Lease store and a fake clock (no waiting, exact times).

The store keeps resourceVersion semantics: a write with a stale one is a
Conflict, a second create is AlreadyExists, exactly as the API server answers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from gitflagger.adapters.kube import AlreadyExists, Conflict, KubeCluster, LeaderElector, Unavailable


class FakeLeaseStore:
    """Stands in for KubeCluster (``get`` and ``transport.request``) for one Lease."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.transport = self
        self.before_put: Callable[[], None] | None = None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if self.down:
            raise Unavailable("get leases: API server unreachable")
        return copy.deepcopy(self.lease)

    def request(self, method: str, path: str, *, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        if self.down:
            raise Unavailable(f"{method} leases: API server unreachable")
        if method == "POST" and self.lease is not None:
            raise AlreadyExists("create leases: already exists")
        if method == "PUT" and self.before_put is not None:
            hook, self.before_put = self.before_put, None
            hook()
        if method == "PUT":
            assert self.lease is not None
            if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
                raise Conflict("update leases: the object has been modified")
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    @property
    def spec(self) -> dict[str, Any]:
        assert self.lease is not None
        return cast(dict[str, Any], self.lease["spec"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(store: FakeLeaseStore, clock: Clock, identity: str) -> LeaderElector:
    return LeaderElector(
        cast(KubeCluster, store),
        "gitflagger-system",
        "gitflagger",
        identity,
        lease_seconds=15,
        renew_seconds=10,
        clock=clock,
        wall_clock=lambda: datetime.fromtimestamp(clock.now, UTC),
    )


def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a = elector(store, clock, "a")

    assert a.acquire() and a.is_leader
    assert store.spec == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "leaseTransitions": 0,
        "acquireTime": "1970-01-01T00:16:40.000000Z",
        "renewTime": "1970-01-01T00:16:40.000000Z",
    }


def test_a_held_lease_is_taken_only_after_a_full_lease_duration_unchanged() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.acquire()

    assert not b.acquire()  # b starts its own timer now: it never trusts renewTime against its clock
    clock.now += 14.9
    assert not b.acquire()
    clock.now += 0.2
    assert b.acquire() and b.is_leader
    assert store.spec["holderIdentity"] == "b" and store.spec["leaseTransitions"] == 1


def test_renewals_keep_the_others_waiting() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.acquire()
    b.acquire()

    for _ in range(10):
        clock.now += 8
        assert a.renew()
        assert not b.acquire()

    assert store.spec["holderIdentity"] == "a"


def test_leadership_lapses_locally_before_the_lease_can_expire_for_others() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a = elector(store, clock, "a")
    a.acquire()

    store.down = True
    clock.now += 9
    assert a.renew() and a.is_leader  # the renew failed, but the last success is recent enough
    assert "unreachable" in a.last_error
    clock.now += 1.5
    assert not a.renew() and not a.is_leader  # 10.5 s since the last renewal: stop writing now


def test_a_released_lease_is_taken_at_once() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.acquire()
    assert not b.acquire()

    a.release()

    assert not a.is_leader and store.spec["holderIdentity"] is None
    assert b.acquire() and store.spec["leaseTransitions"] == 1


def test_renew_never_takes_a_lease_it_does_not_hold() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.acquire()
    clock.now += 100  # long expired

    assert not b.renew()
    assert store.spec["holderIdentity"] == "a"


def test_losing_the_lease_to_a_takeover_is_noticed_at_the_next_renewal() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a, b = elector(store, clock, "a"), elector(store, clock, "b")
    a.acquire()
    b.acquire()
    clock.now += 20  # a hung for longer than the lease: b may take over
    assert b.acquire()

    assert not a.renew() and not a.is_leader
    assert a.holder == "b"


def test_a_write_that_loses_a_race_is_not_leading() -> None:
    store, clock = FakeLeaseStore(), Clock()
    a = elector(store, clock, "a")
    a.acquire()
    clock.now += 5

    def rival_writes_first() -> None:
        assert store.lease is not None
        store.request("PUT", "", body={**store.lease, "spec": {**store.spec, "holderIdentity": "b"}})

    store.before_put = rival_writes_first

    assert not a.renew() and not a.is_leader
    assert store.spec["holderIdentity"] == "b"
