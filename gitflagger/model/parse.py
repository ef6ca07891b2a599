"""Decoded Canary documents to validated :class:`~gitflagger.model.canary.Canary` objects.

Both Flagger API versions are read by one parser: ``flagger.app/v1beta1`` keeps
its analysis under ``spec.analysis`` and ``flagger.app/v1alpha3`` under
``spec.canaryAnalysis``; the fields inside are the same. Like Flagger's
``GetAnalysis()``, ``spec.analysis`` wins when a document has both, whatever its
apiVersion, and error paths name the block that was actually read.

Defaults and leniencies follow Flagger, so a Canary that Flagger runs behaves
the same here:

- ``interval`` defaults to 1m and is raised to 10s when shorter (Flagger's
  ``GetAnalysisInterval`` clamps silently; refusing would break working Canaries).
  An unparseable interval, which Flagger silently replaces by 60s, is an error.
- ``threshold`` 0 or absent means 1; ``maxWeight`` absent means 100, or the last
  of ``stepWeights`` when those are given (Flagger's ``GetMaxWeight``).
- A webhook without ``type`` is a ``rollout`` webhook; its timeout defaults to 10s.
- The legacy metric ``threshold`` becomes a ``thresholdRange``: a minimum for
  ``request-success-rate``, a maximum in milliseconds for ``request-duration``
  and a maximum for every other metric (Flagger fails a check when
  ``value > threshold`` for those). ``thresholdRange`` wins when both are set.
- ``sessionAffinity.maxAge`` 0 or absent means one day (Flagger's ``GetMaxAge``).
- An HPA ``autoscalerRef``'s apiVersion is normalised to ``autoscaling/v2``: Flagger
  reads every HPA through v2 whatever the reference says (the tutorial's
  ``v2beta1`` is no longer served), and so do we. A KEDA ``ScaledObject`` is
  ``keda.sh/v1alpha1``, its ``primaryScalerQueries`` read with it.

Stricter than Flagger, because each of these is a Canary that cannot do what its
author meant: explicit weights outside 1..100, ``maxWeight`` below ``stepWeight``,
non-increasing ``stepWeights``, a metric with no bounds, an unknown metric name
without ``templateRef`` or ``query``, duplicate webhook names, a
``sessionAffinity.cookieName`` that is not a cookie name, a cookie ``domain`` or
``path`` that could end its attribute (``;``, spaces), a ``primaryCookieName``
equal to ``cookieName``, an
``unmanagedMetadata`` key the Canary also sets on a Service, a
``primaryScalerReplicas.minReplicas`` above its ``maxReplicas``, Flagger's
extra mirror backends (``service.mirror``), a target other than a Deployment or
a DaemonSet, an autoscaler on a DaemonSet, ``primaryScalerQueries`` on an HPA, the
fields of :data:`gitflagger.model.refused.REFUSED`
(acted on by Flagger, not by gitflagger), and object names that are not RFC 1123 (they become file paths in
the config repo).

``spec.provider`` is read as text, the default (``default_provider``, the
controller's ``--mesh-provider``) standing in when it is absent; whether a
router exists for it, and whether that router can act on every routing field,
is the router factory's check (:func:`gitflagger.render.routers.check_routing`).

A field that is not in the Canary schema (a typo such as
``spec.analysis.stepWeigth``) is refused by its path
(:mod:`gitflagger.model.known_fields`): a file keeps what the API server would
have pruned, and parsing it as absent would render another rollout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.bounds import check_bounds
from gitflagger.model.canary import (
    DAEMONSET,
    DEFAULT_PROGRESS_DEADLINE_SECONDS,
    DEFAULT_PROVIDER,
    HPA,
    KEDA_API_VERSION,
    SCALED_OBJECT,
    TARGET_KINDS,
    V1ALPHA3,
    V1BETA1,
    AutoscalerRef,
    Canary,
    CanarySpec,
    ObjectMetadata,
    ObjectRef,
    ScalerReplicas,
    ServiceSpec,
    UnmanagedMetadata,
)
from gitflagger.model.documents import load_yaml_text
from gitflagger.model.fields import Problems, describe, join
from gitflagger.model.known_fields import refuse_unknown
from gitflagger.model.parse_analysis import parse_analysis
from gitflagger.model.refused import refuse_unsupported

API_VERSIONS = (V1BETA1, V1ALPHA3)


def parse_canary(
    doc: object, *, default_namespace: str = "default", default_provider: str = DEFAULT_PROVIDER
) -> Canary:
    """Validate a decoded Canary (v1beta1 or v1alpha3) and return it with Flagger's defaults.

    ``default_namespace`` stands in for a missing ``metadata.namespace``, as
    kubectl's current namespace does, and ``default_provider`` for a missing
    ``spec.provider``. Every problem found is reported at once.

    Raises:
        ValidationError: listing each invalid field by its path in the document,
            e.g. ``spec.analysis.stepWeight: must be between 1 and 100, got 0``.
    """
    if not isinstance(doc, Mapping):
        raise ValidationError(
            [FieldProblem("(document)", f"must be a Canary mapping, got {describe(doc)}")], subject="Canary"
        )
    p = Problems()
    # Pass-through blocks are copied as they are: refuse, before anything walks them, one that
    # nests too deep or is too large (bounds.py); the rest of the parse reads them only shallowly.
    bound = check_bounds(doc)
    if bound is not None:
        p.items.append(bound)
    refuse_unknown(p, doc)
    api_version = p.string(doc, "apiVersion", "", required=True)
    if api_version is not None and api_version not in API_VERSIONS:
        p.add("apiVersion", f"unsupported {describe(api_version)}, expected {V1BETA1} or {V1ALPHA3}")
    kind = p.string(doc, "kind", "", required=True)
    if kind is not None and kind != "Canary":
        p.add("kind", f"must be Canary, got {describe(kind)}")

    meta = p.mapping(doc, "metadata", "", required=True)
    name = p.name(meta, "name", "metadata", required=True) if meta is not None else None
    meta = meta or {}
    namespace = p.name(meta, "namespace", "metadata") or default_namespace
    uid = p.string(meta, "uid", "metadata") or ""
    generation = p.integer(meta, "generation", "metadata", lo=0) or 0
    labels = p.string_map(meta, "labels", "metadata")
    annotations = p.string_map(meta, "annotations", "metadata")

    spec_doc = p.mapping(doc, "spec", "", required=True)
    spec = _spec(p, spec_doc, default_provider) if spec_doc is not None else None

    subject = f"Canary {namespace}/{name}" if name else "Canary"
    if p.items or spec is None or name is None or api_version is None:
        raise ValidationError(p.items, subject=subject)
    return Canary(
        api_version=api_version,
        name=name,
        namespace=namespace,
        spec=spec,
        uid=uid,
        generation=generation,
        labels=labels,
        annotations=annotations,
        raw=dict(doc),
    )


def _spec(p: Problems, spec: Mapping[str, Any], default_provider: str) -> CanarySpec | None:
    path = "spec"
    provider = p.string(spec, "provider", path) or default_provider
    target = _target_ref(p, spec, path)
    autoscaler = _autoscaler_ref(p, spec, path)
    scaler_replicas = _scaler_replicas(p, spec, path)
    service = _service(p, spec, path)
    analysis = parse_analysis(p, spec, path)
    deadline = p.integer(spec, "progressDeadlineSeconds", path, lo=1)
    metrics_server = p.string(spec, "metricsServer", path) or None
    skip = p.boolean(spec, "skipAnalysis", path) or False
    suspend = p.boolean(spec, "suspend", path) or False
    revert = p.boolean(spec, "revertOnDeletion", path) or False
    _check_target_support(p, spec, target)
    refuse_unsupported(p, spec)
    if target is None or service is None or analysis is None:
        return None
    return CanarySpec(
        target_ref=target,
        service=service,
        analysis=analysis,
        autoscaler_ref=autoscaler,
        primary_scaler_replicas=scaler_replicas,
        progress_deadline_seconds=deadline if deadline is not None else DEFAULT_PROGRESS_DEADLINE_SECONDS,
        skip_analysis=skip,
        suspend=suspend,
        revert_on_deletion=revert,
        metrics_server=metrics_server,
        provider=provider,
    )


def _target_ref(p: Problems, spec: Mapping[str, Any], path: str) -> ObjectRef | None:
    ref = p.mapping(spec, "targetRef", path, required=True)
    if ref is None:
        return None
    path = join(path, "targetRef")
    api_version = p.string(ref, "apiVersion", path) or "apps/v1"
    kind = p.string(ref, "kind", path, required=True)
    name = p.name(ref, "name", path, required=True)
    if api_version != "apps/v1":
        p.add(join(path, "apiVersion"), f"must be apps/v1, got {describe(api_version)}")
    if kind is not None and kind not in TARGET_KINDS:
        p.add(
            join(path, "kind"),
            f"unsupported {describe(kind)}: gitflagger rolls out a Deployment or a DaemonSet",
        )
    if kind is None or name is None or p.under(path):
        return None
    return ObjectRef(api_version=api_version, kind=kind, name=name)


def _autoscaler_ref(p: Problems, spec: Mapping[str, Any], path: str) -> AutoscalerRef | None:
    ref = p.mapping(spec, "autoscalerRef", path)
    if ref is None:
        return None
    path = join(path, "autoscalerRef")
    kind = p.string(ref, "kind", path, required=True)
    name = p.name(ref, "name", path, required=True)
    keda = kind == SCALED_OBJECT
    api_version = p.string(ref, "apiVersion", path) or (KEDA_API_VERSION if keda else "autoscaling/v2")
    if kind is not None and kind not in (HPA, SCALED_OBJECT):
        p.add(
            join(path, "kind"),
            f"unsupported {describe(kind)}: use HorizontalPodAutoscaler or a KEDA ScaledObject",
        )
    elif keda and api_version != KEDA_API_VERSION:
        p.add(join(path, "apiVersion"), f"must be {KEDA_API_VERSION}, got {describe(api_version)}")
    elif not keda and not api_version.startswith("autoscaling/"):
        p.add(join(path, "apiVersion"), f"must be autoscaling/v2, got {describe(api_version)}")
    queries = p.string_map(ref, "primaryScalerQueries", path)
    if ref.get("primaryScalerQueries") == {} and kind != HPA:
        # Flagger reads an explicitly empty map as "rewrite no query": the primary
        # would scale on the target's queries. That is almost always a mistake,
        # and reading it as absent would rewrite them without a word; so say so.
        p.add(
            join(path, "primaryScalerQueries"),
            "is empty: name a trigger and its query, or remove the field to point every query at the primary",
        )
    if queries and kind == HPA:
        p.add(
            join(path, "primaryScalerQueries"),
            "is for a KEDA ScaledObject's triggers; a HorizontalPodAutoscaler has no queries",
        )
    if kind is None or name is None or p.under(path):
        return None
    return AutoscalerRef(
        api_version=KEDA_API_VERSION if keda else "autoscaling/v2",
        kind=kind,
        name=name,
        primary_scaler_queries=queries,
    )


def _check_target_support(p: Problems, spec: Mapping[str, Any], target: ObjectRef | None) -> None:
    """What a DaemonSet target cannot do, refused by path rather than ignored.

    A DaemonSet runs one pod per node and has no scale subresource, so no
    autoscaler can scale it.
    """
    daemonset = target is not None and target.kind == DAEMONSET
    if daemonset and spec.get("autoscalerRef"):
        p.add("spec.autoscalerRef", "a DaemonSet runs one pod per node and cannot be autoscaled; remove it")


def _scaler_replicas(p: Problems, spec: Mapping[str, Any], path: str) -> ScalerReplicas | None:
    """``autoscalerRef.primaryScalerReplicas``: either bound may be left to the target's autoscaler."""
    ref = spec.get("autoscalerRef")
    path = join(path, "autoscalerRef")
    block = p.mapping(ref, "primaryScalerReplicas", path) if isinstance(ref, Mapping) else None
    if block is None:
        return None
    path = join(path, "primaryScalerReplicas")
    low = p.integer(block, "minReplicas", path, lo=1)
    high = p.integer(block, "maxReplicas", path, lo=1)
    if low is not None and high is not None and low > high:
        p.add(join(path, "minReplicas"), f"must not be greater than maxReplicas ({high}), got {low}")
    return ScalerReplicas(min_replicas=low, max_replicas=high) if low or high else None


def _unmanaged(p: Problems, svc: Mapping[str, Any], path: str) -> UnmanagedMetadata | None:
    """``service.unmanagedMetadata``; a key the Canary also sets on a Service is a contradiction."""
    block = p.mapping(svc, "unmanagedMetadata", path)
    if block is None:
        return None
    own = join(path, "unmanagedMetadata")
    out = UnmanagedMetadata(
        labels=p.strings(block, "labels", own), annotations=p.strings(block, "annotations", own)
    )
    for field in ("labels", "annotations"):
        for i, key in enumerate(getattr(out, field)):
            for owner in ("apex", "primary", "canary"):
                given = svc.get(owner)
                values = given.get(field) if isinstance(given, Mapping) else None
                if isinstance(values, Mapping) and key in values:
                    setter = join(join(path, owner), field)
                    p.add(
                        join(join(own, field), i),
                        f"{describe(key)} is also set by {setter}; "
                        "gitflagger cannot both write it and leave it alone",
                    )
    return out if out.labels or out.annotations else None


def _metadata(p: Problems, obj: Mapping[str, Any], key: str, path: str) -> ObjectMetadata | None:
    block = p.mapping(obj, key, path)
    if block is None:
        return None
    path = join(path, key)
    return ObjectMetadata(
        labels=p.string_map(block, "labels", path), annotations=p.string_map(block, "annotations", path)
    )


def _service(p: Problems, spec: Mapping[str, Any], path: str) -> ServiceSpec | None:
    svc = p.mapping(spec, "service", path, required=True)
    if svc is None:
        return None
    path = join(path, "service")
    port = p.integer(svc, "port", path, lo=1, hi=65535, required=True)
    target_port: int | str | None = None
    raw_target = svc.get("targetPort")
    if isinstance(raw_target, str) and raw_target:
        target_port = raw_target
    elif raw_target is not None:
        target_port = p.integer(svc, "targetPort", path, lo=1, hi=65535)
    timeout = p.duration(svc, "timeout", path)
    backend_timeout = p.duration(svc, "backendTimeout", path)
    match = tuple(m for _, m in p.mappings_of(svc, "match", path))
    if svc.get("mirror"):
        p.add(join(path, "mirror"), "extra mirror backends are not rendered; use analysis.mirror")
    result = ServiceSpec(
        port=port or 0,
        name=p.name(svc, "name", path) or None,
        port_name=p.string(svc, "portName", path) or "http",
        target_port=target_port,
        port_discovery=p.boolean(svc, "portDiscovery", path) or False,
        gateways=p.strings(svc, "gateways", path),
        hosts=p.strings(svc, "hosts", path),
        traffic_policy=p.json_block(svc, "trafficPolicy", path),
        match=match,
        retries=p.json_block(svc, "retries", path),
        headers=p.json_block(svc, "headers", path),
        cors_policy=p.json_block(svc, "corsPolicy", path),
        timeout=timeout.text if timeout else None,
        rewrite=p.json_block(svc, "rewrite", path),
        gateway_refs=tuple(m for _, m in p.mappings_of(svc, "gatewayRefs", path)),
        backend_timeout=backend_timeout.text if backend_timeout else None,
        apex=_metadata(p, svc, "apex", path),
        primary=_metadata(p, svc, "primary", path),
        canary=_metadata(p, svc, "canary", path),
        app_protocol=p.string(svc, "appProtocol", path) or None,
        traffic_distribution=p.string(svc, "trafficDistribution", path) or None,
        headless=p.boolean(svc, "headless", path) or False,
        delegation=p.boolean(svc, "delegation", path) or False,
        unmanaged_metadata=_unmanaged(p, svc, path),
    )
    return None if port is None else result


def parse_canary_yaml(text: str, *, source: str = "<string>", default_namespace: str = "default") -> Canary:
    """Parse YAML text holding exactly one Canary document (a file, a ``kubectl get -o yaml``)."""
    docs = load_yaml_text(text, source=source)
    if len(docs) != 1:
        raise ValidationError(
            [FieldProblem(source, f"expected exactly one Canary document, found {len(docs)}")], subject="YAML"
        )
    return parse_canary(docs[0], default_namespace=default_namespace)
