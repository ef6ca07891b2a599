"""The Kubernetes external metrics API (``external.metrics.k8s.io/v1beta1``), read the way Flagger reads it.

Kept from Flagger's ``pkg/metrics/providers/externalmetrics.go``:

- the query is ``<namespace>/<metricName>?labelSelector=<url-encoded selector>``
  (namespace ``default`` when left out; more than one ``/`` or no metric name is
  an error);
- ``GET /apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/{metric}``, with
  ``labelSelector`` when one is given;
- the value is the first item's ``value`` (a Kubernetes quantity such as
  ``1500m``); no item is "no values found";
- without ``spec.provider.address``, the cluster's own API with the controller's
  credentials; with it, that address, a ``token`` from the Secret as bearer
  token, and ``insecureSkipVerify``; 5 seconds timeout;
- online when listing ``dummy-metric`` in ``kube-system`` answers.

Different: with an address and no ``token``, no credentials are sent (Flagger
sends the controller's own to that address); a selector is sent as written (Go
re-prints it, e.g. sorted by key); an item without a value is "no values found".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from gitflagger.adapters.metrics.context import KubeApi, ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.errors import FieldProblem, GitflaggerError, ValidationError
from gitflagger.model.templates import MetricProviderSpec

API = "/apis/external.metrics.k8s.io/v1beta1"
FORMAT = "<namespace>/<metricName>?labelSelector=<urlencoded label selectors>"
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip


def parse_quantity(text: str) -> float:
    """A Kubernetes quantity (``1500m``, ``2Ki``, ``1e3``) as a float; ValueError when it is not one."""
    m = _QUANTITY.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    try:
        return float(Decimal(m.group(1)) * _SUFFIX[m.group(2) or ""])
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None


def parse_query(query: str) -> tuple[str, str, str]:
    """``(namespace, metric, selector)`` of a query, as Flagger splits it."""
    parts = urlsplit("dummy:///" + query)
    segments = parts.path.removeprefix("/").split("/")
    if len(segments) > 2:
        raise QueryFailed(f"externalmetrics: malformed query string, too many slashes, expected {FORMAT}")
    namespace, metric = "default", segments[-1]
    if len(segments) == 2 and segments[0]:
        namespace = segments[0]
    if not metric:
        raise QueryFailed("externalmetrics: metric name cannot be empty")
    selector = parse_qs(parts.query).get("labelSelector", [""])[0]
    return namespace, metric, selector


class ExternalMetricsProvider:
    type = "externalmetrics"

    def __init__(
        self,
        *,
        address: str = "",
        token: str = "",
        insecure_skip_verify: bool = False,
        kube_api: KubeApi | None = None,
        timeout: float,
    ) -> None:
        self.address = check_address(self.type, address) if address else ""
        self._kube_api = kube_api
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._http = HttpClient(
            self.type,
            self.address or "https://kubernetes.default.svc",
            secrets=(token,) if token else (),
            timeout=timeout,
            insecure_skip_verify=insecure_skip_verify,
        )

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> ExternalMetricsProvider:
        if not spec.address and ctx.kube_api is None:
            raise ValidationError(
                [FieldProblem("spec.provider.address", "required when there is no cluster connection")],
                subject="externalmetrics provider",
            )
        return cls(
            address=spec.address,
            token=(credentials or {}).get("token", "") if spec.secret_ref is not None else "",
            insecure_skip_verify=spec.insecure_skip_verify,
            kube_api=ctx.kube_api,
            timeout=ctx.timeout_or(),
        )

    def __repr__(self) -> str:
        return f"ExternalMetricsProvider(address={self.address or 'the cluster'!r})"

    def _list(self, namespace: str, metric: str, selector: str) -> Any:
        path = f"{API}/namespaces/{quote(namespace, safe='')}/{quote(metric, safe='')}"
        query = [("labelSelector", selector)] if selector else []
        if self.address:
            return self._http.send("GET", self.address + path, params=query, headers=self._headers).body
        assert self._kube_api is not None
        try:
            return self._kube_api(path, query)
        except GitflaggerError as err:
            raise QueryFailed(
                f"externalmetrics: error querying external metrics API: {self._http.excerpt(str(err), 300)}"
            ) from None

    def run_query(self, query: str) -> float:
        namespace, metric, selector = parse_query(query)
        body = self._list(namespace, metric, selector)
        items = body.get("items") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise QueryFailed(self._http.say("answer is not an ExternalMetricValueList"))
        if not items or not isinstance(items[0], Mapping) or items[0].get("value") in (None, ""):
            raise NoValuesFound(self._http.say("no external metrics found: no values found"))
        try:
            value = parse_quantity(str(items[0]["value"]))
        except ValueError as err:
            raise QueryFailed(self._http.say(str(err))) from None
        if math.isnan(value):
            raise NoValuesFound(self._http.say("no external metrics found: no values found"))
        return value

    def is_online(self) -> bool:
        try:
            self._list("kube-system", "dummy-metric", "")
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()
