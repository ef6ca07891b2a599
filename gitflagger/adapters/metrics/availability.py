"""Are a Canary's metric providers online? Flagger asks each one while the Canary initializes.

Flagger's scheduler calls ``checkMetricProviderAvailability``
(``pkg/controller/scheduler_metrics.go``) on every pass while a Canary's phase is
empty or ``Initializing`` and its analysis is not skipped. For each metric, in
spec order: a built-in (``request-success-rate``, ``request-duration``, by name)
asks the metrics server; a ``templateRef`` builds the template's provider and
asks it (``IsOnline``). The first failure stops the check and becomes one Warning
Event, ``Error checking metric providers: <reason>``; with none, a Normal Event
says ``all the metrics providers are available!``. Inline queries are not asked.

:func:`check_providers` returns that reason (or ``""``), with Flagger's wording for
each failure; the decision core turns it into the Event. It never promotes or
fails anything by itself: the analysis queries the same providers later, and an
unreachable one is a failed check there.

Different: Flagger appends the Go error of ``IsOnline``; the providers here answer
a bare yes or no (their ``is_online`` never raises), so the reason is "online
check failed".
"""

from __future__ import annotations

from collections.abc import Mapping

from gitflagger.adapters.metrics.builtin import is_builtin
from gitflagger.adapters.metrics.context import KubeApi, ObjectReader
from gitflagger.adapters.metrics.evaluate import ObjectKey, ProviderPool
from gitflagger.errors import ValidationError
from gitflagger.model.canary import Canary
from gitflagger.model.templates import MetricProviderSpec, MetricTemplate

OFFLINE = "online check failed"


def check_providers(
    canary: Canary,
    templates: Mapping[ObjectKey, MetricTemplate],
    secrets: Mapping[ObjectKey, Mapping[str, str]],
    default_address: str,
    *,
    timeout: float | None = None,
    kube: ObjectReader | None = None,
    kube_api: KubeApi | None = None,
) -> str:
    """``""`` when every provider the analysis names is online; else Flagger's reason for the first one."""
    pool = ProviderPool(secrets, timeout, kube, kube_api)
    try:
        for metric in canary.spec.analysis.metrics:
            interval = str(metric.interval)
            if is_builtin(metric.name):
                try:
                    server = pool.get(MetricProviderSpec(address=default_address), canary.namespace, interval)
                except ValidationError as err:
                    return f"error building Prometheus client for {default_address} {err}"
                if not server.is_online():
                    return f"prometheus not avaiable: {OFFLINE}"  # Flagger's spelling, kept for its readers
                continue
            ref = metric.template_ref
            if ref is None:
                continue
            ns = ref.namespace or canary.namespace
            template = templates.get((ns, ref.name))
            where = f"metric template {ref.name}.{ns}"
            if template is None:
                return f"{where} error: not found or not valid"
            kind = template.provider.type
            try:
                provider = pool.get(template.provider, ns, interval)
            except LookupError:
                return f"{where} secret {template.provider.secret_ref} error: not found"
            except ValidationError as err:
                return f"{where} provider {kind} error: {err}"
            if not provider.is_online():
                named = f"{template.name}.{template.namespace}"
                return f"{kind} in metric template {named} not avaiable: {OFFLINE}"
        return ""
    finally:
        pool.close()
