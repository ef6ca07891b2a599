"""MetricTemplate and AlertProvider: parsed, validated, and (for queries) rendered.

Both are Flagger CRDs (``flagger.app/v1beta1``) that a Canary points at by name,
so they are parsed on their own, with their own :class:`~gitflagger.errors.FieldProblem`
paths (``spec.provider.address``), and every problem is reported at once.

Queries are rendered by :func:`render_query`, a deliberately small and strict
stand-in for the Go ``text/template`` Flagger uses: only ``{{ name }}``,
``{{ namespace }}``, ``{{ target }}``, ``{{ service }}``, ``{{ interval }}`` and
``{{ variables.<key> }}`` are understood. Go would render a missing variable as
an empty string and send a query that silently matches nothing (which Flagger
then reports as "no values", blaming traffic); here it is a validation error
that names the variable.

Everything here is pure: no I/O, so it is safe for ``gitflagger simulate``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.known_fields import ALERT_PROVIDER_FIELDS, METRIC_TEMPLATE_FIELDS, unknown_fields

V1BETA1 = "flagger.app/v1beta1"
QUERY_VARIABLES = ("name", "namespace", "target", "service", "interval")

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VARIABLE = re.compile(r"variables\.([A-Za-z_][A-Za-z0-9_]*)")


# ---- MetricTemplate ---------------------------------------------------------


@dataclass(frozen=True)
class MetricProviderSpec:
    """``spec.provider`` of a MetricTemplate: where and how to run the query.

    ``headers`` keeps Go's ``http.Header`` shape (a name maps to a list of values).
    ``secret_ref`` names a Secret in the template's namespace; the credentials
    themselves never live in this object.
    """

    type: str = "prometheus"
    address: str = ""
    secret_ref: str | None = None
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    insecure_skip_verify: bool = False
    region: str = ""
    """``spec.provider.region`` (CloudWatch's AWS region)."""

    def fields_set(self) -> tuple[str, ...]:
        """The optional ``spec.provider`` fields this template sets, by their YAML names.

        Each provider type uses only some of them; the registry refuses the others
        (Flagger ignores them silently).
        """
        present = {
            "address": bool(self.address),
            "secretRef": self.secret_ref is not None,
            "headers": bool(self.headers),
            "insecureSkipVerify": self.insecure_skip_verify,
            "region": bool(self.region),
        }
        return tuple(name for name, is_set in present.items() if is_set)


@dataclass(frozen=True)
class MetricTemplate:
    name: str
    namespace: str
    provider: MetricProviderSpec
    query: str

    @property
    def key(self) -> tuple[str, str]:
        """``(namespace, name)``: how a Canary's ``templateRef`` finds this template."""
        return (self.namespace, self.name)


def parse_metric_template(obj: Mapping[str, Any], *, default_namespace: str = "default") -> MetricTemplate:
    """Parse a ``MetricTemplate`` document; raise :class:`ValidationError` listing every problem.

    An empty ``provider.type`` means Prometheus, as in Flagger. Whether the type is
    *supported* is the metrics adapters' business (their registry knows), so any
    non-empty name is accepted here.
    """
    problems = unknown_fields(obj, METRIC_TEMPLATE_FIELDS, "MetricTemplate")
    name, namespace = _header(obj, "MetricTemplate", default_namespace, problems)
    spec = _mapping(obj, "spec", "", problems, required=True)
    prov = _mapping(spec, "provider", "spec", problems)
    ptype = _string(prov, "type", "spec.provider", problems) or "prometheus"
    address = _string(prov, "address", "spec.provider", problems)
    if address:
        _check_url(address, "spec.provider.address", problems)
    headers = _headers(prov, problems)
    skip_verify = _bool(prov, "insecureSkipVerify", "spec.provider", problems)
    secret_ref = _secret_ref(prov, "spec.provider", problems)
    region = _string(prov, "region", "spec.provider", problems)
    query = _string(spec, "query", "spec", problems)
    if not query.strip():
        problems.append(FieldProblem("spec.query", "required"))
    else:
        problems += [FieldProblem("spec.query", m) for m in _syntax_problems(query)]
    if problems:
        raise ValidationError(problems, subject=f"MetricTemplate {namespace}/{name}")
    provider = MetricProviderSpec(ptype, address, secret_ref, headers, skip_verify, region)
    return MetricTemplate(name, namespace, provider, query)


def render_query(
    template: MetricTemplate | str,
    *,
    name: str,
    namespace: str,
    target: str,
    service: str,
    interval: str,
    variables: Mapping[str, str] | None = None,
) -> str:
    """Substitute the ``{{ ... }}`` placeholders of a query; raise ``ValidationError`` on any doubt.

    >>> render_query('up{ns="{{ namespace }}",dir="{{ variables.dir }}"}[{{interval}}]',
    ...              name="podinfo", namespace="test", target="podinfo", service="podinfo",
    ...              interval="1m", variables={"dir": "inbound"})
    'up{ns="test",dir="inbound"}[1m]'
    """
    if isinstance(template, MetricTemplate):
        text, path, subject = (
            template.query,
            "spec.query",
            f"MetricTemplate {template.namespace}/{template.name}",
        )
    else:
        text, path, subject = template, "query", "query"
    values = {
        "name": name,
        "namespace": namespace,
        "target": target,
        "service": service,
        "interval": interval,
    }
    variables = variables or {}
    problems = [FieldProblem(path, m) for m in _syntax_problems(text)]
    out: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        expr = m.group(1).strip()
        var = _VARIABLE.fullmatch(expr)
        if expr in values:
            out.append(values[expr])
        elif var and var.group(1) in variables:
            out.append(variables[var.group(1)])
        elif var:
            known = ", ".join(sorted(variables)) or "none"
            problems.append(
                FieldProblem(
                    path, f'template variable "{expr}" is not set in templateVariables (set: {known})'
                )
            )
    out.append(text[pos:])
    if problems:
        raise ValidationError(problems, subject=subject)
    return "".join(out)


def _syntax_problems(text: str) -> list[str]:
    """Placeholders the renderer would not understand, whatever the variables."""
    found = [
        f'unknown template expression "{{{{{m.group(1)}}}}}" (use one of: {_allowed()})'
        for m in _PLACEHOLDER.finditer(text)
        if m.group(1).strip() not in QUERY_VARIABLES and not _VARIABLE.fullmatch(m.group(1).strip())
    ]
    if "{{" in _PLACEHOLDER.sub("", text):
        found.append('unclosed "{{" in query')
    return found


def _allowed() -> str:
    return ", ".join(f"{{{{ {v} }}}}" for v in QUERY_VARIABLES) + ", {{ variables.<key> }}"


# ---- AlertProvider ----------------------------------------------------------


class AlertProviderType(StrEnum):
    SLACK = "slack"
    MSTEAMS = "msteams"
    DISCORD = "discord"
    ROCKET = "rocket"
    GCHAT = "gchat"


@dataclass(frozen=True)
class AlertProvider:
    """An ``AlertProvider``: a chat service to notify.

    ``address`` is a webhook URL, which for most services *is* the credential,
    so it is kept out of ``repr`` (and therefore out of logs and tracebacks).
    A ``secretRef`` Secret may carry ``address`` (and ``proxy``, ``token``) instead.
    """

    name: str
    namespace: str
    type: AlertProviderType
    address: str = field(default="", repr=False)
    channel: str = ""
    username: str = ""
    proxy: str = field(default="", repr=False)
    secret_ref: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


def parse_alert_provider(obj: Mapping[str, Any], *, default_namespace: str = "default") -> AlertProvider:
    """Parse an ``AlertProvider`` document; raise :class:`ValidationError` listing every problem."""
    problems = unknown_fields(obj, ALERT_PROVIDER_FIELDS, "AlertProvider")
    name, namespace = _header(obj, "AlertProvider", default_namespace, problems)
    spec = _mapping(obj, "spec", "", problems, required=True)
    raw_type = _string(spec, "type", "spec", problems)
    supported = ", ".join(sorted(t.value for t in AlertProviderType))
    ptype: AlertProviderType | None = None
    if not raw_type:
        problems.append(FieldProblem("spec.type", f"required (one of: {supported})"))
    elif raw_type not in {t.value for t in AlertProviderType}:
        problems.append(
            FieldProblem("spec.type", f'unknown alert provider "{raw_type}", supported: {supported}')
        )
    else:
        ptype = AlertProviderType(raw_type)
    address = _string(spec, "address", "spec", problems)
    proxy = _string(spec, "proxy", "spec", problems)
    secret_ref = _secret_ref(spec, "spec", problems)
    if address:
        _check_url(address, "spec.address", problems)
    elif secret_ref is None:
        problems.append(
            FieldProblem("spec.address", "required unless spec.secretRef names a Secret with an address")
        )
    if proxy:
        _check_url(proxy, "spec.proxy", problems)
    channel = _string(spec, "channel", "spec", problems)
    username = _string(spec, "username", "spec", problems)
    if problems or ptype is None:
        raise ValidationError(problems, subject=f"AlertProvider {namespace}/{name}")
    return AlertProvider(name, namespace, ptype, address, channel, username, proxy, secret_ref)


# ---- Secrets ----------------------------------------------------------------


def decode_secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    """The decoded ``data`` (base64) and ``stringData`` of a Secret, as text (the opposite of
    :func:`gitflagger.render.configs.encode_secret_data`).

    Error messages name the key, never the value.
    """
    problems: list[FieldProblem] = []
    out: dict[str, str] = {}
    for section in ("data", "stringData"):
        values = secret.get(section) or {}
        if not isinstance(values, Mapping):
            problems.append(FieldProblem(section, "must be a mapping"))
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                problems.append(FieldProblem(f"{section}.{key}", "must be a string"))
            elif section == "stringData":
                out[str(key)] = value
            else:
                try:
                    out[str(key)] = base64.b64decode(value, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    problems.append(FieldProblem(f"data.{key}", "is not base64-encoded UTF-8 text"))
    if problems:
        meta = secret.get("metadata") or {}
        raise ValidationError(problems, subject=f"Secret {meta.get('namespace', '')}/{meta.get('name', '')}")
    return out


# ---- small typed readers ----------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _header(
    obj: Mapping[str, Any], kind: str, default_ns: str, problems: list[FieldProblem]
) -> tuple[str, str]:
    api_version, got_kind = obj.get("apiVersion"), obj.get("kind")
    if api_version != V1BETA1:
        problems.append(FieldProblem("apiVersion", f"expected {V1BETA1}, got {api_version!r}"))
    if got_kind != kind:
        problems.append(FieldProblem("kind", f"expected {kind}, got {got_kind!r}"))
    meta = _mapping(obj, "metadata", "", problems, required=True)
    name = _string(meta, "name", "metadata", problems)
    if not name:
        problems.append(FieldProblem("metadata.name", "required"))
    return name, _string(meta, "namespace", "metadata", problems) or default_ns


def _mapping(
    parent: Mapping[str, Any], key: str, path: str, problems: list[FieldProblem], *, required: bool = False
) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            problems.append(FieldProblem(_join(path, key), "required"))
        return {}
    if not isinstance(value, Mapping):
        problems.append(FieldProblem(_join(path, key), f"must be a mapping, got {type(value).__name__}"))
        return {}
    return value


def _string(parent: Mapping[str, Any], key: str, path: str, problems: list[FieldProblem]) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem(_join(path, key), f"must be a string, got {type(value).__name__}"))
        return ""
    return value


def _bool(parent: Mapping[str, Any], key: str, path: str, problems: list[FieldProblem]) -> bool:
    value = parent.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(FieldProblem(_join(path, key), f"must be true or false, got {type(value).__name__}"))
        return False
    return value


def _secret_ref(parent: Mapping[str, Any], path: str, problems: list[FieldProblem]) -> str | None:
    if parent.get("secretRef") is None:
        return None
    ref = _mapping(parent, "secretRef", path, problems)
    name = _string(ref, "name", _join(path, "secretRef"), problems)
    if not name:
        problems.append(FieldProblem(_join(path, "secretRef.name"), "required"))
        return None
    return name


def _headers(prov: Mapping[str, Any], problems: list[FieldProblem]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for hname, value in _mapping(prov, "headers", "spec.provider", problems).items():
        path = f"spec.provider.headers.{hname}"
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems.append(FieldProblem(path, "must be a string or a list of strings"))
        elif any("\n" in v or "\r" in v for v in values):
            problems.append(FieldProblem(path, "must not contain line breaks"))
        else:
            out[str(hname)] = tuple(values)
    return out


def _check_url(url: str, path: str, problems: list[FieldProblem]) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        # Name the problem, never echo the URL: webhook URLs and userinfo are credentials.
        problems.append(FieldProblem(path, "must be an http:// or https:// URL with a host"))
