"""The analysis block of a Canary: pacing, weights, metrics, webhooks, alerts.

Split from :mod:`gitflagger.model.parse`, whose docstring lists the defaults and
the checks, because this block is most of the Canary API. The same code reads
``spec.analysis`` (v1beta1) and ``spec.canaryAnalysis`` (v1alpha3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from gitflagger.model.canary import (
    BUILTIN_METRICS,
    DEFAULT_INTERVAL,
    DEFAULT_MAX_WEIGHT,
    DEFAULT_METRIC_INTERVAL,
    DEFAULT_WEBHOOK_TIMEOUT,
    AlertRef,
    Analysis,
    MetricCheck,
    NamespacedRef,
    SessionAffinity,
    ThresholdRange,
    Webhook,
    WebhookType,
)
from gitflagger.model.durations import Duration
from gitflagger.model.fields import Problems, describe, join

MIN_INTERVAL = Duration(10_000_000_000, "10s")
"""Flagger's floor for ``analysis.interval``; shorter intervals are raised to it."""

DEFAULT_COOKIE_MAX_AGE = 86400
"""Flagger's ``GetMaxAge``: one day, also when ``maxAge`` is 0."""
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
"""An RFC 6265 cookie name (a token): it becomes ``<name>=<value>`` in Set-Cookie headers."""
SAME_SITE = ("Strict", "Lax", "None")
"""The CRD's enum for ``sessionAffinity.sameSite``."""
_COOKIE_ATTRIBUTE = re.compile(r"[!-:<-~]+")
"""A ``Domain``/``Path`` value: printable ASCII without spaces or ``;``, so it cannot end the attribute."""
ALERT_SEVERITIES = ("info", "warn", "error")
_WEBHOOK_TYPES = ", ".join(t.value for t in WebhookType)


def parse_analysis(p: Problems, spec: Mapping[str, Any], path: str) -> Analysis | None:
    """``spec.analysis`` if present, else ``spec.canaryAnalysis`` (Flagger's ``GetAnalysis``)."""
    key = "analysis" if spec.get("analysis") is not None or "canaryAnalysis" not in spec else "canaryAnalysis"
    block = p.mapping(spec, key, path, required=True)
    if block is None:
        return None
    path = join(path, key)
    interval = p.duration(block, "interval", path) or DEFAULT_INTERVAL
    threshold = p.integer(block, "threshold", path, lo=0) or 1
    iterations = p.integer(block, "iterations", path, lo=0) or 0
    max_weight = p.integer(block, "maxWeight", path, lo=1, hi=100)
    step_weight = p.integer(block, "stepWeight", path, lo=1, hi=100)
    step_weights = _step_weights(p, block, path)
    _check_weights(p, block, path, max_weight, step_weight, step_weights, iterations)
    if step_weights:
        max_weight = step_weights[-1]
    affinity = _session_affinity(p, block, path)
    return Analysis(
        interval=max(interval, MIN_INTERVAL, key=lambda d: d.nanoseconds),
        threshold=threshold,
        iterations=iterations,
        max_weight=max_weight or DEFAULT_MAX_WEIGHT,
        step_weight=step_weight or 0,
        step_weights=step_weights,
        step_weight_promotion=p.integer(block, "stepWeightPromotion", path, lo=0, hi=100) or 0,
        match=tuple(m for _, m in p.mappings_of(block, "match", path)),
        mirror=p.boolean(block, "mirror", path) or False,
        mirror_weight=p.integer(block, "mirrorWeight", path, lo=0, hi=100) or 0,
        primary_ready_threshold=_or(p.integer(block, "primaryReadyThreshold", path, lo=0, hi=100), 100),
        canary_ready_threshold=_or(p.integer(block, "canaryReadyThreshold", path, lo=0, hi=100), 100),
        metrics=tuple(_metric(p, m, mp) for mp, m in p.mappings_of(block, "metrics", path)),
        webhooks=_webhooks(p, block, path),
        alerts=tuple(a for a in (_alert(p, a, ap) for ap, a in p.mappings_of(block, "alerts", path)) if a),
        session_affinity=affinity,
    )


def _or(value: int | None, default: int) -> int:
    """``value or default`` would turn an explicit 0 into the default."""
    return default if value is None else value


def _step_weights(p: Problems, block: Mapping[str, Any], path: str) -> tuple[int, ...]:
    list_path = join(path, "stepWeights")
    raw = p.items_of(block, "stepWeights", path)
    weights = [p.integer_value(w, join(list_path, i), lo=1, hi=100) for i, w in enumerate(raw)]
    return tuple(w for w in weights if w is not None) if None not in weights else ()


def _check_weights(
    p: Problems,
    block: Mapping[str, Any],
    path: str,
    max_weight: int | None,
    step_weight: int | None,
    step_weights: tuple[int, ...],
    iterations: int,
) -> None:
    if "stepWeight" in block and "stepWeights" in block and block["stepWeights"]:
        p.add(join(path, "stepWeights"), "set either stepWeight or stepWeights, not both")
    if max_weight is not None and step_weight is not None and max_weight < step_weight:
        p.add(join(path, "maxWeight"), f"must be at least stepWeight ({step_weight}), got {max_weight}")
    if any(b <= a for a, b in pairwise(step_weights)):
        shown = ", ".join(str(w) for w in step_weights)
        p.add(join(path, "stepWeights"), f"must be strictly increasing, got [{shown}]")
    unset = all(block.get(k) in (None, []) for k in ("stepWeight", "stepWeights"))
    if unset and iterations == 0 and not p.under(join(path, "iterations")):
        p.add(path, "set stepWeight or stepWeights for a canary release, or iterations for A/B or blue/green")


def _metric(p: Problems, m: Mapping[str, Any], path: str) -> MetricCheck:
    name = p.string(m, "name", path, required=True) or ""
    interval = p.duration(m, "interval", path, positive=True) or DEFAULT_METRIC_INTERVAL
    legacy = p.number(m, "threshold", path)
    query = p.string(m, "query", path) or None
    template_ref = _namespaced_ref(p, m, "templateRef", path)
    variables = p.string_map(m, "templateVariables", path)
    custom = template_ref is not None or query is not None or "templateRef" in m
    if name and name not in BUILTIN_METRICS and not custom:
        p.add(
            join(path, "name"),
            f"unknown metric {describe(name)} (built-ins are request-success-rate and "
            "request-duration); set templateRef to use a MetricTemplate",
        )
    bounds = _threshold_range(p, m, path)
    if bounds is None and legacy is not None:
        # Flagger's legacy checks: success rate fails below it, everything else above it.
        is_floor = name == "request-success-rate"
        bounds = ThresholdRange(min=legacy) if is_floor else ThresholdRange(max=legacy)
    if bounds is None and not p.under(join(path, "thresholdRange")) and not p.under(join(path, "threshold")):
        p.add(join(path, "thresholdRange"), "is required (or the legacy threshold)")
    return MetricCheck(
        name=name,
        threshold_range=bounds or ThresholdRange(),
        interval=interval,
        template_ref=template_ref,
        template_variables=variables,
        query=query,
    )


def _threshold_range(p: Problems, m: Mapping[str, Any], path: str) -> ThresholdRange | None:
    block = p.mapping(m, "thresholdRange", path)
    if block is None:
        return None
    path = join(path, "thresholdRange")
    low, high = p.number(block, "min", path), p.number(block, "max", path)
    if low is None and high is None:
        if not p.under(path):
            p.add(path, "set min, max or both")
        return None
    if low is not None and high is not None and low > high:
        p.add(path, f"min ({low:g}) must not be greater than max ({high:g})")
    return ThresholdRange(min=low, max=high)


def _namespaced_ref(p: Problems, obj: Mapping[str, Any], key: str, path: str) -> NamespacedRef | None:
    ref = p.mapping(obj, key, path)
    if ref is None:
        return None
    path = join(path, key)
    name = p.name(ref, "name", path, required=True)
    namespace = p.name(ref, "namespace", path) or None
    return NamespacedRef(name=name, namespace=namespace) if name else None


def _webhooks(p: Problems, block: Mapping[str, Any], path: str) -> tuple[Webhook, ...]:
    hooks: list[Webhook] = []
    first_index: dict[str, int] = {}
    for i, (hp, h) in enumerate(p.mappings_of(block, "webhooks", path)):
        name = p.string(h, "name", hp, required=True)
        if name is not None:
            if name in first_index:
                p.add(
                    join(hp, "name"),
                    f"duplicate webhook name {describe(name)} (also webhooks[{first_index[name]}])",
                )
            first_index.setdefault(name, i)
        hook = _webhook(p, h, hp, name)
        if hook is not None:
            hooks.append(hook)
    return tuple(hooks)


def _webhook(p: Problems, h: Mapping[str, Any], path: str, name: str | None) -> Webhook | None:
    type_text = p.string(h, "type", path) or WebhookType.ROLLOUT.value
    hook_type = WebhookType(type_text) if type_text in WebhookType._value2member_map_ else None
    if hook_type is None:
        p.add(
            join(path, "type"),
            f"unknown webhook type {describe(type_text)}, expected one of {_WEBHOOK_TYPES}",
        )
    url = p.string(h, "url", path, required=True)
    if url is not None:
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            p.add(join(path, "url"), f"must be an http:// or https:// URL, got {describe(url)}")
            url = None
    timeout = p.duration(h, "timeout", path, positive=True) or DEFAULT_WEBHOOK_TIMEOUT
    retries = p.integer(h, "retries", path, lo=0) or 0
    disable_tls = p.boolean(h, "disableTLS", path) or False
    mute = p.boolean(h, "muteAlert", path) or False
    metadata = p.string_map(h, "metadata", path)
    if name is None or url is None or hook_type is None:
        return None
    return Webhook(
        name=name,
        type=hook_type,
        url=url,
        timeout=timeout,
        retries=retries,
        disable_tls=disable_tls,
        mute_alert=mute,
        metadata=metadata,
    )


def _alert(p: Problems, a: Mapping[str, Any], path: str) -> AlertRef | None:
    name = p.string(a, "name", path, required=True)
    severity = p.string(a, "severity", path) or "info"
    if severity not in ALERT_SEVERITIES:
        p.add(join(path, "severity"), f"must be info, warn or error, got {describe(severity)}")
    if "providerRef" not in a or a.get("providerRef") is None:
        p.add(join(path, "providerRef"), "is required")
    provider = _namespaced_ref(p, a, "providerRef", path)
    if name is None or provider is None or p.under(path):
        return None
    return AlertRef(name=name, provider_ref=provider, severity=severity)


def _session_affinity(p: Problems, block: Mapping[str, Any], path: str) -> SessionAffinity | None:
    affinity = p.mapping(block, "sessionAffinity", path)
    if affinity is None:
        return None
    path = join(path, "sessionAffinity")
    cookie = _cookie_name(p, affinity, "cookieName", path, required=True)
    primary_cookie = _cookie_name(p, affinity, "primaryCookieName", path) or ""
    if cookie is not None and primary_cookie == cookie:
        p.add(join(path, "primaryCookieName"), f"must differ from cookieName ({describe(cookie)})")
    max_age = p.integer(affinity, "maxAge", path, lo=0)
    texts = {key: p.string(affinity, key, path) or "" for key in ("domain", "path", "sameSite")}
    for key in ("domain", "path"):
        if texts[key] and not _COOKIE_ATTRIBUTE.fullmatch(texts[key]):
            why = f"must be printable ASCII without spaces or ';', got {describe(texts[key])}"
            p.add(join(path, key), why)
    if texts["sameSite"] and texts["sameSite"] not in SAME_SITE:
        p.add(join(path, "sameSite"), f"must be Strict, Lax or None, got {describe(texts['sameSite'])}")
    flags = {key: p.boolean(affinity, key, path) or False for key in ("httpOnly", "secure", "partitioned")}
    if cookie is None:
        return None
    return SessionAffinity(
        cookie_name=cookie,
        max_age=max_age or DEFAULT_COOKIE_MAX_AGE,
        primary_cookie_name=primary_cookie,
        domain=texts["domain"],
        path=texts["path"],
        same_site=texts["sameSite"],
        http_only=flags["httpOnly"],
        secure=flags["secure"],
        partitioned=flags["partitioned"],
    )


def _cookie_name(
    p: Problems, block: Mapping[str, Any], key: str, path: str, *, required: bool = False
) -> str | None:
    """A cookie name: it becomes ``<name>=<value>`` in Set-Cookie headers and in a regex match."""
    name = p.string(block, key, path, required=required)
    if name and not _COOKIE_NAME.fullmatch(name):
        why = f"must be a cookie name (letters, digits and !#$%&'*+-.^_`|~), got {describe(name)}"
        p.add(join(path, key), why)
        return None
    return name
