"""Building blocks for recorder tests: the podinfo Canary, a few manifests, one step."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2

from gitflagger.adapters.git.recorder import RecordedStep
from gitflagger.decide.decision import Decision, Routes
from gitflagger.decide.events import Event, EventKind, Severity
from gitflagger.decide.observation import MetricResult, WebhookResult
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary_yaml
from gitflagger.model.status import Phase, State
from gitflagger.render import Manifest

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "podinfo"
START = datetime(2026, 1, 1, tzinfo=UTC)
REVISION = "sha256:" + "ab" * 32
SECRET_VALUE = "hunter2-very-secret"
SECRET_B64 = base64.b64encode(SECRET_VALUE.encode()).decode()


def podinfo(name: str = "podinfo", namespace: str = "test") -> Canary:
    text = (FIXTURES / "canary-v1beta1.yaml").read_text()
    text = text.replace("name: podinfo\n  namespace: test", f"name: {name}\n  namespace: {namespace}", 1)
    return parse_canary_yaml(text)


def obj(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    api = {"Deployment": "apps/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1"}[kind]
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "test"}, **extra}


def manifests(image: str = "podinfo:6.0.0", *, secret: bool = False) -> tuple[Manifest, ...]:
    deployment = obj(
        "Deployment",
        "podinfo-primary",
        spec={"template": {"spec": {"containers": [{"name": "podinfod", "image": image}]}}},
    )
    out = [Manifest(obj("Service", "podinfo", spec={"ports": [{"port": 9898}]})), Manifest(deployment)]
    if secret:
        out.append(Manifest(obj("Secret", "podinfo-token-primary", data={"token": SECRET_B64}), secret=True))
    return tuple(out)


def step(
    number: int = 1,
    *,
    canary: Canary | None = None,
    phase: Phase = Phase.PROGRESSING,
    weight: int = 10,
    failed_checks: int = 0,
    items: tuple[Manifest, ...] | None = None,
    time: datetime | None = None,
) -> RecordedStep:
    state = State(
        phase=phase,
        canary_weight=weight,
        failed_checks=failed_checks,
        last_applied_spec=REVISION,
        step=number,
    )
    key = (canary or podinfo()).key
    decision = Decision(
        state=state,
        routes=Routes(primary=100 - weight, canary=weight),
        events=(Event(EventKind.ADVANCE, Severity.INFO, f"Advance {key} canary weight {weight}"),),
        subject=f"{key}: advance canary weight {weight}",
        changed=True,
    )
    return RecordedStep(
        canary=canary or podinfo(),
        decision=decision,
        manifests=manifests() if items is None else items,
        revision=REVISION,
        time=time or START + timedelta(minutes=number),
        metrics={
            "request-success-rate": MetricResult.of("request-success-rate", 99.9),
            "request-duration": MetricResult.of("request-duration", 120.0),
        },
        webhooks={"load-test": WebhookResult("load-test", ok=True)},
    )


def head_commits(repo: pygit2.Repository, branch: str = "main") -> list[pygit2.Commit]:
    """The branch's commits, newest first."""
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        return []
    return list(repo.walk(ref.target))


def tree_paths(tree: pygit2.Tree, base: str = "") -> Iterator[str]:
    for entry in tree:
        path = f"{base}{entry.name}"
        if isinstance(entry, pygit2.Tree):
            yield from tree_paths(entry, path + "/")
        else:
            yield path


def file_at_head(repo: pygit2.Repository, path: str) -> str:
    commit = repo.revparse_single("refs/heads/main").peel(pygit2.Commit)
    blob = commit.tree[path]
    assert isinstance(blob, pygit2.Blob)
    return blob.data.decode()
