"""Names and labels of the objects gitflagger generates, exactly as Flagger names them.

Existing dashboards, alerts, load-test commands (``http://podinfo-canary.test:9898``)
and kubectl habits all depend on these names, so they are Flagger's, not ours:

====================  ===============================  ====================
object                name                             example
====================  ===============================  ====================
primary Deployment    ``<target>-primary``             ``podinfo-primary``
or DaemonSet
primary HPA or        ``<hpa>-primary``                ``podinfo-primary``
KEDA ScaledObject
primary config copy   ``<configmap|secret>-primary``   ``podinfo-env-primary``
apex Service / VS     ``<service>``                    ``podinfo``
primary Service / DR  ``<service>-primary``            ``podinfo-primary``
canary Service / DR   ``<service>-canary``             ``podinfo-canary``
====================  ===============================  ====================

The pod selector is the first of ``app``, ``name`` and ``app.kubernetes.io/name``
(Flagger's ``-selector-labels`` default) that the target's
``spec.selector.matchLabels`` uses; the primary gets that label's value plus
``-primary``, so primary and canary pods never match each other's Services.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitflagger.errors import PermanentError

SELECTOR_LABELS: tuple[str, ...] = ("app", "name", "app.kubernetes.io/name")
"""Flagger's default ``-selector-labels``, in order of preference."""

PRIMARY_SUFFIX = "-primary"
CANARY_SUFFIX = "-canary"

FLUX_MARKER = "toolkit.fluxcd.io"
"""Flux ownership labels and annotations contain this; Flagger never copies them to generated
objects, or Flux would garbage-collect the copies along with the originals."""


def primary_name(name: str) -> str:
    """``podinfo`` → ``podinfo-primary``: the primary Deployment, HPA, Service, DR or config copy."""
    return f"{name}{PRIMARY_SUFFIX}"


def canary_service_name(service: str) -> str:
    """``podinfo`` → ``podinfo-canary``: the Service and DestinationRule of the canary pods."""
    return f"{service}{CANARY_SUFFIX}"


@dataclass(frozen=True)
class Labelling:
    """The controller's choice of labels, as Flagger's ``-selector-labels`` and ``-include-label-prefix``.

    ``selector_labels``: the pod-selector labels looked for on a target, in
    order; the first one found gets the ``-primary`` suffix on the primary.
    ``include_label_prefixes``: which target labels and annotations are copied
    to the primary Deployment, HPA and config copies (none by default, ``*`` all).
    A controller and ``reconcile`` must use the same choice, or they would render
    two different primaries for one Canary.
    """

    selector_labels: tuple[str, ...] = SELECTOR_LABELS
    include_label_prefixes: tuple[str, ...] = ()


FLAGGER_LABELLING = Labelling()
"""Flagger's defaults: ``app,name,app.kubernetes.io/name`` and no prefixes."""


def selector_label(
    deployment: Mapping[str, Any], selector_labels: Sequence[str] = SELECTOR_LABELS
) -> tuple[str, str]:
    """``(label, value)`` of the target's pod selector that Flagger routes by.

    >>> selector_label({"spec": {"selector": {"matchLabels": {"app": "podinfo"}}}})
    ('app', 'podinfo')

    Raises :class:`PermanentError` naming the Deployment (or DaemonSet) when none of
    ``selector_labels`` (``--selector-labels``) is present: nothing can be routed
    until the user changes the selector.
    """
    match_labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    for label in selector_labels:
        if label in match_labels:
            return label, str(match_labels[label])
    meta = deployment.get("metadata") or {}
    who = f"{meta.get('name', '?')}.{meta.get('namespace', '?')}"
    kind = str(deployment.get("kind") or "Deployment").lower()
    raise PermanentError(
        f"{kind} {who} spec.selector.matchLabels must contain one of {', '.join(selector_labels)}"
    )


def primary_labels(labels: Mapping[str, str], label: str, value: str) -> dict[str, str]:
    """``labels`` without Flux markers, with the selector ``label`` set to ``value`` (Flagger's
    ``makePrimaryLabels``)."""
    out = {k: v for k, v in labels.items() if FLUX_MARKER not in k and k != label}
    out[label] = value
    return out


def include_by_prefix(values: Mapping[str, str] | None, prefixes: Iterable[str]) -> dict[str, str]:
    """The entries whose key starts with one of ``prefixes`` (``*`` keeps all), Flux markers never.

    This is Flagger's ``-include-label-prefix`` rule for the labels and
    annotations copied onto the primary Deployment, HPA and config copies. With
    no prefixes (Flagger's default) nothing is copied, which keeps a Helm or
    Kustomize ``app.kubernetes.io/managed-by`` label off objects no tool manages.
    """
    wanted = [p for p in prefixes if p]
    return {
        k: v
        for k, v in (values or {}).items()
        if FLUX_MARKER not in k and any(p == "*" or k.startswith(p) for p in wanted)
    }
