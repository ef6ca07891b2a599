"""``--no-cross-namespace-refs``: a Canary uses only MetricTemplates and AlertProviders of its namespace.

On a shared cluster one team's Canary must not read another team's metric
queries (and the credentials of their Secret) or post through another team's
chat webhook. Flagger's ``-no-cross-namespace-refs`` blocks such references
before anything else happens; so does this, as a validation error that names
every offending field, so the Canary gets one Warning Event and does not step.
A reference without a namespace means the Canary's own and is always allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.canary import Canary


def check_namespace_refs(canary_obj: Mapping[str, Any], canary: Canary) -> None:
    """Raise :class:`ValidationError` naming each reference into another namespace."""
    spec = canary_obj.get("spec") or {}
    legacy = spec.get("analysis") is None and "canaryAnalysis" in spec
    block = "canaryAnalysis" if legacy else "analysis"
    analysis = canary.spec.analysis
    problems: list[FieldProblem] = []
    for i, metric in enumerate(analysis.metrics):
        ref = metric.template_ref
        if ref is not None and ref.namespace and ref.namespace != canary.namespace:
            problems.append(_blocked(f"spec.{block}.metrics[{i}].templateRef.namespace", "metric template",
                                     ref.namespace, ref.name))
    for i, alert in enumerate(analysis.alerts):
        ref = alert.provider_ref
        if ref.namespace and ref.namespace != canary.namespace:
            problems.append(_blocked(f"spec.{block}.alerts[{i}].providerRef.namespace", "alert provider",
                                     ref.namespace, ref.name))
    if problems:
        raise ValidationError(problems, subject=f"Canary {canary.namespace}/{canary.name}")


def _blocked(path: str, what: str, namespace: str, name: str) -> FieldProblem:
    return FieldProblem(
        path, f"{what} {namespace}/{name} is in another namespace; --no-cross-namespace-refs blocks it"
    )
