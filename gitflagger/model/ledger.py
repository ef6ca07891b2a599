"""The field ledger: every leaf of Flagger's Canary, MetricTemplate and AlertProvider, acted on or refused.

A Flagger user's document must either do here what it did on Flagger, or be
refused with an error naming the field. This module is the one place that
says which, leaf by leaf, for the shipped CRDs (``deploy/crds``):

* :class:`Implemented` names the test that shows the field acted on
  (``path/to/test_file.py::test_name``), and, where gitflagger differs from
  Flagger, says how (``differs``), or which value is still refused
  (``refused_value``);
* :class:`Refused` marks a field the parser refuses by its path, with the
  reason in the error (:mod:`gitflagger.model.refused` and the parser's own
  checks say why; the ledger does not repeat it).

Moving a field from refused to implemented is a one-line change here (and the
removal of its entry in :mod:`gitflagger.model.refused`).
``tests/unit/model/test_field_ledger.py`` walks the CRDs and fails on a leaf
that is in neither list, on a named test that does not exist, and on a
refused leaf the parser accepts; the README's list of refused fields is
generated from this ledger (``make ledger-readme``).

Paths are the CRD's, with ``[]`` after a list: ``spec.analysis.webhooks[].url``.
``spec.canaryAnalysis`` (``flagger.app/v1alpha3``'s name for ``spec.analysis``,
served by both versions) is looked up under ``spec.analysis``. A leaf that the
schema leaves open (an Istio pass-through block such as ``service.trafficPolicy``,
a map such as ``templateVariables``) is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Implemented:
    """Acted on as Flagger acts on it; ``test`` shows it."""

    test: str
    differs: str = ""
    """How gitflagger differs from Flagger for this field (shown in the README), if it does."""
    refused_value: Any = None
    """A value of this field that is still refused (e.g. a ``targetRef.kind`` not supported yet)."""


@dataclass(frozen=True)
class Refused:
    """Refused by path when set (``null``, ``false``, ``""`` and empty values are Flagger's default)."""


Entry = Implemented | Refused
REFUSED = Refused()

_T = "tests/unit/"
_PARSE = _T + "model/test_parse.py::test_tutorial_canary_fields"
_ROUTER = _T + "render/test_router.py::"
_WALKS = _T + "decide/test_walks.py::"
_BLOCKS = _ROUTER + "test_service_blocks_are_copied_into_the_route"
_HOOKS = "tests/integration/test_webhooks.py::"
_STICKY = _ROUTER + "test_sticky_route_sends_cookie_holders_to_the_canary"
_ROUTED = "tests/integration/test_routed_rollouts.py::"
"""Rollouts on the testbed whose requests the mesh simulator routes by the live VirtualService."""
_MODES = _T + "render/test_router_istio_modes.py::"
_COOKIE = _MODES + "test_set_cookie_carries_flaggers_attributes_in_its_order"
_LIVE = "tests/integration/test_istio_modes_live.py::test_delegate_and_tcp_virtual_services_live"

CANARY: dict[str, Entry] = {
    "spec.provider": Implemented(
        _T + "render/test_routers.py::test_an_unknown_provider_is_a_validation_error_naming_spec_provider",
        refused_value="linkerd",
    ),
    "spec.metricsServer": Implemented(
        "tests/integration/test_analysis_e2e.py::test_no_metric_evidence_never_promotes_and_the_controller_keeps_going"
    ),
    "spec.progressDeadlineSeconds": Implemented(
        _ROUTED + "test_a_canary_that_never_becomes_available_is_rolled_back_at_the_progress_deadline"
    ),
    "spec.targetRef.apiVersion": Implemented(_PARSE),
    "spec.targetRef.kind": Implemented(
        "tests/integration/test_targets_e2e.py::test_a_daemonset_target_promotes_on_the_testbed",
        refused_value="StatefulSet",
    ),
    "spec.targetRef.name": Implemented(_T + "render/test_render.py::test_manifests_come_in_apply_order"),
    "spec.autoscalerRef.apiVersion": Implemented(_PARSE),
    "spec.autoscalerRef.kind": Implemented(
        "tests/integration/test_targets_e2e.py::test_a_deployment_with_a_scaledobject_promotes_on_the_testbed",
        refused_value="VerticalPodAutoscaler",
    ),
    "spec.autoscalerRef.name": Implemented(
        _T + "render/test_workload.py::test_primary_hpa_scales_the_primary"
    ),
    "spec.autoscalerRef.primaryScalerQueries": Implemented(
        _T + "render/test_targets_render.py::"
        "test_the_primary_scaledobject_scales_the_primary_with_the_given_query",
        differs="an entry naming no trigger of the ScaledObject is refused by its path, which Flagger skips; "
        "an empty map is refused, which Flagger reads as rewriting no query; "
        "refused on an HPA, which has no queries",
    ),
    "spec.autoscalerRef.primaryScalerReplicas.minReplicas": Implemented(_LIVE),
    "spec.autoscalerRef.primaryScalerReplicas.maxReplicas": Implemented(_LIVE),
    "spec.ingressRef.apiVersion": REFUSED,
    "spec.ingressRef.kind": REFUSED,
    "spec.ingressRef.name": REFUSED,
    "spec.ingressRef.namespace": REFUSED,
    "spec.routeRef.apiVersion": REFUSED,
    "spec.routeRef.kind": REFUSED,
    "spec.routeRef.name": REFUSED,
    "spec.routeRef.namespace": REFUSED,
    "spec.upstreamRef.apiVersion": REFUSED,
    "spec.upstreamRef.kind": REFUSED,
    "spec.upstreamRef.name": REFUSED,
    "spec.upstreamRef.namespace": REFUSED,
    "spec.service.name": Implemented(
        _T + "render/test_ledger_fields.py::test_service_name_names_the_generated_objects"
    ),
    "spec.service.port": Implemented(_ROUTER + "test_service_port_name_and_target_port"),
    "spec.service.portName": Implemented(_ROUTER + "test_service_port_name_and_target_port"),
    "spec.service.targetPort": Implemented(_ROUTER + "test_service_port_name_and_target_port"),
    "spec.service.portDiscovery": Implemented(
        _ROUTER + "test_port_discovery_adds_container_ports_and_pins_the_destination_port"
    ),
    "spec.service.appProtocol": Implemented(
        _MODES + "test_tcp_weights_are_read_back_from_the_tcp_route",
        differs="with `tcp`, every HTTP route field is refused, where Flagger drops it, and so are "
        "the built-in metrics (they read HTTP request metrics)",
    ),
    "spec.service.trafficDistribution": Implemented(_LIVE),
    "spec.service.headless": Implemented(_LIVE),
    "spec.service.timeout": Implemented(_BLOCKS),
    "spec.service.backendTimeout": Implemented(
        _T + "render/test_router_gatewayapi.py::test_matches_headers_and_timeouts_are_translated",
        differs="refused with `istio`, which Flagger ignores",
    ),
    "spec.service.meshName": REFUSED,
    "spec.service.backends[]": REFUSED,
    "spec.service.delegation": Implemented(
        _MODES + "test_a_delegate_has_no_hosts_nor_gateways_and_pins_no_port_without_discovery",
        differs="a delegate with `service.hosts` or `gateways` is refused (Flagger fails its reconcile), "
        "and so is a TCP delegate (Istio delegates HTTP routes only)",
    ),
    "spec.service.gateways[]": Implemented(
        _ROUTER + "test_hosts_and_gateways", differs="refused with `gatewayapi`, which Flagger ignores"
    ),
    "spec.service.hosts[]": Implemented(_ROUTER + "test_hosts_and_gateways"),
    "spec.service.match[]": Implemented(_BLOCKS),
    "spec.service.retries": Implemented(_BLOCKS, differs="refused with `gatewayapi`, which Flagger ignores"),
    "spec.service.headers": Implemented(_BLOCKS),
    "spec.service.corsPolicy": Implemented(_BLOCKS, differs="refused with `gatewayapi` (not translated yet)"),
    "spec.service.rewrite": Implemented(_BLOCKS, differs="refused with `gatewayapi` (not translated yet)"),
    "spec.service.trafficPolicy": Implemented(
        _ROUTER + "test_destination_rules_carry_the_traffic_policy",
        differs="refused with `gatewayapi`, which Flagger ignores",
    ),
    "spec.service.mirror[]": REFUSED,
    "spec.service.gatewayRefs[]": Implemented(
        _T + "cli/test_simulate_gatewayapi.py::test_mesh_provider_routes_a_canary_that_names_none",
        differs="refused with `istio`, which Flagger ignores",
    ),
    "spec.service.apex.labels": Implemented(_ROUTER + "test_service_metadata_from_apex_primary_and_canary"),
    "spec.service.apex.annotations": Implemented(
        _ROUTER + "test_service_metadata_from_apex_primary_and_canary"
    ),
    "spec.service.primary.labels": Implemented(
        _ROUTER + "test_service_metadata_from_apex_primary_and_canary"
    ),
    "spec.service.primary.annotations": Implemented(
        _ROUTER + "test_service_metadata_from_apex_primary_and_canary"
    ),
    "spec.service.canary.labels": Implemented(_ROUTER + "test_service_metadata_from_apex_primary_and_canary"),
    "spec.service.canary.annotations": Implemented(
        _ROUTER + "test_service_metadata_from_apex_primary_and_canary"
    ),
    "spec.service.unmanagedMetadata.labels[]": Implemented(
        "tests/integration/test_istio_modes_live.py::test_an_unmanaged_label_keeps_another_writers_value",
        differs="the keys are never written, not even at creation (Flagger writes them once)",
    ),
    "spec.service.unmanagedMetadata.annotations[]": Implemented(
        _MODES + "test_unmanaged_keys_are_left_out_of_every_generated_service"
    ),
    "spec.skipAnalysis": Implemented(_WALKS + "test_skip_analysis_walk"),
    "spec.suspend": Implemented(_T + "decide/test_rules.py::test_rule"),
    "spec.revertOnDeletion": Implemented(
        "tests/integration/test_revert_on_deletion.py::"
        "test_deleting_a_canary_mid_rollout_gives_the_workload_back",
        differs="the apex Service and the route are kept, owned by no one, all traffic to the target; "
        "Flagger restores those it took over and lets garbage collection delete those it created",
    ),
    "spec.analysis.interval": Implemented(
        _T + "engine/test_reconcile_controller.py::test_a_step_is_due_one_interval_after_the_last",
        differs="an unparseable duration is refused (Flagger uses 60s)",
    ),
    "spec.analysis.threshold": Implemented(_WALKS + "test_rollback_walk_threshold_5"),
    "spec.analysis.iterations": Implemented(
        _ROUTED + "test_blue_green_tests_the_idle_canary_then_switches_everyone"
    ),
    "spec.analysis.maxWeight": Implemented(
        _WALKS + "test_fresh_canary_then_first_release_stepweight_10_maxweight_50",
        differs="the weight stops at `maxWeight`; Flagger overshoots it",
    ),
    "spec.analysis.stepWeight": Implemented(
        _WALKS + "test_fresh_canary_then_first_release_stepweight_10_maxweight_50"
    ),
    "spec.analysis.stepWeights[]": Implemented(_WALKS + "test_step_weights_walk"),
    "spec.analysis.stepWeightPromotion": Implemented(_WALKS + "test_step_weight_promotion_walk"),
    "spec.analysis.mirror": Implemented(
        _ROUTED + "test_mirroring_gives_the_canary_copies_and_users_the_primary"
    ),
    "spec.analysis.mirrorWeight": Implemented(_ROUTER + "test_mirroring"),
    "spec.analysis.primaryReadyThreshold": Implemented(
        _T + "render/test_ledger_fields.py::test_ready_thresholds_gate_the_step"
    ),
    "spec.analysis.canaryReadyThreshold": Implemented(
        _T + "render/test_ledger_fields.py::test_ready_thresholds_gate_the_step"
    ),
    "spec.analysis.match[]": Implemented(_ROUTED + "test_ab_only_matched_requests_reach_the_canary"),
    "spec.analysis.metrics[].name": Implemented(
        "tests/integration/test_prometheus_provider.py::test_sends_flaggers_exact_builtin_query_as_a_get"
    ),
    "spec.analysis.metrics[].interval": Implemented(
        "tests/integration/test_prometheus_provider.py::test_sends_flaggers_exact_builtin_query_as_a_get"
    ),
    "spec.analysis.metrics[].threshold": Implemented(
        _T + "model/test_parse.py::test_v1alpha3_and_v1beta1_fixtures_parse_to_the_same_canary"
    ),
    "spec.analysis.metrics[].thresholdRange.min": Implemented(_WALKS + "test_rollback_walk_threshold_5"),
    "spec.analysis.metrics[].thresholdRange.max": Implemented(
        "tests/integration/test_analysis_e2e.py::"
        "test_real_prometheus_data_promotes_a_good_release_and_rolls_back_a_bad_one_with_a_metric_template"
    ),
    "spec.analysis.metrics[].query": Implemented(
        "tests/integration/test_prometheus_provider.py::test_evaluate_routes_each_kind_of_metric"
    ),
    "spec.analysis.metrics[].templateRef.name": Implemented(
        _T + "engine/test_reconcile_errors.py::test_a_missing_metric_template_is_a_failed_check_naming_it"
    ),
    "spec.analysis.metrics[].templateRef.namespace": Implemented(
        _T + "cli/test_flagger_flags.py::test_cross_namespace_refs_are_refused_naming_each_field"
    ),
    "spec.analysis.metrics[].templateVariables": Implemented(
        "tests/integration/test_keptn_provider.py::test_metrics_check_reads_template_and_variables_from_the_cluster"
    ),
    "spec.analysis.webhooks[].name": Implemented(_HOOKS + "test_posts_flaggers_payload"),
    "spec.analysis.webhooks[].type": Implemented(_WALKS + "test_confirm_gates_walk"),
    "spec.analysis.webhooks[].url": Implemented(
        _HOOKS + "test_any_2xx_passes", differs="a gate passes on any 2xx; Flagger fails 203-299"
    ),
    "spec.analysis.webhooks[].timeout": Implemented(_HOOKS + "test_a_slow_hook_times_out_on_every_attempt"),
    "spec.analysis.webhooks[].retries": Implemented(_HOOKS + "test_retries_until_the_hook_recovers"),
    "spec.analysis.webhooks[].disableTLS": Implemented(_HOOKS + "test_disable_tls"),
    "spec.analysis.webhooks[].muteAlert": Implemented(
        _T + "engine/test_mute_alert.py::test_a_muted_gate_records_its_event_but_sends_no_alert"
    ),
    "spec.analysis.webhooks[].metadata": Implemented(_HOOKS + "test_posts_flaggers_payload"),
    "spec.analysis.alerts[].name": Implemented(
        _T
        + "engine/test_reconcile_errors.py::"
        "test_alerts_go_to_their_provider_and_a_missing_provider_is_only_logged"
    ),
    "spec.analysis.alerts[].severity": Implemented(
        _T + "adapters/test_notifier_rules.py::test_should_alert_orders_info_warn_error",
        differs="severity filtering follows Flagger's docs, which its code inverts",
    ),
    "spec.analysis.alerts[].providerRef.name": Implemented(
        _T
        + "engine/test_reconcile_errors.py::"
        "test_alerts_go_to_their_provider_and_a_missing_provider_is_only_logged"
    ),
    "spec.analysis.alerts[].providerRef.namespace": Implemented(
        _T + "cli/test_flagger_flags.py::test_cross_namespace_refs_are_refused_naming_each_field"
    ),
    "spec.analysis.sessionAffinity.cookieName": Implemented(
        _ROUTED + "test_session_affinity_keeps_a_pinned_user_on_the_canary",
        differs="the cookie's value is derived from the Canary's uid and revision, not a random draw; "
        "regex metacharacters are escaped in the `Cookie` match; with `mirror` both routes mirror; "
        "refused with `gatewayapi`",
    ),
    "spec.analysis.sessionAffinity.primaryCookieName": Implemented(
        _T
        + "decide/test_affinity.py::"
        "test_the_primary_cookie_is_drawn_with_the_canary_cookie_and_kept_like_flaggers",
        differs="the primary cookie is drawn again when `primaryCookieName` changes "
        "(Flagger keeps the old one)",
    ),
    "spec.analysis.sessionAffinity.maxAge": Implemented(_STICKY),
    "spec.analysis.sessionAffinity.domain": Implemented(
        _COOKIE, differs="the `Set-Cookie` expiring a previous rollout's cookie carries the attributes too"
    ),
    "spec.analysis.sessionAffinity.path": Implemented(_COOKIE),
    "spec.analysis.sessionAffinity.httpOnly": Implemented(_COOKIE),
    "spec.analysis.sessionAffinity.secure": Implemented(_COOKIE),
    "spec.analysis.sessionAffinity.partitioned": Implemented(_COOKIE),
    "spec.analysis.sessionAffinity.sameSite": Implemented(_COOKIE),
}
"""Every leaf of the Canary's ``spec`` (both served versions)."""

_TEMPLATES = _T + "adapters/test_metric_templates.py::"

METRIC_TEMPLATE: dict[str, Entry] = {
    "spec.provider.type": Implemented(
        _T + "adapters/test_evaluate_errors.py::test_registry_rejects_unknown_types_naming_the_field"
    ),
    "spec.provider.address": Implemented(
        "tests/integration/test_analysis_e2e.py::"
        "test_real_prometheus_data_promotes_a_good_release_and_rolls_back_a_bad_one_with_a_metric_template"
    ),
    "spec.provider.secretRef.name": Implemented(
        "tests/integration/test_prometheus_provider.py::test_bearer_token_and_custom_headers_are_sent"
    ),
    "spec.provider.headers": Implemented(
        "tests/integration/test_prometheus_provider.py::test_bearer_token_and_custom_headers_are_sent"
    ),
    "spec.provider.region": Implemented(
        _TEMPLATES + "test_region_is_parsed_and_an_unknown_provider_field_is_refused"
    ),
    "spec.provider.insecureSkipVerify": Implemented(
        "tests/integration/test_prometheus_provider.py::test_insecure_skip_verify"
    ),
    "spec.query": Implemented(
        "tests/integration/test_prometheus_provider.py::test_evaluate_routes_each_kind_of_metric"
    ),
}
"""Every leaf of a MetricTemplate's ``spec``."""

_NOTIFIERS = "tests/integration/test_notifiers.py::"

ALERT_PROVIDER: dict[str, Entry] = {
    "spec.type": Implemented(_T + "adapters/test_notifier_rules.py::test_notifier_for_each_type"),
    "spec.address": Implemented(_NOTIFIERS + "test_slack_payload"),
    "spec.channel": Implemented(_NOTIFIERS + "test_slack_payload"),
    "spec.username": Implemented(_NOTIFIERS + "test_slack_payload"),
    "spec.proxy": Implemented(_NOTIFIERS + "test_proxy_is_used"),
    "spec.secretRef.name": Implemented(
        _T + "adapters/test_notifier_rules.py::test_defaults_and_secret_overrides"
    ),
}
"""Every leaf of an AlertProvider's ``spec``."""

LEDGERS: dict[str, dict[str, Entry]] = {
    "Canary": CANARY,
    "MetricTemplate": METRIC_TEMPLATE,
    "AlertProvider": ALERT_PROVIDER,
}
"""The ledger of each kind, by the kind's name."""


def entry(kind: str, path: str) -> Entry | None:
    """The ledger entry of ``path`` in a ``kind`` document (``spec.canaryAnalysis`` as ``spec.analysis``)."""
    if path.startswith("spec.canaryAnalysis."):
        path = "spec.analysis." + path.removeprefix("spec.canaryAnalysis.")
    return LEDGERS[kind].get(path)
