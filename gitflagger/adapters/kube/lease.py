"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does it.

* The Lease names its holder and how long a holder's claim lasts
  (``leaseDurationSeconds``). A holder renews by writing ``renewTime``.
* Every write carries the resourceVersion it read (optimistic concurrency): of
  two candidates racing for a free Lease, exactly one write succeeds.
* Expiry is judged on the *local* monotonic clock, never by comparing
  ``renewTime`` with our wall clock: a candidate takes over only after it
  has seen the Lease record unchanged for a full lease duration. Clock skew
  between nodes cannot make two leaders.
* :attr:`LeaderElector.is_leader` turns False by itself ``renew_seconds``
  after the last successful renewal, before the Lease can expire for the
  others (``renew_seconds < lease_seconds``). A leader cut off from the API
  server therefore stops writing before anyone else may start (issue 5, part 5).
* :meth:`LeaderElector.release` empties the holder, so another candidate
  takes over at once instead of waiting for expiry.

Call :meth:`~LeaderElector.renew` every ``retry_seconds`` (well inside
``renew_seconds``); :meth:`~LeaderElector.wait_until_leader` and
:meth:`~LeaderElector.keep_leading` are those loops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gitflagger.adapters.kube.errors import Conflict
from gitflagger.adapters.kube.resources import Resource
from gitflagger.errors import TemporaryError

if TYPE_CHECKING:
    from gitflagger.adapters.kube.cluster import KubeCluster

__all__ = ["LEASES", "LeaderElector"]

LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases", True)


def _micro_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for the Lease ``namespace/name``, identified by ``identity`` (the pod name)."""

    def __init__(
        self,
        cluster: KubeCluster,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = 15,
        renew_seconds: float = 10,
        *,
        retry_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not 0 < renew_seconds < lease_seconds:
            raise ValueError(f"renew_seconds must be between 0 and lease_seconds, got {renew_seconds}")
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = int(lease_seconds)
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._leading = False
        self._renewed_at = float("-inf")
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = float("-inf")
        self.holder: str = ""
        """The holder seen at the last attempt ("" for a free Lease)."""
        self.last_error: str = ""
        """Why the last attempt could not reach the API server ("" after a successful one)."""

    @property
    def is_leader(self) -> bool:
        """True while we hold the Lease and renewed it less than ``renew_seconds`` ago."""
        return self._leading and self._clock() - self._renewed_at < self.renew_seconds

    def acquire(self) -> bool:
        """Try once to become (or stay) the leader; return :attr:`is_leader`."""
        return self._attempt(acquiring=True)

    def renew(self) -> bool:
        """Renew a Lease we hold; return :attr:`is_leader`. Never takes a Lease we do not hold."""
        if not self._leading:
            return False
        return self._attempt(acquiring=False)

    def release(self) -> None:
        """Give the Lease up now (best effort: when the API server is unreachable it expires instead)."""
        with self._lock:
            was_leading, self._leading = self._leading, False
            if not was_leading:
                return
            try:
                lease = self._read()
                spec = (lease or {}).get("spec") or {}
                if lease is None or spec.get("holderIdentity") != self.identity:
                    return
                now = _micro_time(self._wall_clock())
                lease["spec"] = {
                    **spec,
                    "holderIdentity": None,
                    "leaseDurationSeconds": 1,
                    "acquireTime": None,
                    "renewTime": now,
                }
                self._write(lease, create=False)
            except TemporaryError as exc:
                self.last_error = str(exc)

    def wait_until_leader(self, stop: threading.Event) -> bool:
        """Try every ``retry_seconds`` until we lead (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.acquire():
                return True
            stop.wait(self.retry_seconds)
        return False

    def keep_leading(self, stop: threading.Event) -> bool:
        """Renew every ``retry_seconds`` until leadership is lost (False) or ``stop`` is set (True).

        On ``stop`` the Lease is released, so a successor starts at once.
        """
        while not stop.wait(self.retry_seconds):
            if not self.renew():
                return False
        self.release()
        return True

    # ---- one attempt -------------------------------------------------------------------------------
    def _attempt(self, *, acquiring: bool) -> bool:
        with self._lock:
            started = self._clock()
            try:
                won = self._try(acquiring, started)
            except Conflict:  # another candidate wrote first; look again at the next attempt
                won = False
            except TemporaryError as exc:
                self.last_error = str(exc)
                return self.is_leader
            self.last_error = ""
            if won:
                self._leading, self._renewed_at = True, started
            else:
                self._leading = False
            return self.is_leader

    def _try(self, acquiring: bool, started: float) -> bool:
        lease = self._read()
        now = _micro_time(self._wall_clock())
        if lease is None:
            if not acquiring:
                return False
            lease = {
                "apiVersion": LEASES.api_version,
                "kind": LEASES.kind,
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {},
            }
            self._write(self._claim(lease, now, taking_over=True, transitions=0), create=True)
            return True
        spec = lease.get("spec") or {}
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("leaseTransitions"),
            spec.get("leaseDurationSeconds"),
        )
        if record != self._observed:
            self._observed, self._observed_at = record, started
        self.holder = str(spec.get("holderIdentity") or "")
        ours = self.holder == self.identity
        if not ours:
            if not acquiring:
                return False
            duration = spec.get("leaseDurationSeconds") or self.lease_seconds
            if self.holder and started < self._observed_at + float(duration):
                return False  # held by someone else, and not yet expired as far as we have seen
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        self._write(self._claim(lease, now, taking_over=not ours, transitions=transitions), create=False)
        return True

    def _claim(
        self, lease: dict[str, Any], now: str, *, taking_over: bool, transitions: int
    ) -> dict[str, Any]:
        spec = dict(lease.get("spec") or {})
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=self.lease_seconds,
            renewTime=now,
            leaseTransitions=transitions,
        )
        if taking_over or not spec.get("acquireTime"):
            spec["acquireTime"] = now
        return {**lease, "spec": spec}

    def _read(self) -> dict[str, Any] | None:
        return self.cluster.get(LEASES.api_version, LEASES.kind, self.namespace, self.name)

    def _write(self, lease: dict[str, Any], *, create: bool) -> None:
        """POST or PUT (with the read resourceVersion); a lost race raises :class:`Conflict`."""
        transport = self.cluster.transport
        if create:
            transport.request(
                "POST",
                LEASES.path(self.namespace),
                body=lease,
                content_type="application/json",
                what=LEASES.describe("create", self.namespace, self.name),
            )
        else:
            transport.request(
                "PUT",
                LEASES.path(self.namespace, self.name),
                body=lease,
                content_type="application/json",
                what=LEASES.describe("update", self.namespace, self.name),
            )
        self.holder = str((lease.get("spec") or {}).get("holderIdentity") or "")
        spec = lease.get("spec") or {}
        self._observed = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("leaseTransitions"),
            spec.get("leaseDurationSeconds"),
        )
        self._observed_at = self._clock()
