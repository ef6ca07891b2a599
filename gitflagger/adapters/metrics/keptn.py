"""Keptn's ``KeptnMetric`` objects (``metrics.keptn.sh/v1beta1``), read the way Flagger reads them.

Kept from Flagger's ``pkg/metrics/providers/keptn.go``:

- the query is ``keptnmetric/<namespace>/<name>`` (``keptnmetrics`` too),
  lower-cased and trimmed before it is split on ``/``;
- the value is the object's ``status.value``, a string parsed as a float; an
  object without one is a failed check ("no value found in resource"), as in
  Flagger (not "no values found");
- no address and no Secret: the cluster's own API, with the controller's
  credentials; always online.

Different: ``analysis/...`` queries (Flagger creates a Keptn ``Analysis`` and
waits for it) are refused with a clear message: not supported here.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitflagger.adapters.metrics.context import ObjectReader, ProviderContext
from gitflagger.adapters.metrics.provider import QueryFailed
from gitflagger.errors import GitflaggerError
from gitflagger.model.templates import MetricProviderSpec

API_VERSION = "metrics.keptn.sh/v1beta1"
KIND = "KeptnMetric"
FORMAT = "keptnmetric/<namespace>/<name>"


class KeptnProvider:
    type = "keptn"

    def __init__(self, kube: ObjectReader | None) -> None:
        self._kube = kube

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> KeptnProvider:
        return cls(ctx.kube)

    def __repr__(self) -> str:
        return "KeptnProvider()"

    def run_query(self, query: str) -> float:
        parts = query.strip().lower().split("/")
        if len(parts) < 3:
            raise QueryFailed(f"keptn: unexpected query format, expected {FORMAT}")
        kind, namespace, name = parts[0], parts[1], parts[2]
        if kind in ("analysis", "analyses"):
            raise QueryFailed("keptn: analysis queries are not supported by gitflagger; use " + FORMAT)
        if kind not in ("keptnmetric", "keptnmetrics"):
            raise QueryFailed("keptn: unexpected resource kind in the query, must be keptnmetric")
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

    def is_online(self) -> bool:
        return True

    def close(self) -> None:
        pass
