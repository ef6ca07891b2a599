"""What every chat notifier shares: the ``Notifier`` protocol, :class:`ChatMessage`, fields, delivery.

A notifier posts one :class:`ChatMessage` about one workload, with a few fields
(the "Target", "Failed checks threshold" ... Flagger adds) and a severity that
picks the colour. When the step was recorded in the config repo, ``commit`` adds
a "Commit" field linking to it, so a chat message leads straight to the diff.

Delivery goes through :func:`gitflagger.adapters.webhooks.post_json`: a bounded
timeout and a few retries with backoff (Flagger's notifier retries 4 times over
up to ~1.5 minutes; a notification must not hold a reconcile that long). Any
2xx is success. A failure raises :class:`NotificationError` whose message names
the service and host but never the webhook path or query, which are the secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gitflagger.adapters.webhooks import RetryPolicy, display_url, post_json
from gitflagger.decide.events import Severity
from gitflagger.errors import TemporaryError
from gitflagger.model.redact import redact_text


def should_alert(alert_severity: str, event_severity: str) -> bool:
    """Whether an alert configured at ``alert_severity`` wants an event of ``event_severity``.

    As Flagger documents it: ``info`` gets everything, ``warn`` gets warnings and
    errors, ``error`` gets errors only. (Flagger's code reverses the last two for
    ``warn`` alerts; the documented behaviour is the one people configure for.)

    >>> should_alert("warn", "error"), should_alert("error", "warn"), should_alert("info", "info")
    (True, False, True)
    """
    return Severity(event_severity).rank >= Severity(alert_severity).rank


@dataclass(frozen=True)
class Field:
    name: str
    value: str


@dataclass(frozen=True)
class StepCommit:
    """The config-repo commit that recorded the step; ``url`` links to it when the forge is known."""

    sha: str
    url: str = ""

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class ChatMessage:
    """One alert about one workload, as every notifier takes it; each service only lays it out."""

    workload: str
    namespace: str
    text: str
    fields: Sequence[Field] = ()
    severity: Severity = Severity.INFO
    commit: StepCommit | None = None
    """The step's commit in the config repo: a "Commit" field linking to it."""

    def __post_init__(self) -> None:
        # The text and fields quote Events, which may quote a webhook's answer or URL; chat
        # channels are widely read, so credentials are redacted here, before any service lays it out.
        object.__setattr__(self, "text", redact_text(self.text))
        object.__setattr__(self, "fields", tuple(Field(f.name, redact_text(f.value)) for f in self.fields))

    @property
    def subject(self) -> str:
        """``podinfo.test``: how Flagger names the workload in a chat message."""
        return f"{self.workload}.{self.namespace}"

    def fields_with_commit(self, link: str) -> list[Field]:
        """The fields and a "Commit" one; ``link`` is ``{url}`` and ``{text}`` in the service's syntax."""
        return with_commit(self.fields, self.commit, link)


class NotificationError(TemporaryError):
    """A chat service did not take the message. Safe to log: no webhook path, query or token inside."""


@runtime_checkable
class Notifier(Protocol):
    service: str
    """The chat service's name (``slack``, ``msteams``, ...), for logs and metrics."""

    def post(self, message: ChatMessage) -> None:
        """Post one message; raise :class:`NotificationError` when the service refuses it."""
        ...


@dataclass(frozen=True)
class Delivery:
    """HTTP settings for notifications: per-attempt timeout, retries and backoff."""

    timeout: float = 10.0
    retries: int = 2
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(wait_min=1.0, wait_max=8.0))


DEFAULT_DELIVERY = Delivery()


def deliver(
    service: str,
    url: str,
    payload: Any,
    *,
    proxy: str = "",
    delivery: Delivery = DEFAULT_DELIVERY,
    headers: Mapping[str, str] | None = None,
) -> str:
    """POST ``payload`` to ``url``; return the answer's body, or raise :class:`NotificationError`."""
    outcome = post_json(
        url,
        payload,
        timeout=delivery.timeout,
        retries=delivery.retries,
        proxy=proxy or None,
        headers=headers,
        retry=delivery.retry,
    )
    if not outcome.ok:
        raise NotificationError(f"{service} {display_url(url, path=False)}: {outcome.detail}")
    return outcome.body


def with_commit(fields: Sequence[Field], commit: StepCommit | None, link: str) -> list[Field]:
    """``fields`` plus a "Commit" field; ``link`` formats ``{url}`` and ``{text}`` in the service's syntax."""
    out = list(fields)
    if commit is not None:
        value = link.format(url=commit.url, text=commit.short) if commit.url else commit.short
        out.append(Field("Commit", value))
    return out


class WebhookNotifier:
    """Posts a service's JSON payload to one webhook URL; each service only builds its payload."""

    service = "webhook"

    def __init__(self, url: str, *, proxy: str = "", delivery: Delivery = DEFAULT_DELIVERY) -> None:
        self.url = url
        self.proxy = proxy
        self.delivery = delivery

    def __repr__(self) -> str:  # the URL is the credential: never shown
        return f"{type(self).__name__}()"

    def payload(self, message: ChatMessage) -> dict[str, Any]:
        raise NotImplementedError

    def post(self, message: ChatMessage) -> None:
        payload = self.payload(message)
        deliver(self.service, self.url, payload, proxy=self.proxy, delivery=self.delivery)
