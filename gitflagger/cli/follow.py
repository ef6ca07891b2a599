"""Following one Canary in a cluster: a list, then a watch, yielding it each time it changes.

Shared by ``gitflagger get canary --watch`` and ``gitflagger status``. The
Canary watch is namespace-wide (the API filters by name only with a field
selector, which the Canary CRD serves too, but this keeps to the one watch
call the controller already uses); changes to other Canaries are skipped. A
410 Gone lists again. Every wait ends at ``deadline``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.errors import KubeTemporaryError, WatchExpired
from gitflagger.model.hashing import pod_template_hash

WATCH_SECONDS = 30
"""The longest one watch request lasts before the loop checks the deadline and watches again."""


@dataclass(frozen=True)
class View:
    """What the watch and status commands show of a Canary."""

    ref: str
    phase: str
    canary_weight: int
    failed_checks: int
    threshold: int
    last_event: str
    last_commit: str
    last_transition: str
    current: bool
    """The controller has seen the target's current template: a final phase is this release's."""

    def lines(self) -> list[str]:
        limit = f" / {self.threshold}" if self.threshold else ""
        return [
            f"Canary:        {self.ref}",
            f"Phase:         {self.phase or '(not yet initialized)'}"
            + ("" if self.current else "  (new revision not picked up yet)"),
            f"Weight:        canary {self.canary_weight}%, primary {100 - self.canary_weight}%",
            f"Failed checks: {self.failed_checks}{limit}",
            f"Last event:    {self.last_event or '-'}",
            f"Last commit:   {self.last_commit[:10] or '-'}",
            f"Since:         {self.last_transition or '-'}",
        ]


def follow(kube: KubeCluster, namespace: str, name: str, deadline: float) -> Iterator[dict[str, Any] | None]:
    """The Canary now (``None`` while it does not exist), then again at each change, until ``deadline``."""
    while time.monotonic() < deadline:
        items, version = kube.list_canaries(namespace)
        yield next((o for o in items if (o.get("metadata") or {}).get("name") == name), None)
        try:
            while time.monotonic() < deadline:
                seconds = int(min(WATCH_SECONDS, deadline - time.monotonic())) + 1  # deadline may be inf
                with kube.watch_canaries(namespace, version, timeout_seconds=seconds) as watch:
                    for kind, obj in watch:
                        if (obj.get("metadata") or {}).get("name") == name:
                            yield None if kind == "DELETED" else obj
                        if time.monotonic() >= deadline:
                            return
                    version = watch.resource_version
        except WatchExpired:
            continue  # list again
        except KubeTemporaryError:
            time.sleep(1)  # a broken connection: list again after a breath


def view(kube: KubeCluster, obj: dict[str, Any]) -> View:
    """The Canary's status, its newest Event, and whether its status speaks of the current template."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    analysis = spec.get("analysis") or spec.get("canaryAnalysis") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    return View(
        ref=f"{namespace}/{name}",
        phase=str(status.get("phase") or ""),
        canary_weight=int(status.get("canaryWeight") or 0),
        failed_checks=int(status.get("failedChecks") or 0),
        threshold=int(analysis.get("threshold") or 0),
        last_event=last_event(kube, namespace, name),
        last_commit=str(status.get("lastCommit") or ""),
        last_transition=str(status.get("lastTransitionTime") or ""),
        current=_current(kube, namespace, spec, status),
    )


def last_event(kube: KubeCluster, namespace: str, name: str) -> str:
    """The message of the Canary's newest Event ("" when there is none)."""
    events = [
        e for e in kube.list_objects("v1", "Event", namespace)
        if (e.get("involvedObject") or {}).get("kind") == "Canary"
        and (e.get("involvedObject") or {}).get("name") == name
    ]
    if not events:
        return ""
    newest = max(events, key=lambda e: (str(e.get("lastTimestamp") or e.get("eventTime") or ""),
                                        int((e.get("metadata") or {}).get("resourceVersion") or 0)))
    return str(newest.get("message") or "")


def _current(kube: KubeCluster, namespace: str, spec: dict[str, Any], status: dict[str, Any]) -> bool:
    ref = spec.get("targetRef") or {}
    target = kube.get(str(ref.get("apiVersion") or "apps/v1"), str(ref.get("kind") or "Deployment"),
                      namespace, str(ref.get("name") or ""))
    if target is None:
        return False
    template = (target.get("spec") or {}).get("template") or {}
    applied = status.get("lastAppliedSpec")
    return bool(applied) and applied == pod_template_hash(template)
