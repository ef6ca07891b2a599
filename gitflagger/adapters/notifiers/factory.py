"""From an ``AlertProvider`` (and its Secret) to a ready :class:`Notifier`; and the alert fields.

Flagger's rules (``pkg/controller/events.go``): a ``secretRef`` Secret's
``address`` replaces ``spec.address`` (it must be there when the Secret is
used); ``username`` defaults to ``flagger`` and ``channel`` to ``general``.
Added: the Secret may carry ``proxy`` (overriding ``spec.proxy``) and, for Slack,
``token`` (a bot token for ``chat.postMessage``).
"""

from __future__ import annotations

from collections.abc import Mapping

from gitflagger.adapters.notifiers.base import DEFAULT_DELIVERY, Delivery, Field, Notifier
from gitflagger.adapters.notifiers.discord import Discord
from gitflagger.adapters.notifiers.gchat import GChat
from gitflagger.adapters.notifiers.rocket import Rocket
from gitflagger.adapters.notifiers.slack import Slack
from gitflagger.adapters.notifiers.teams import MSTeams
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.canary import Canary
from gitflagger.model.templates import AlertProvider, AlertProviderType


def notifier_for(
    provider: AlertProvider, secret: Mapping[str, str] | None = None, *, delivery: Delivery = DEFAULT_DELIVERY
) -> Notifier:
    """The notifier for ``provider``; ``secret`` is the decoded data of its ``secretRef`` Secret.

    Raises :class:`ValidationError` when the Secret is missing or has no address.
    """
    subject = f"AlertProvider {provider.namespace}/{provider.name}"
    address, proxy, token = provider.address, provider.proxy, ""
    if provider.secret_ref is not None:
        if secret is None:
            raise ValidationError(
                [FieldProblem("spec.secretRef", f'Secret "{provider.secret_ref}" not found')], subject=subject
            )
        address = secret.get("address", "").strip()
        proxy = secret.get("proxy", "").strip() or proxy
        token = secret.get("token", "").strip()
        if not address and not (provider.type is AlertProviderType.SLACK and token):
            raise ValidationError(
                [FieldProblem("spec.secretRef", f'Secret "{provider.secret_ref}" has no "address" key')],
                subject=subject,
            )
    username, channel = provider.username or "flagger", provider.channel or "general"
    match provider.type:
        case AlertProviderType.SLACK:
            return Slack(
                address, channel=channel, username=username, proxy=proxy, token=token, delivery=delivery
            )
        case AlertProviderType.DISCORD:
            return Discord(address, channel=channel, username=username, proxy=proxy, delivery=delivery)
        case AlertProviderType.ROCKET:
            return Rocket(address, channel=channel, username=username, proxy=proxy, delivery=delivery)
        case AlertProviderType.MSTEAMS:
            return MSTeams(address, proxy=proxy, delivery=delivery)
        case AlertProviderType.GCHAT:
            return GChat(address, proxy=proxy, delivery=delivery)


def canary_fields(canary: Canary, *, cluster: str = "") -> list[Field]:
    """The fields Flagger attaches to "metadata" alerts (new revision, failure, success).

    For podinfo in test: ``Target: Deployment/podinfo.test``, ``Failed checks threshold: 5``,
    ``Progress deadline: 600s``, ``Traffic routing: Weight step: 10 max: 50``.
    """
    analysis = canary.spec.analysis
    fields = [Field("Cluster", cluster)] if cluster else []
    fields += [
        Field("Target", f"{canary.spec.target_ref.kind}/{canary.target_name}.{canary.namespace}"),
        Field("Failed checks threshold", str(analysis.threshold)),
        Field("Progress deadline", f"{canary.spec.progress_deadline_seconds}s"),
    ]
    if analysis.step_weight > 0:
        fields.append(
            Field("Traffic routing", f"Weight step: {analysis.step_weight} max: {analysis.max_weight}")
        )
    elif analysis.match:
        fields.append(Field("Traffic routing", "A/B Testing"))
    elif analysis.iterations > 0:
        fields.append(Field("Traffic routing", "Blue/Green"))
    return fields
