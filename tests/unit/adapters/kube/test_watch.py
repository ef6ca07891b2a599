"""Watch over scripted watch lines: events, bookmarks and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.kube import ServerError, Watch, WatchExpired


def canary(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv, "managedFields": [{"manager": "kubectl"}]}}


def watch(*lines: dict[str, Any]) -> Watch:
    return Watch(
        iter(lines),
        resource_version="100",
        api_version="flagger.app/v1beta1",
        kind="Canary",
        what="watch canaries.flagger.app test",
    )


def test_events_come_out_typed_and_without_managed_fields() -> None:
    w = watch(
        {"type": "ADDED", "object": canary("a", "101")},
        {"type": "MODIFIED", "object": canary("a", "102")},
        {"type": "DELETED", "object": canary("a", "103")},
    )

    seen = list(w)

    assert [(kind, obj["metadata"]["resourceVersion"]) for kind, obj in seen] == [
        ("ADDED", "101"),
        ("MODIFIED", "102"),
        ("DELETED", "103"),
    ]
    assert all(obj["apiVersion"] == "flagger.app/v1beta1" and obj["kind"] == "Canary" for _, obj in seen)
    assert all("managedFields" not in obj["metadata"] for _, obj in seen)
    assert w.resource_version == "103"


def test_bookmarks_move_the_resource_version_and_yield_nothing() -> None:
    w = watch({"type": "BOOKMARK", "object": {"kind": "Canary", "metadata": {"resourceVersion": "250"}}})

    assert list(w) == []
    assert w.resource_version == "250"


def test_a_410_error_event_is_watch_expired() -> None:
    gone = {
        "kind": "Status",
        "code": 410,
        "reason": "Expired",
        "message": "too old resource version: 1 (250)",
    }
    w = watch({"type": "ADDED", "object": canary("a", "101")}, {"type": "ERROR", "object": gone})

    assert next(w)[0] == "ADDED"
    with pytest.raises(WatchExpired, match="too old resource version"):
        next(w)


def test_another_error_event_is_translated_too() -> None:
    w = watch({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd is sad"}})

    with pytest.raises(ServerError, match="etcd is sad"):
        next(w)


def test_closing_the_watch_closes_the_stream() -> None:
    closed: list[bool] = []

    def lines() -> Iterator[dict[str, Any]]:
        try:
            yield {"type": "ADDED", "object": canary("a", "101")}
            yield {"type": "ADDED", "object": canary("b", "102")}
        finally:
            closed.append(True)

    with Watch(lines(), resource_version="100", api_version="v", kind="K", what="watch") as w:
        next(w)

    assert closed == [True]
