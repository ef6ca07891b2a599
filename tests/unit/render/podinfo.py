"""The podinfo fixtures as render inputs, shared by the render tests."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gitflagger.decide.decision import Decision, Routes
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary_yaml
from gitflagger.model.status import State
from gitflagger.render import WorkloadInputs

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures" / "podinfo"
GOLDEN = ROOT / "tests" / "golden" / "podinfo"


def load(name: str) -> dict[str, Any]:
    """One fixture document as plain dicts and lists."""
    doc = YAML(typ="safe", pure=True).load((FIXTURES / name).read_text())
    assert isinstance(doc, dict)
    return doc


def canary(**analysis_changes: Any) -> Canary:
    """The podinfo Canary (v1beta1 form), with ``analysis`` fields replaced as given."""
    parsed = parse_canary_yaml((FIXTURES / "canary-v1beta1.yaml").read_text())
    if not analysis_changes:
        return parsed
    analysis = dataclasses.replace(parsed.spec.analysis, **analysis_changes)
    return dataclasses.replace(parsed, spec=dataclasses.replace(parsed.spec, analysis=analysis))


def target() -> dict[str, Any]:
    return load("deployment.yaml")


def hpa() -> dict[str, Any]:
    return load("hpa.yaml")


def decision(
    primary: int = 100, canary_weight: int = 0, *, mirror: bool = False, promote: bool = False
) -> Decision:
    return Decision(
        state=State(),
        routes=Routes(primary=primary, canary=canary_weight, mirror=mirror),
        primary_from_target=promote,
    )


def inputs(**changes: Any) -> WorkloadInputs:
    """Render inputs for podinfo: the fixture target and HPA, no configs, no primary yet."""
    base = WorkloadInputs(target=target(), hpa=hpa())
    return dataclasses.replace(base, **changes)


def with_configs(deployment: dict[str, Any]) -> dict[str, Any]:
    """The target with one reference of every kind to the ConfigMap and Secret of :func:`configs`."""
    dep = copy.deepcopy(deployment)
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "podinfo-env"}}]
    container["env"].append(
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "podinfo-token", "key": "token"}}}
    )
    container["volumeMounts"] = [{"name": "config", "mountPath": "/etc/podinfo"}]
    pod["volumes"] = [
        {
            "name": "config",
            "projected": {
                "sources": [
                    {"configMap": {"name": "podinfo-files"}},
                    {"secret": {"name": "podinfo-token"}},
                ]
            },
        }
    ]
    return dep


def configs() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``(configmaps, secrets)`` for :func:`with_configs`, plus objects nobody references."""
    configmaps = {
        "podinfo-env": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "podinfo-env", "namespace": "test", "labels": {"app": "podinfo"}},
            "data": {"PODINFO_UI_MESSAGE": "hello", "ENABLED": "yes"},
        },
        "podinfo-files": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "podinfo-files", "namespace": "test"},
            "data": {"config.yaml": "level: info\nport: 9898\n"},
        },
        "unrelated": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unrelated"}},
    }
    secrets = {
        "podinfo-token": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "podinfo-token", "namespace": "test"},
            "type": "Opaque",
            "data": {"token": "c3VwZXItc2VjcmV0LXZhbHVl"},
        }
    }
    return configmaps, secrets
