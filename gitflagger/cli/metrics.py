"""``gitflagger metrics check``: run a MetricTemplate once, so it can be tried before a release depends on it.

Two sources, one evaluation:

- files: ``TEMPLATE.yaml`` (and ``--secret SECRET.yaml`` when the template names a
  Secret), with the Canary's names and variables given as options;
- the cluster: ``NS/TEMPLATE --canary NS/NAME`` reads the template, its Secret, and
  the Canary whose analysis references the template (its interval and
  ``templateVariables``).

The query is rendered exactly as the controller renders it and run by the same
provider, with the same timeout. Credentials are never printed: every message
comes from the providers, which mask them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.config import find_cluster
from gitflagger.adapters.metrics.context import ObjectReader, cluster_api
from gitflagger.adapters.metrics.provider import MetricsProvider, NoValuesFound, QueryFailed
from gitflagger.adapters.metrics.registry import provider_for
from gitflagger.cli.kube_flags import kube_flags
from gitflagger.errors import GitflaggerError, PermanentError
from gitflagger.model.durations import parse_duration
from gitflagger.model.parse import parse_canary
from gitflagger.model.templates import (
    V1BETA1,
    MetricTemplate,
    decode_secret_data,
    parse_metric_template,
    render_query,
)

CLUSTER_PROVIDERS = ("keptn", "externalmetrics")
"""Metric providers that read the cluster: without --canary, the cluster is found for them only."""

EXAMPLES = """\b
Examples:
  # a template file, with the names a Canary would give it
  gitflagger metrics check error-rate.yaml --namespace test --target podinfo --interval 1m
  # a provider that needs credentials: the Secret manifest the template's secretRef names
  gitflagger metrics check datadog.yaml --secret datadog-secret.yaml -n test --target podinfo
  # template variables, and JSON for scripts
  gitflagger metrics check latency.yaml -n test --target podinfo --var route=/api -o json
  # everything from the cluster: the template, its Secret, the Canary's interval and variables
  gitflagger metrics check test/error-rate --canary test/podinfo --kubeconfig ~/.kube/config

Exit code 0 when a value was read; 1 for "no values found", an auth or connection
error, or a template that does not render.
"""


@dataclass(frozen=True)
class Outcome:
    provider: str
    query: str
    value: float | None
    seconds: float
    error: str = ""
    no_values: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "query": self.query,
            "value": self.value,
            "latencySeconds": round(self.seconds, 3),
            "noValues": self.no_values,
            "error": self.error or None,
        }


@click.group(epilog=EXAMPLES)
def metrics() -> None:
    """Try MetricTemplates against their metrics providers."""


@metrics.command(epilog=EXAMPLES)
@click.argument("template")
@click.option(
    "--secret",
    "secret_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Secret manifest (YAML) the template's spec.provider.secretRef names.",
)
@click.option("--namespace", "-n", default=None, help="The Canary's namespace ({{ namespace }}).")
@click.option("--target", default=None, help="The Canary's target Deployment ({{ target }}).")
@click.option(
    "--name", "canary_name", default=None, help="The Canary's name ({{ name }}); default: --target."
)
@click.option("--service", default=None, help="The Canary's service ({{ service }}); default: --target.")
@click.option(
    "--interval", default=None, help="The metric's interval ({{ interval }}, look-back window). [1m]"
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="A templateVariables entry ({{ variables.KEY }}); repeatable.",
)
@click.option(
    "--canary",
    default=None,
    metavar="NS/NAME",
    help="Read TEMPLATE (as NS/NAME), its Secret and the Canary's variables from the cluster.",
)
@kube_flags
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds to wait for the provider. [the provider's own: 5, InfluxDB 15, Keptn analysis 10]",
)
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
def check(
    template: str,
    secret_path: str | None,
    namespace: str | None,
    target: str | None,
    canary_name: str | None,
    service: str | None,
    interval: str | None,
    variables: tuple[str, ...],
    canary: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    timeout: float | None,
    output: str,
) -> None:
    """Render a MetricTemplate's query, run it once, and print the provider, query, value and latency."""
    given_vars = _variables(variables)
    if interval is not None:
        try:
            parse_duration(interval)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--interval") from None
    kube: Any = None
    try:
        if canary is not None:
            for flag, value in (
                ("--secret", secret_path),
                ("--namespace", namespace),
                ("--target", target),
                ("--name", canary_name),
                ("--service", service),
            ):
                if value is not None:
                    raise click.UsageError(f"{flag} cannot be used with --canary (the cluster says it)")
            kube = KubeCluster.connect(kubeconfig, kube_context)
            tmpl, creds, names = _from_cluster(kube.get, template, canary)
        else:
            if target is None:
                raise click.UsageError("--target is required (or use --canary NS/NAME)")
            tmpl = _template_file(template, namespace or "default")
            if kubeconfig is not None or kube_context is not None:
                kube = KubeCluster.connect(kubeconfig, kube_context)
            elif tmpl.provider.type in CLUSTER_PROVIDERS:  # they read the cluster: find it as kubectl does
                source = find_cluster(required=False)
                kube = KubeCluster.from_source(source) if source is not None else None
            creds = _secret_file(secret_path, tmpl)
            names = _Names(
                canary_name or target, namespace or tmpl.namespace, target, service or target, "1m", {}
            )
        names = names.override(interval, given_vars)
        query = render_query(
            tmpl,
            name=names.name,
            namespace=names.namespace,
            target=names.target,
            service=names.service,
            interval=names.interval,
            variables=names.variables,
        )
        provider = provider_for(
            tmpl.provider,
            creds,
            timeout=timeout,
            interval=names.interval,
            kube=kube.get if kube is not None else None,
            kube_api=cluster_api(kube) if kube is not None else None,
        )
        outcome = _run(provider, query)
    finally:
        if kube is not None:
            kube.close()
    _print(outcome, output)
    if outcome.value is None:
        if output == "json":
            raise click.exceptions.Exit(1)
        raise PermanentError(outcome.error)


@dataclass(frozen=True)
class _Names:
    name: str
    namespace: str
    target: str
    service: str
    interval: str
    variables: Mapping[str, str]

    def override(self, interval: str | None, variables: Mapping[str, str]) -> _Names:
        return _Names(
            self.name,
            self.namespace,
            self.target,
            self.service,
            interval or self.interval,
            {**self.variables, **variables},
        )


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--var")
        out[key] = value
    return out


def _split_ref(ref: str, what: str) -> tuple[str, str]:
    ns, sep, name = ref.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise click.BadParameter(f"{ref!r} is not NAMESPACE/NAME", param_hint=what)
    return ns, name


def _template_file(path: str, default_namespace: str) -> MetricTemplate:
    docs = [d for d in load_documents([path]) if d.get("kind") == "MetricTemplate"]
    if len(docs) != 1:
        raise PermanentError(f"{path}: expected one MetricTemplate, found {len(docs)}")
    return parse_metric_template(docs[0], default_namespace=default_namespace)


def _secret_file(path: str | None, tmpl: MetricTemplate) -> dict[str, str] | None:
    ref = tmpl.provider.secret_ref
    if path is None:
        if ref is not None:
            raise click.UsageError(
                f'the template names Secret "{ref}" (spec.provider.secretRef): pass it with --secret'
            )
        return None
    if ref is None:
        raise click.UsageError("--secret given, but the template has no spec.provider.secretRef")
    docs = [d for d in load_documents([path]) if d.get("kind") == "Secret"]
    if len(docs) != 1:
        raise PermanentError(f"{path}: expected one Secret, found {len(docs)}")
    name = (docs[0].get("metadata") or {}).get("name")
    if name != ref:
        raise PermanentError(f'{path}: the Secret is named "{name}", the template names "{ref}"')
    return decode_secret_data(docs[0])


def _from_cluster(
    get: ObjectReader, template_ref: str, canary_ref: str
) -> tuple[MetricTemplate, dict[str, str] | None, _Names]:
    t_ns, t_name = _split_ref(template_ref, "TEMPLATE")
    c_ns, c_name = _split_ref(canary_ref, "--canary")
    obj = get(V1BETA1, "MetricTemplate", t_ns, t_name)
    if obj is None:
        raise PermanentError(f"MetricTemplate {t_ns}/{t_name} not found")
    tmpl = parse_metric_template(obj, default_namespace=t_ns)
    creds = None
    if tmpl.provider.secret_ref is not None:
        secret = get("v1", "Secret", t_ns, tmpl.provider.secret_ref)
        if secret is None:
            raise PermanentError(
                f"Secret {t_ns}/{tmpl.provider.secret_ref} (spec.provider.secretRef) not found"
            )
        creds = decode_secret_data(secret)
    cobj = _get_canary(get, c_ns, c_name)
    can = parse_canary(cobj, default_namespace=c_ns)
    for metric in can.spec.analysis.metrics:
        ref = metric.template_ref
        if ref is not None and (ref.namespace or c_ns, ref.name) == (t_ns, t_name):
            names = _Names(
                can.name,
                can.namespace,
                can.target_name,
                can.service_name,
                str(metric.interval),
                dict(metric.template_variables),
            )
            return tmpl, creds, names
    raise PermanentError(f"Canary {c_ns}/{c_name} has no metric with templateRef {t_ns}/{t_name}")


def _get_canary(get: ObjectReader, ns: str, name: str) -> dict[str, Any]:
    for version in ("flagger.app/v1beta1", "flagger.app/v1alpha3"):
        try:
            obj = get(version, "Canary", ns, name)
        except GitflaggerError:
            continue
        if obj is not None:
            return obj
    raise PermanentError(f"Canary {ns}/{name} not found")


def _run(provider: MetricsProvider, query: str) -> Outcome:
    started = time.monotonic()
    try:
        value = provider.run_query(query)
        return Outcome(provider.type, query, value, time.monotonic() - started)
    except NoValuesFound as err:
        return Outcome(provider.type, query, None, time.monotonic() - started, str(err), no_values=True)
    except QueryFailed as err:
        return Outcome(provider.type, query, None, time.monotonic() - started, str(err))
    finally:
        close = getattr(provider, "close", None)
        if callable(close):
            close()


def _print(outcome: Outcome, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(outcome.as_json()))
        return
    value = "-" if outcome.value is None else repr(outcome.value)
    rows = [
        ("provider", outcome.provider),
        ("query", " ".join(outcome.query.split())),
        ("value", value),
        ("latency", f"{outcome.seconds:.3f}s"),
    ]
    for key, text in rows:
        click.echo(f"{key:<9}{text}")
