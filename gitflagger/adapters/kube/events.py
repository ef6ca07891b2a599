"""Kubernetes Events on the Canary, as Flagger's event recorder writes them.

Flagger records with client-go's ``record.EventRecorder`` and
``EventSource{Component: "flagger"}``: ``core/v1`` Events, reason ``Synced``,
type ``Normal`` or ``Warning``. We write the same, so ``kubectl describe
canary``, kube-event-exporter routes and alert rules that match
``source.component="flagger"`` keep working. ``reportingComponent`` is
``flagger`` too (client-go copies the source component into it), and
``reportingInstance`` names the replica that wrote the event.

Repeats are aggregated as client-go's correlator does: the same message on the
same Canary within :data:`DEDUPE_SECONDS` bumps ``count`` and
``lastTimestamp`` of the existing Event instead of creating another, so a
Canary halted for an hour shows ``(x60 over 60m)`` rather than 60 events.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gitflagger.adapters.kube.errors import NotFound
from gitflagger.adapters.kube.resources import Resource
from gitflagger.adapters.kube.transport import MERGE_PATCH, Transport
from gitflagger.model.redact import redact_text

__all__ = ["COMPONENT", "DEDUPE_SECONDS", "EventRecorder"]

COMPONENT = "flagger"
DEDUPE_SECONDS = 600.0
_CACHE_SIZE = 4096
EVENTS = Resource("v1", "Event", "events", True)


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Creates and aggregates Events; thread-safe."""

    def __init__(
        self,
        transport: Transport,
        *,
        instance: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._instance = instance
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # (uid or ns/name, type, reason, message) -> (event name, count, monotonic time of the last write)
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, int, float]] = OrderedDict()

    def emit(self, obj: Mapping[str, Any], message: str, *, warning: bool, reason: str) -> None:
        message = redact_text(message)  # it may quote a webhook's answer or URL; Events are widely readable
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        kind_ = "Warning" if warning else "Normal"
        key = (str(meta.get("uid") or f"{namespace}/{name}"), kind_, reason, message)
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None and self._monotonic() - seen[2] < DEDUPE_SECONDS:
            event_name, count, _ = seen
            try:
                self._transport.request(
                    "PATCH",
                    EVENTS.path(namespace, event_name),
                    what=EVENTS.describe("patch", namespace, event_name),
                    body={"count": count + 1, "lastTimestamp": _timestamp(now)},
                    content_type=MERGE_PATCH,
                )
            except NotFound:  # expired (events live an hour by default) or deleted: start afresh
                pass
            else:
                self._remember(key, (event_name, count + 1, self._monotonic()))
                return
        event_name = f"{name}.{time.time_ns():x}"
        stamp = _timestamp(now)
        self._transport.request(
            "POST",
            EVENTS.path(namespace),
            what=EVENTS.describe("create", namespace, event_name),
            body={
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": event_name, "namespace": namespace},
                "involvedObject": {
                    k: v
                    for k, v in {
                        "apiVersion": obj.get("apiVersion"),
                        "kind": obj.get("kind"),
                        "name": name,
                        "namespace": namespace,
                        "uid": meta.get("uid"),
                        "resourceVersion": meta.get("resourceVersion"),
                    }.items()
                    if v
                },
                "type": kind_,
                "reason": reason,
                "message": message,
                "source": {"component": COMPONENT},
                "reportingComponent": COMPONENT,
                "reportingInstance": self._instance,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            },
            content_type="application/json",
        )
        self._remember(key, (event_name, 1, self._monotonic()))

    def _remember(self, key: tuple[str, str, str, str], value: tuple[str, int, float]) -> None:
        with self._lock:
            self._seen[key] = value
            self._seen.move_to_end(key)
            while len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)
