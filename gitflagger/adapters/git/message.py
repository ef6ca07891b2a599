"""The commit message of one step: a subject a person reads, a body of evidence, trailers a tool reads.

The format (one blank line between paragraphs; empty sections are left out)::

    podinfo.test: advance canary weight 20

    Events:
    - Advance podinfo.test canary weight 20

    Metrics:
    - request-success-rate: 99.95 (min 99) pass
    - request-duration: 120 (max 500) pass

    Gates:
    - load-test (rollout): pass

    Canary: test/podinfo
    Phase: Progressing
    …trailers, see :mod:`gitflagger.adapters.git.trailers`

The body is *evidence*: why the step went the way it did, so ``git log`` alone
explains a rollback. It carries metric values and gate verdicts, never object
contents, so nothing from a Secret can reach it, and credentials in the texts it
quotes (a webhook's answer, a URL) are redacted (:mod:`gitflagger.model.redact`).
"""

from __future__ import annotations

from collections.abc import Mapping

from gitflagger.adapters.git.trailers import StepTrailers
from gitflagger.decide.observation import MetricOutcome, MetricResult, WebhookResult
from gitflagger.model.canary import Canary, MetricCheck, ThresholdRange
from gitflagger.model.redact import redact_text


def compose_message(
    *,
    subject: str,
    events: tuple[str, ...],
    canary: Canary,
    metrics: Mapping[str, MetricResult],
    webhooks: Mapping[str, WebhookResult],
    trailers: StepTrailers,
) -> str:
    """The whole commit message, ending in a newline like git's own."""
    # Free texts (events, gate answers, query errors) may quote a URL or a webhook's answer
    # holding a credential, so they are redacted; names, numbers and trailers are ours, as written.
    paragraphs = [redact_text(_one_line(subject)) or f"{canary.key}: {trailers.phase.lower()}"]
    if events:
        paragraphs.append("Events:\n" + "\n".join(f"- {redact_text(_one_line(e))}" for e in events))
    checks = {m.name: m for m in canary.spec.analysis.metrics}
    if metrics:
        lines = [_metric_line(result, checks.get(name)) for name, result in sorted(metrics.items())]
        paragraphs.append("Metrics:\n" + "\n".join(lines))
    if webhooks:
        kinds = {w.name: w.type.value for w in canary.spec.analysis.webhooks}
        lines = [_gate_line(result, kinds.get(name, "")) for name, result in sorted(webhooks.items())]
        paragraphs.append("Gates:\n" + "\n".join(lines))
    paragraphs.append(trailers.render())
    return "\n\n".join(paragraphs) + "\n"


def read_metrics(message: str) -> dict[str, str]:
    """The ``Metrics:`` section read back: metric name → what was measured, as written.

    >>> read_metrics("s\\n\\nMetrics:\\n- rate: 99.5 (min 99) pass\\n- p99: no values found (max 5) fail\\n")
    {'rate': '99.5', 'p99': 'no values found'}
    """
    out: dict[str, str] = {}
    for paragraph in message.split("\n\n"):
        if not paragraph.startswith("Metrics:\n"):
            continue
        for line in paragraph.splitlines()[1:]:
            name, sep, rest = line.removeprefix("- ").partition(": ")
            if sep:
                value = rest.rsplit(" (", 1)[0] if " (" in rest else rest.rsplit(" ", 1)[0]
                out[name] = value
    return out


def format_number(value: float) -> str:
    """``99.9`` → ``99.9``, ``120.0`` → ``120``: the shortest faithful form, no float noise.

    >>> format_number(120.0), format_number(99.95), format_number(1 / 3)
    ('120', '99.95', '0.3333333333')
    """
    if value.is_integer():
        return str(int(value))
    return f"{value:.10g}"


def _metric_line(result: MetricResult, check: MetricCheck | None) -> str:
    bounds = f" ({_bounds(check.threshold_range)})" if check else ""
    if result.outcome is MetricOutcome.VALUE and result.value is not None:
        verdict = ""
        if check is not None:
            verdict = " pass" if check.threshold_range.contains(result.value) else " fail"
        return f"- {result.name}: {format_number(result.value)}{bounds}{verdict}"
    if result.outcome is MetricOutcome.NO_VALUES:
        return f"- {result.name}: no values found{bounds} fail"
    return f"- {result.name}: query error: {redact_text(_one_line(result.error))}{bounds} fail"


def _bounds(limits: ThresholdRange) -> str:
    parts = []
    if limits.min is not None:
        parts.append(f"min {format_number(limits.min)}")
    if limits.max is not None:
        parts.append(f"max {format_number(limits.max)}")
    return ", ".join(parts) or "no bounds"


def _gate_line(result: WebhookResult, kind: str) -> str:
    label = f"{result.name} ({kind})" if kind else result.name
    verdict = "pass" if result.ok else "fail"
    detail = f": {redact_text(_one_line(result.message))}" if result.message else ""
    return f"- {label}: {verdict}{detail}"


def _one_line(text: str) -> str:
    """Collapse whitespace: a newline inside a body line could forge a trailer."""
    return " ".join(text.split())
