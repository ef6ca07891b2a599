"""A Canary's alert providers, resolved by the observe stage: once per pass, rebuilt only when they change.

The report stage used to read each AlertProvider and its Secret from the
cluster, and parse them, on every step that alerted. Now observe resolves a
Canary's ``analysis.alerts`` into notifiers before the step
(:meth:`AlertProviders.resolve`) and report only posts to them.

- **Once per pass:** a provider used by many Canaries is read and resolved once
  per pass (:meth:`AlertProviders.new_pass`), not once per Canary.
- **Change detection:** AlertProviders are read through the controller's watch
  cache, so a read costs no request, and a provider is parsed and its notifier
  built again only when its ``resourceVersion`` or its Secret's changed.
  Secrets are never watched (the RBAC has no Secret list or watch), so a
  provider's Secret is read by name, at most once per pass.
- **Never fatal:** a provider that is missing or invalid is logged (once, until
  the problem changes) and left out; the step and the other alerts go on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitflagger.adapters.notifiers import Notifier, notifier_for
from gitflagger.engine.ports import ClusterPort
from gitflagger.errors import GitflaggerError
from gitflagger.model.canary import V1BETA1, Canary
from gitflagger.model.templates import decode_secret_data, parse_alert_provider

Key = tuple[str, str]
"""``(namespace, name)``."""


@dataclass(frozen=True)
class AlertTarget:
    """Where one alert of a Canary goes: its name, the severity it wants and the ready notifier."""

    name: str
    severity: str
    notifier: Notifier


@dataclass(frozen=True)
class _Built:
    versions: tuple[str, str]
    """The provider's and its Secret's resourceVersions when the notifier was built."""
    notifier: Notifier | None
    problem: str = ""


class AlertProviders:
    """Resolves ``analysis.alerts`` to notifiers; shared by every Canary of a controller, thread-safe."""

    def __init__(self, cluster: ClusterPort) -> None:
        self._cluster = cluster
        self._lock = threading.Lock()
        self._built: dict[Key, _Built] = {}
        self._this_pass: dict[Key, _Built] = {}
        self._logged: dict[Key, str] = {}

    def new_pass(self) -> None:
        """Start a pass: the next :meth:`resolve` of each provider reads it (and its Secret) again."""
        with self._lock:
            self._this_pass.clear()

    def resolve(self, canary: Canary, log: Any) -> tuple[AlertTarget, ...]:
        """The Canary's alerts whose provider is usable, in spec order."""
        targets: list[AlertTarget] = []
        for alert in canary.spec.analysis.alerts:
            key = (alert.provider_ref.namespace or canary.namespace, alert.provider_ref.name)
            with self._lock:
                built = self._this_pass.get(key)
                if built is None:
                    built = self._this_pass[key] = self._resolve(key)
                    self._report(key, built, log)
            if built.notifier is not None:
                targets.append(AlertTarget(alert.name, alert.severity, built.notifier))
        return tuple(targets)

    def _resolve(self, key: Key) -> _Built:
        ns, name = key
        try:
            obj = self._cluster.get(V1BETA1, "AlertProvider", ns, name)
            if obj is None:
                return _Built(("", ""), None, "alert provider not found")
            provider = parse_alert_provider(obj, default_namespace=ns)
            secret = None
            if provider.secret_ref is not None:
                secret = self._cluster.get("v1", "Secret", ns, provider.secret_ref)
            versions = (_version(obj), _version(secret) if secret is not None else "")
            held = self._built.get(key)
            if held is not None and _unchanged(held, versions):
                return held
            data = decode_secret_data(secret) if secret is not None else None
            built = _Built(versions, notifier_for(provider, data))
        except GitflaggerError as err:  # ValidationError included: a bad provider must not stop the step
            built = _Built(("", ""), None, f"alert provider unusable: {err}")
        self._built[key] = built
        return built

    def _report(self, key: Key, built: _Built, log: Any) -> None:
        if self._logged.get(key, "") == built.problem:
            return
        self._logged[key] = built.problem
        if built.problem:
            log.warning(built.problem, provider=f"{key[0]}/{key[1]}")


def _unchanged(held: _Built, versions: tuple[str, str]) -> bool:
    """The same provider and Secret versions; a provider without a resourceVersion is always rebuilt."""
    return held.notifier is not None and versions[0] != "" and held.versions == versions


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
