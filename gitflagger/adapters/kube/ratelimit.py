"""A client-side token bucket: client-go's ``--kube-api-qps``/``--kube-api-burst``.

The official Python client sends requests as fast as it is called. A
controller that reconciles many Canaries after a restart would then flood the
API server, which answers with 429s under API priority and fairness. Every
request of :class:`~gitflagger.adapters.kube.KubeCluster` first takes a token.

The bucket holds at most ``burst`` tokens and refills at ``qps`` per second.
Taking a token from an empty bucket *reserves* it: the balance goes negative
and the caller sleeps until its token would have arrived, so concurrent
callers queue up fairly instead of all waking at once (Go's ``rate.Limiter``
works the same way). Time comes from injected ``clock``/``sleep`` functions so
tests run without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``acquire()`` blocks until a token is available.

    >>> now = [0.0]
    >>> waits: list[float] = []
    >>> def sleep(s: float) -> None:
    ...     waits.append(s); now[0] += s
    >>> bucket = TokenBucket(qps=2, burst=2, clock=lambda: now[0], sleep=sleep)
    >>> [bucket.acquire() for _ in range(4)]
    [0.0, 0.0, 0.5, 0.5]
    """

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if burst < 1 and qps > 0:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()

    @property
    def unlimited(self) -> bool:
        """``qps <= 0`` switches limiting off, as client-go does for a negative QPS."""
        return self.qps <= 0

    def reserve(self) -> float:
        """Take one token now; return how many seconds the caller must wait before using it."""
        if self.unlimited:
            return 0.0
        with self._lock:
            now = self._clock()
            elapsed = max(now - self._last, 0.0)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def acquire(self) -> float:
        """Take one token, sleeping as long as needed; return the seconds slept."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
