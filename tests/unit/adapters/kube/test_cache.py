"""The pure parts of the watch caches and the cached apply: trimming, ordering, the skip rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitflagger.adapters.kube.apply import LastApply, _digest, can_skip
from gitflagger.adapters.kube.apply_rules import (
    comparable,
    owned_by,
    replicas_applied_by,
    replicas_applied_elsewhere,
)
from gitflagger.adapters.kube.cache import (
    LAST_APPLIED,
    CacheSet,
    ObjectCache,
    newer_or_same,
    summarize_managed_fields,
    trim,
)
from gitflagger.adapters.kube.resources import Resource

SERVICES = Resource("v1", "Service", "services", True)


def managed(manager: str, operation: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "apps/v1",
            "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:spec": spec}}


def deployment(rv: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "test", "resourceVersion": rv,
                     "annotations": {LAST_APPLIED: "{" + "x" * 2000 + "}", "team": "a"},
                     "managedFields": list(entries)},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "i:1"}]}}},
        "status": {"readyReplicas": 2},
    }


MANAGERS = [
    [],
    [managed("gitflagger", "Apply", {"f:replicas": {}, "f:template": {}})],
    [managed("gitflagger", "Apply", {"f:template": {}}), managed("flux", "Apply", {"f:replicas": {}})],
    [managed("gitflagger-handover", "Apply", {"f:replicas": {}}),
     managed("kube-controller-manager", "Update", {"f:replicas": {}})],
    [managed("kubectl", "Update", {"f:template": {}})],
]


@pytest.mark.parametrize("entries", MANAGERS)
def test_trimmed_objects_answer_the_apply_rules_as_the_full_ones(entries: list[dict[str, Any]]) -> None:
    full = deployment("5", *entries)
    trimmed = trim(copy.deepcopy(full))
    for manager in ("gitflagger", "flux", "kubectl"):
        assert owned_by(trimmed, manager) == owned_by(full, manager)
        assert replicas_applied_by(trimmed, manager) == replicas_applied_by(full, manager)
        assert replicas_applied_elsewhere(trimmed, manager) == replicas_applied_elsewhere(full, manager)
    assert comparable(trimmed) == comparable(full)
    assert LAST_APPLIED not in trimmed["metadata"]["annotations"]
    assert trimmed["status"] == full["status"]


def test_a_summary_keeps_one_entry_per_manager_and_operation() -> None:
    entries = [managed("m", "Update", {"f:a": {}}), managed("m", "Update", {"f:b": {}})]
    assert summarize_managed_fields(entries) == [{"manager": "m", "operation": "Update"}]
    assert summarize_managed_fields(None) == []


def test_an_object_with_only_the_last_applied_annotation_loses_its_annotations() -> None:
    obj = {"metadata": {"name": "x", "annotations": {LAST_APPLIED: "{}"}}}
    assert trim(obj) == {"metadata": {"name": "x"}}


@pytest.mark.parametrize(("candidate", "held", "expected"), [
    ("10", "9", True), ("9", "10", False), ("10", "10", True), ("abc", "10", True), ("10", "", True),
])
def test_resource_versions_compare_as_numbers(candidate: str, held: str, expected: bool) -> None:
    assert newer_or_same(candidate, held) is expected


def svc(name: str, rv: str, port: int = 80) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "test", "resourceVersion": rv},
            "spec": {"ports": [{"port": port}]}}


def cache() -> ObjectCache:
    return ObjectCache(None, SERVICES, "test")  # type: ignore[arg-type]  # the store alone: no requests


def test_the_store_never_goes_back_to_an_older_version() -> None:
    c = cache()
    c.observe(svc("a", "20", port=81))  # our write's answer
    c._put(svc("a", "15", port=80))  # the late watch event of an earlier write
    got = c.get("test", "a")
    assert got is not None and got["spec"]["ports"] == [{"port": 81}]
    c._delete(svc("a", "15"))  # a delete older than what is held is not this object's
    assert c.get("test", "a") is not None
    c._delete(svc("a", "21"))
    assert c.get("test", "a") is None


def test_a_list_replaces_the_store_but_keeps_writes_newer_than_it() -> None:
    c = cache()
    for obj in (svc("gone", "5"), svc("stale", "6", port=1), svc("ours", "40", port=2)):
        c.observe(obj)

    c._replace([svc("stale", "30", port=3), svc("new", "31")], "35")

    assert sorted(o["metadata"]["name"] for o in c.items("test")) == ["new", "ours", "stale"]
    assert (c.get("test", "stale") or {})["spec"]["ports"] == [{"port": 3}]
    assert (c.get("test", "ours") or {})["spec"]["ports"] == [{"port": 2}]
    assert c.items("elsewhere") == [] and len(c) == 3


class PagedServer:
    """Answers a list in pages of two, with continue tokens, as the API server does with ``limit``."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.queries: list[dict[str, str]] = []

    def request(self, method: str, path: str, *, what: str, query: Any = ()) -> dict[str, Any]:
        q = dict(query)
        self.queries.append(q)
        start = int(q.get("continue") or 0)
        end = start + 2
        meta = {"resourceVersion": "50", **({"continue": str(end)} if end < len(self.objects) else {})}
        items = [{k: v for k, v in copy.deepcopy(o).items() if k not in ("apiVersion", "kind")}
                 for o in self.objects[start:end]]
        return {"metadata": meta, "items": items}


def test_a_list_of_many_pages_holds_every_object_in_the_servers_order() -> None:
    server = PagedServer([svc(f"s{i}", str(10 + i), port=i) for i in range(5)])
    c = ObjectCache(server, SERVICES, "test")  # type: ignore[arg-type]
    c.observe(svc("s1", "60", port=99))  # our write, newer than the list

    c._list()

    assert [q.get("continue") for q in server.queries] == [None, "2", "4"]  # three pages
    assert [o["metadata"]["name"] for o in c.items("test")] == [f"s{i}" for i in range(5)]
    assert [o["spec"]["ports"][0]["port"] for o in c.items("test")] == [0, 99, 2, 3, 4]
    assert {o["kind"] for o in c.items("test")} == {"Service"}  # filled in, as a list leaves it out
    assert c.synced.is_set() and len(c) == 5


def test_every_read_is_a_fresh_copy() -> None:
    c = cache()
    c.observe(svc("a", "1"))
    first = c.get("test", "a")
    assert first is not None
    first["spec"]["ports"].append({"port": 1})
    assert (c.get("test", "a") or {})["spec"]["ports"] == [{"port": 80}]


def test_a_cache_is_not_serving_before_it_has_listed() -> None:
    c = cache()
    assert not c.serving and c.covers("test") and not c.covers("other")
    c.synced.set()
    assert c.serving
    c.fallback = True
    assert not c.serving


LIVE = {"metadata": {"name": "vs", "resourceVersion": "7"}, "spec": {"w": 90}}


@pytest.mark.parametrize(("live", "sent", "handover", "skip"), [
    (LIVE, b"m", False, True),  # untouched since our apply
    ({**LIVE, "metadata": {"name": "vs", "resourceVersion": "8"}, "status": {"x": 1}}, b"m", False, True),
    ({**LIVE, "metadata": {"name": "vs", "resourceVersion": "8"}, "spec": {"w": 50}}, b"m", False, False),
    (LIVE, b"new manifest", False, False),
    (None, b"m", False, False),  # deleted
    (LIVE, b"m", True, False),  # giving spec.replicas away is a write
])
def test_an_apply_is_skipped_only_when_it_cannot_change_anything(
    live: dict[str, Any] | None, sent: bytes, handover: bool, skip: bool
) -> None:
    last = LastApply(b"m", "7", _digest(comparable(LIVE)))
    assert can_skip(last, sent, live, handover) is skip
    assert not can_skip(None, b"m", LIVE, False)  # never applied by this process: apply once


def test_a_cache_thread_that_died_fails_healthz_until_the_caches_are_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caches = CacheSet(None, [SERVICES], "test")  # type: ignore[arg-type]  # no requests: run() is replaced
    [c] = caches.caches.values()
    monkeypatch.setattr(c, "run", lambda stop: None)  # ends at once, although nobody stopped it
    caches.start()
    for thread in caches._threads:
        thread.join(5)
    assert caches.unhealthy() == "watch threads dead: cache-services"
    caches.stop()
    assert caches.unhealthy() == ""  # stopped on purpose: nothing to restart
