"""Keptn's ``KeptnMetric`` and ``Analysis`` objects (``metrics.keptn.sh/v1beta1``), used as Flagger does.

Kept from Flagger's ``pkg/metrics/providers/keptn.go``:

- the query is lower-cased and trimmed before it is split on ``/``;
- ``keptnmetric/<namespace>/<name>`` (``keptnmetrics`` too): the value is the
  object's ``status.value``, a string parsed as a float; an object without one is
  a failed check ("no value found in resource"), as in Flagger (not "no values found");
- ``analysis/<namespace>/<definition>[/<timeframe>[/<key>=<value>;...]]``
  (``analyses`` too): an ``Analysis`` named ``<definition>-<6 random hex>`` is
  created with ``spec.analysisDefinition.name``, ``spec.timeframe.recent`` (``1m``
  when the query has none) and ``spec.args``; it is read every second until its
  ``status.state`` is ``Completed`` with a boolean ``status.pass``: 1 for a pass, 0
  for a fail (not the score). No answer within 10 s (the provider's timeout) is a
  failed check. The Analysis is deleted afterwards, whatever the outcome;
- no address and no Secret: the cluster's own API, with the controller's
  credentials; always online.

Different: an argument that is not ``key=value``, or a query with more than five
parts, is refused (Flagger drops them silently).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitflagger.adapters.metrics.context import KubeApi, ObjectReader, ProviderContext
from gitflagger.adapters.metrics.provider import QueryFailed
from gitflagger.errors import GitflaggerError
from gitflagger.model.templates import MetricProviderSpec

log = logging.getLogger(__name__)

GROUP_VERSION = "metrics.keptn.sh/v1beta1"
API_VERSION = GROUP_VERSION
KIND = "KeptnMetric"
FORMAT = "keptnmetric/<namespace>/<name> or analysis/<namespace>/<definition>/<timeframe>/<key>=<value>;..."
ANALYSIS_TIMEOUT = 10.0
"""Seconds Flagger gives Keptn to evaluate an Analysis (its ``analysisTimeout``)."""
POLL_INTERVAL = 1.0
"""Seconds between two reads of the Analysis, as in Flagger."""


@dataclass(frozen=True)
class AnalysisQuery:
    namespace: str
    definition: str
    timeframe: str = "1m"
    args: dict[str, str] = field(default_factory=dict)


def parse_analysis(parts: list[str]) -> AnalysisQuery:
    """``parts`` of a lower-cased ``analysis/...`` query; a QueryFailed for what would be dropped."""
    if len(parts) > 5:
        raise QueryFailed(f"keptn: unexpected query format, expected {FORMAT}")
    timeframe = parts[3] if len(parts) >= 4 else "1m"
    args: dict[str, str] = {}
    if len(parts) == 5 and parts[4]:
        for pair in parts[4].split(";"):
            key_value = pair.split("=")
            if len(key_value) != 2 or not key_value[0]:
                raise QueryFailed(f"keptn: analysis argument {pair!r} is not <key>=<value>")
            args[key_value[0]] = key_value[1]
    return AnalysisQuery(parts[1], parts[2], timeframe, args)


def analyses_path(namespace: str, name: str = "") -> str:
    path = f"/apis/{GROUP_VERSION}/namespaces/{namespace}/analyses"
    return f"{path}/{name}" if name else path


class KeptnProvider:
    type = "keptn"

    def __init__(
        self,
        kube: ObjectReader | None,
        kube_api: KubeApi | None = None,
        timeout: float = ANALYSIS_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._kube = kube
        self._kube_api = kube_api
        self._timeout = timeout
        self._poll = poll_interval

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> KeptnProvider:
        return cls(ctx.kube, ctx.kube_api, ctx.timeout_or(ANALYSIS_TIMEOUT))

    def __repr__(self) -> str:
        return "KeptnProvider()"

    def run_query(self, query: str) -> float:
        parts = query.strip().lower().split("/")
        if len(parts) < 3:
            raise QueryFailed(f"keptn: unexpected query format, expected {FORMAT}")
        kind, namespace, name = parts[0], parts[1], parts[2]
        if kind in ("analysis", "analyses"):
            return self._run_analysis(parse_analysis(parts))
        if kind not in ("keptnmetric", "keptnmetrics"):
            raise QueryFailed("keptn: unexpected resource kind in the query, must be keptnmetric or analysis")
        if self._kube is None:
            raise QueryFailed("keptn: no cluster to read KeptnMetric objects from")
        try:
            obj = self._kube(API_VERSION, KIND, namespace, name)
        except GitflaggerError as err:
            raise QueryFailed(f"keptn: could not retrieve KeptnMetric {namespace}/{name}: {err}") from None
        if obj is None:
            raise QueryFailed(f"keptn: could not retrieve KeptnMetric {namespace}/{name}: not found")
        status = obj.get("status")
        value = status.get("value") if isinstance(status, Mapping) else None
        if not isinstance(value, str):
            raise QueryFailed(
                f"keptn: could not retrieve KeptnMetric - no value found in resource {namespace}/{name}"
            )
        try:
            return float(value)
        except ValueError:
            raise QueryFailed(
                f"keptn: could not parse value of KeptnMetric {namespace}/{name} to float"
            ) from None

    def _run_analysis(self, q: AnalysisQuery) -> float:
        """Create the Analysis, wait for Keptn's verdict, delete it; 1.0 for a pass, 0.0 for a fail."""
        api = self._kube_api
        if api is None:
            raise QueryFailed("keptn: no cluster to create Analysis objects in")
        deadline = time.monotonic() + self._timeout
        body: dict[str, Any] = {
            "apiVersion": GROUP_VERSION,
            "kind": "Analysis",
            "metadata": {"name": f"{q.definition}-{uuid.uuid4().hex[:6]}", "namespace": q.namespace},
            "spec": {
                "analysisDefinition": {"name": q.definition},
                "timeframe": {"recent": q.timeframe},
                "args": dict(q.args),
            },
        }
        what = f"Keptn Analysis {q.namespace}/{q.definition}"
        try:
            created = api(analyses_path(q.namespace), (), "POST", body)
        except GitflaggerError as err:
            raise QueryFailed(f"keptn: could not create {what}: {err}") from None
        metadata = created.get("metadata")
        name = str(metadata.get("name")) if isinstance(metadata, Mapping) else ""
        if not name:
            raise QueryFailed(f"keptn: the API server's answer to creating {what} has no name")
        try:
            return self._wait(api, q.namespace, name, deadline, what)
        finally:
            try:
                api(analyses_path(q.namespace, name), (), "DELETE", None)
            except GitflaggerError as err:
                log.error("could not delete Keptn Analysis %s/%s: %s", q.namespace, name, err)

    def _wait(self, api: KubeApi, namespace: str, name: str, deadline: float, what: str) -> float:
        while True:
            time.sleep(max(0.0, min(self._poll, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                raise QueryFailed(f"keptn: encountered timeout while waiting for {what} to be finished")
            try:
                obj = api(analyses_path(namespace, name), (), "GET", None)
            except GitflaggerError as err:
                raise QueryFailed(f"keptn: could not check status of created {what}: {err}") from None
            status: Any = obj.get("status")
            if isinstance(status, Mapping) and status.get("state") == "Completed":
                passed = status.get("pass")
                if isinstance(passed, bool):
                    return 1.0 if passed else 0.0

    def is_online(self) -> bool:
        return True

    def close(self) -> None:
        pass
