"""The DaemonSet and KEDA fixtures (``fixtures/daemonset``, ``fixtures/keda``) as render inputs."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ruamel.yaml import YAML

from gitflagger.model.canary import AutoscalerRef, Canary
from gitflagger.model.parse import parse_canary_yaml
from gitflagger.render import Manifest, WorkloadInputs
from gitflagger.render.daemonset import SCALE_TO_ZERO
from tests.unit.render import podinfo

DAEMONSET = podinfo.ROOT / "fixtures" / "daemonset"
KEDA = podinfo.ROOT / "fixtures" / "keda"


def _load(path: Any) -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def daemonset_canary() -> Canary:
    return parse_canary_yaml((DAEMONSET / "canary.yaml").read_text())


def daemonset(*, hidden: bool = False) -> dict[str, Any]:
    """The target DaemonSet; ``hidden``: with Flagger's scale-to-zero node selector added."""
    doc = _load(DAEMONSET / "daemonset.yaml")
    if hidden:
        doc["spec"]["template"]["spec"]["nodeSelector"].update(SCALE_TO_ZERO)
    return doc


def keda_canary(*, queries: bool = True) -> Canary:
    """The KEDA Canary; without ``queries`` its ``primaryScalerQueries`` are dropped."""
    canary = parse_canary_yaml((KEDA / "canary.yaml").read_text())
    if queries:
        return canary
    ref = canary.spec.autoscaler_ref
    assert isinstance(ref, AutoscalerRef)
    spec = dataclasses.replace(
        canary.spec, autoscaler_ref=dataclasses.replace(ref, primary_scaler_queries={})
    )
    return dataclasses.replace(canary, spec=spec)


def scaled_object() -> dict[str, Any]:
    return _load(KEDA / "scaledobject.yaml")


def daemonset_inputs(**changes: Any) -> WorkloadInputs:
    return dataclasses.replace(WorkloadInputs(target=daemonset()), **changes)


def keda_inputs(**changes: Any) -> WorkloadInputs:
    return dataclasses.replace(WorkloadInputs(target=podinfo.target(), hpa=scaled_object()), **changes)


def one(manifests: tuple[Manifest, ...], kind: str) -> dict[str, Any]:
    """The one manifest of ``kind``, as a plain copy."""
    (found,) = [m.obj for m in manifests if m.kind == kind]
    return copy.deepcopy(found)
