"""Every event text the decision core emits, in one place.

Flagger users have alerts, dashboards and habits built on these exact strings,
so each one is Flagger's ``fmt`` template rendered the way Go renders it. The
comment above each function names where Flagger emits it. Two details matter:

- Flagger names the canary ``{name}.{namespace}`` in some texts and the target
  ``{targetRef.name}.{namespace}`` in others; :class:`Names` keeps both.
- Go prints a ``float64`` with ``%v`` as its shortest round-trip form
  (``99``, ``99.5``, ``1e+06``): :func:`go_float` does the same, so a
  threshold of ``99`` never shows up as ``99.0``.

Each text comes with an :class:`~gitflagger.decide.events.EventKind` and a
severity; alerts, metrics and webhook event types use those, so a text here is
free to change (``tests/unit/engine/test_event_kinds.py`` rewrites them all).

The few texts with no Flagger counterpart (manual intents, a gate without a
result) are marked *gitflagger*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from gitflagger.decide.events import Event, Severity
from gitflagger.decide.events import EventKind as K
from gitflagger.model.canary import Canary
from gitflagger.model.durations import format_go


@dataclass(frozen=True)
class Names:
    """The three ways Flagger's texts name things, for one Canary."""

    canary: str
    """``podinfo.test``: the Canary's name and namespace (``cd.Name``)."""
    target: str
    """``podinfo.test``: the target's name and namespace (``cd.Spec.TargetRef.Name``)."""
    primary: str
    """``podinfo-primary.test``."""
    kind: str
    """The target's kind, for the ``Promoted`` condition messages."""

    @classmethod
    def of(cls, canary: Canary) -> Names:
        ns = canary.namespace
        return cls(
            canary=f"{canary.name}.{ns}",
            target=f"{canary.target_name}.{ns}",
            primary=f"{canary.primary_name}.{ns}",
            kind=canary.spec.target_ref.kind or "Deployment",
        )


def info(kind: K, message: str) -> Event:
    return Event(kind, Severity.INFO, message)


def warning(kind: K, message: str) -> Event:
    return Event(kind, Severity.WARN, message)


def error(kind: K, message: str) -> Event:
    """A rollback: Flagger alerts on it at ``error``."""
    return Event(kind, Severity.ERROR, message)


def go_float(value: float) -> str:
    """Print a float the way Go's ``fmt`` prints ``%v`` of a ``float64``.

    That is ``strconv.FormatFloat(v, 'g', -1, 64)``: the shortest digits that
    round-trip, in exponent form when the decimal exponent is below -4 or at
    least 6 (Python's ``repr`` switches at 16, hence this function).

    >>> go_float(99.0), go_float(99.5), go_float(0.5), go_float(500.0), go_float(1e6), go_float(1.5e-5)
    ('99', '99.5', '0.5', '500', '1e+06', '1.5e-05')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # digits[:point] is the integer part
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:  # strconv: shortest %g uses an exponent threshold of 6
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


# --- initialization (scheduler.go setPhaseInitialized) ---------------------------------


def providers_unavailable(reason: str) -> Event:
    """scheduler.go advanceCanary → checkMetricProviderAvailability's first failure, recorded by
    Flagger with ``recordEventErrorf`` (a Warning). Its Normal "all the metrics providers are
    available!" is not recorded here: one more Event on every initializing pass, saying nothing."""
    return warning(K.PROVIDERS, f"Error checking metric providers: {reason}")


def initialization_done(n: Names) -> Event:
    return info(K.INITIALIZED, f"Initialization done! {n.canary}")


# --- new revision (scheduler.go checkCanaryStatus, hasCanaryRevisionChanged) -------------


def new_revision(n: Names) -> Event:
    return info(K.NEW_REVISION, f"New revision detected! Scaling up {n.target}")


def revision_restart(n: Names) -> Event:
    return info(K.NEW_REVISION, f"New revision detected! Restarting analysis for {n.target}")


def manual_retry(n: Names) -> Event:
    """*gitflagger*: ``gitflagger retry`` on a Failed canary, worded like :func:`new_revision`."""
    return info(K.RETRY, f"Manual retry! Scaling up {n.target}")


# --- gates (scheduler_hooks.go) ------------------------------------------------------------


def waiting_for_approval(n: Names, webhook: str, muted: bool = False) -> Event:
    """``muted``: the gate's ``muteAlert``; the Event is recorded, the alert is not sent."""
    text = f"Halt {n.canary} advancement waiting for approval {webhook}"
    return Event(K.WAITING_APPROVAL, Severity.WARN, text, muted=muted)


def confirm_rollout_passed(webhook: str) -> Event:
    return info(K.GATE_PASSED, f"Confirm-rollout check {webhook} passed")


def pre_rollout_failed(n: Names, webhook: str, error: str) -> Event:
    return warning(K.GATE_FAILED, f"Halt {n.canary} advancement pre-rollout check {webhook} failed {error}")


def pre_rollout_passed(webhook: str) -> Event:
    return info(K.GATE_PASSED, f"Pre-rollout check {webhook} passed")


def rollout_hook_failed(n: Names, webhook: str, error: str) -> Event:
    """scheduler.go ``runAnalysis``: a ``rollout`` webhook is an external check."""
    return warning(K.GATE_FAILED, f"Halt {n.canary} advancement external check {webhook} failed {error}")


def waiting_for_traffic_increase(n: Names, webhook: str, muted: bool = False) -> Event:
    text = f"Halt {n.canary} advancement waiting for traffic increase approval {webhook}"
    return Event(K.WAITING_APPROVAL, Severity.WARN, text, muted=muted)


def confirm_traffic_increase_passed(webhook: str) -> Event:
    return info(K.GATE_PASSED, f"Confirm-traffic-increase check {webhook} passed")


def waiting_for_promotion(n: Names, webhook: str, muted: bool = False) -> Event:
    text = f"Halt {n.canary} advancement waiting for promotion approval {webhook}"
    return Event(K.WAITING_APPROVAL, Severity.WARN, text, muted=muted)


def confirm_promotion_passed(webhook: str) -> Event:
    return info(K.GATE_PASSED, f"Confirm-promotion check {webhook} passed")


def rollback_hook_quiet(webhook: str) -> Event:
    return info(K.ROLLBACK_CHECK, f"Rollback hook {webhook} not signaling a rollback")


def rollback_hook_passed(webhook: str) -> Event:
    return warning(K.ROLLBACK_CHECK, f"Rollback check {webhook} passed")


def rollback_hook_missing(n: Names, webhook: str) -> Event:
    """*gitflagger*: the engine did not call a due ``rollback`` webhook; don't guess its answer."""
    return warning(K.ROLLBACK_CHECK, f"Halt {n.canary} advancement rollback check {webhook} has no result")


# --- readiness (canary/deployment_ready.go, scheduler.go) ------------------------------------


def not_ready(n: Names, message: str) -> Event:
    """Flagger's readiness error, worded as Flagger's own older releases did."""
    return warning(K.NOT_READY, f"Halt {n.canary} advancement {message}")


# --- analysis (scheduler.go, scheduler_metrics.go) -----------------------------------------


def starting_analysis(n: Names) -> Event:
    return info(K.ANALYSIS_STARTED, f"Starting canary analysis for {n.target}")


def success_rate_below(n: Names, value: float, bound: float) -> Event:
    return warning(K.HALT, f"Halt {n.canary} advancement success rate {value:.2f}% < {go_float(bound)}%")


def success_rate_above(n: Names, value: float, bound: float) -> Event:
    return warning(K.HALT, f"Halt {n.canary} advancement success rate {value:.2f}% > {go_float(bound)}%")


def duration_below(n: Names, value_ns: int, bound_ns: int) -> Event:
    return warning(
        K.HALT, f"Halt {n.canary} advancement request duration {format_go(value_ns)} < {format_go(bound_ns)}"
    )


def duration_above(n: Names, value_ns: int, bound_ns: int) -> Event:
    return warning(
        K.HALT, f"Halt {n.canary} advancement request duration {format_go(value_ns)} > {format_go(bound_ns)}"
    )


def metric_below(n: Names, metric: str, value: float, bound: float) -> Event:
    return warning(K.HALT, f"Halt {n.canary} advancement {metric} {value:.2f} < {go_float(bound)}")


def metric_above(n: Names, metric: str, value: float, bound: float) -> Event:
    return warning(K.HALT, f"Halt {n.canary} advancement {metric} {value:.2f} > {go_float(bound)}")


def builtin_no_values(n: Names, provider: str, metric: str) -> Event:
    return warning(
        K.METRIC_ERROR,
        f"Halt advancement no values found for {provider} metric {metric} "
        f"probably {n.target} is not receiving traffic",
    )


def builtin_query_failed(error: str) -> Event:
    return warning(K.METRIC_ERROR, f"Prometheus query failed: {error}")


def inline_no_values(metric: str) -> Event:
    return warning(K.METRIC_ERROR, f"Halt advancement no values found for metric: {metric}")


def inline_query_failed(metric: str, error: str) -> Event:
    return warning(K.METRIC_ERROR, f"Prometheus query failed for {metric}: {error}")


def custom_no_values(metric: str, error: str) -> Event:
    return warning(K.METRIC_ERROR, f"Halt advancement no values found for custom metric: {metric}: {error}")


def custom_query_failed(metric: str, error: str) -> Event:
    return warning(K.METRIC_ERROR, f"Metric query failed for {metric}: {error}")


# --- traffic (scheduler.go runCanary, runAB, runBlueGreen, runPromotionTrafficShift) --------


def advance_weight(n: Names, weight: int) -> Event:
    return info(K.ADVANCE, f"Advance {n.canary} canary weight {weight}")


def advance_iteration(n: Names, iteration: int, total: int) -> Event:
    return info(K.ADVANCE, f"Advance {n.canary} canary iteration {iteration}/{total}")


def route_all_to_canary(mirror: bool) -> Event:
    if mirror:
        return info(K.ADVANCE, "Stop traffic mirroring and route all traffic to canary")
    return info(K.ADVANCE, "Routing all traffic to canary")


def advance_primary_weight(n: Names, weight: int) -> Event:
    return info(K.ADVANCE, f"Advance {n.canary} primary weight {weight}")


def route_all_to_primary() -> Event:
    return info(K.ROUTE_TO_PRIMARY, "Routing all traffic to primary")


# --- promotion -------------------------------------------------------------------------------


def copying_spec(n: Names) -> Event:
    return info(K.PROMOTE, f"Copying {n.target} template spec to {n.primary}")


def manual_promotion(n: Names) -> Event:
    """*gitflagger*: ``gitflagger promote``, before Flagger's usual promotion texts."""
    return info(K.INTENT, f"Manual promotion requested for {n.canary}")


def promotion_completed(n: Names) -> Event:
    return info(K.PROMOTED, f"Promotion completed! Scaling down {n.target}")


def promotion_skipped_analysis(n: Names) -> Event:
    return info(K.PROMOTED, f"Promotion completed! Canary analysis was skipped for {n.target}")


# --- rollback (scheduler.go rollback, advanceCanary) -----------------------------------------


def threshold_reached(n: Names, failed_checks: int) -> Event:
    return error(K.ROLLBACK, f"Rolling back {n.canary} failed checks threshold reached {failed_checks}")


def deadline_exceeded(n: Names, reason: str) -> Event:
    return error(K.ROLLBACK, f"Rolling back {n.canary} progress deadline exceeded {reason}")


def rollback_webhook(n: Names) -> Event:
    return error(K.ROLLBACK, f"Rolling back {n.canary} manual webhook invoked")


def manual_abort(n: Names) -> Event:
    """*gitflagger*: ``gitflagger abort``, worded like :func:`rollback_webhook`."""
    return error(K.ROLLBACK, f"Rolling back {n.canary} manual abort requested")


def canary_failed(n: Names) -> Event:
    return error(K.FAILED, f"Canary failed! Scaling down {n.canary}")


def intent_ignored(n: Names, intent: str, reason: str) -> Event:
    """*gitflagger*: a manual intent that does not apply in the current phase."""
    return info(K.INTENT, f"Manual {intent} ignored for {n.canary}: {reason}")


# --- the Promoted condition (canary/status.go MakeStatusConditions) --------------------------


def condition_message(phase: str, kind: str) -> tuple[str, str]:
    """``(status, message)`` of the ``Promoted`` condition for a phase, as Flagger writes it."""
    table = {
        "Initializing": ("Unknown", f"New {kind} detected, starting initialization."),
        "Initialized": ("True", f"{kind} initialization completed."),
        "Waiting": ("Unknown", "Waiting for approval."),
        "WaitingPromotion": ("Unknown", "Waiting for approval."),
        "Progressing": ("Unknown", "New revision detected, progressing canary analysis."),
        "Promoting": ("Unknown", "Canary analysis completed, starting primary rolling update."),
        "Finalising": ("Unknown", "Canary analysis completed, routing all traffic to primary."),
        "Succeeded": ("True", "Canary analysis completed successfully, promotion finished."),
        "Failed": ("False", f"Canary analysis failed, {kind} scaled to zero."),
    }
    return table.get(phase, ("Unknown", f"New {kind} detected, starting initialization."))
