"""What a provider is built with besides its template and Secret: Flagger's ``metricInterval`` and more.

Flagger's factory hands each provider the metric's ``interval`` (Datadog,
CloudWatch and Dynatrace look back ten intervals, New Relic one) and a Kubernetes
client config (Keptn reads ``KeptnMetric`` objects). :class:`ProviderContext`
carries the same, with the timeout, so every ``from_spec`` has one signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gitflagger.adapters.metrics.http import DEFAULT_TIMEOUT
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.durations import parse_duration

ObjectReader = Callable[[str, str, str, str], "dict[str, Any] | None"]
"""``get(api_version, kind, namespace, name)``: an object from the cluster, or None (``ClusterPort.get``)."""



class KubeApi(Protocol):
    """``api(path, query)``: the JSON answer of a request on the cluster's API (raises a GitflaggerError).

    A GET unless ``method`` says otherwise; ``body`` is sent as JSON (Keptn's
    provider creates, reads and deletes ``Analysis`` objects through it).
    """

    def __call__(
        self,
        path: str,
        query: Sequence[tuple[str, str]],
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]: ...


def cluster_api(cluster: object) -> KubeApi | None:
    """A :data:`KubeApi` over a ``KubeCluster``'s transport, or None for a cluster without one (fakes)."""
    transport = getattr(cluster, "transport", None)
    request = getattr(transport, "request", None)
    if not callable(request):
        return None

    def send(
        path: str,
        query: Sequence[tuple[str, str]],
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        what = f"{method.lower()} {path}"
        answer: Mapping[str, Any] = request(method, path, what=what, query=query, body=body)
        return answer

    return send


@dataclass(frozen=True)
class ProviderContext:
    interval: str = "1m"
    """The metric's ``interval`` as written (``1m``), Flagger's ``metricInterval``."""
    timeout: float | None = None
    """Seconds to wait for an answer; None for the provider's own default (Flagger's: 5 s, InfluxDB 15 s)."""
    kube: ObjectReader | None = None
    """Reads cluster objects; None where there is no cluster (``gitflagger metrics check`` on files)."""
    kube_api: KubeApi | None = None
    """Requests on the cluster's API (external metrics, Keptn analyses); None where there is no cluster."""

    def timeout_or(self, default: float = DEFAULT_TIMEOUT) -> float:
        return default if self.timeout is None else self.timeout

    @property
    def interval_seconds(self) -> float:
        """The interval in seconds; a ValidationError naming the field when it does not parse."""
        try:
            seconds = parse_duration(self.interval).seconds
        except ValueError as err:
            raise ValidationError(
                [FieldProblem("spec.analysis.metrics[].interval", str(err))], subject="metric"
            ) from None
        if seconds <= 0:
            raise ValidationError(
                [FieldProblem("spec.analysis.metrics[].interval", "must be positive")], subject="metric"
            )
        return seconds
