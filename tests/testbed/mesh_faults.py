"""The mesh simulator's workloads: how each release behaves (``Fault``) and the latencies it answers with.

``LatencySampler`` draws latencies whose bucketed histogram gives back the
fault's p99 through ``histogram_quantile``; ``load_faults`` reads the faults
YAML of the demo (see :mod:`tests.testbed.meshsim`).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

# Istio's default buckets for istio_request_duration_milliseconds.
ISTIO_BUCKETS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class Fault:
    """How a workload behaves: share of 500s, median and 99th-percentile latency (ms)."""

    error_rate: float = 0.0
    latency_ms: float = 20.0
    p99_latency_ms: float = 80.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {self.error_rate}")
        if self.latency_ms <= 0 or self.p99_latency_ms <= 0:
            raise ValueError("latencies must be positive")


HEALTHY = Fault()
PODINFO = "ghcr.io/stefanprodan/podinfo"
# The testbed's scripted releases: a good one, one failing 30% of requests, a slow one.
PODINFO_FAULTS: dict[str, Fault] = {
    f"{PODINFO}:6.0.1": HEALTHY,
    f"{PODINFO}:6.0.2": Fault(error_rate=0.3),
    f"{PODINFO}:6.0.3": Fault(p99_latency_ms=1500.0),
}



class LatencySampler:
    """Latencies whose bucketed histogram interpolates to the fault's p99.

    The CDF is piecewise linear between knots chosen so that Prometheus'
    linear interpolation inside the bucket holding p99 gives back p99 exactly:
    P(le=a) = F_a, P(le=b) = 0.999 for the bucket (a, b], the last 0.1% up to
    the next bucket bound, and the median at ``latency_ms``.
    """

    def __init__(self, fault: Fault, seed: int) -> None:
        q = max(fault.p99_latency_ms, ISTIO_BUCKETS[0] * 1.01)
        i = bisect.bisect_left(ISTIO_BUCKETS, q)  # ISTIO_BUCKETS[i-1] < q <= ISTIO_BUCKETS[i]
        i = min(i, len(ISTIO_BUCKETS) - 2)
        a = ISTIO_BUCKETS[i - 1] if i > 0 else 0.0
        b, c = ISTIO_BUCKETS[i], ISTIO_BUCKETS[i + 1]
        t = min((q - a) / (b - a), 0.98)  # keeps F_a >= 0.5 so the median fits below a
        f_b = 0.999
        f_a = (0.99 - f_b * t) / (1 - t)
        median = min(fault.latency_ms, a * 0.9) if a > 0 else (q - a) * 0.5
        lo = median * 0.25
        if a > 0:
            self.knots: list[tuple[float, float]] = [(lo, 0.0), (median, 0.5), (a, f_a), (b, f_b), (c, 1.0)]
        else:
            self.knots = [(0.0, 0.0), (b, f_b), (c, 1.0)]
        self._u = random.Random(seed).random()

    def next(self) -> float:
        self._u = (self._u + GOLDEN) % 1.0  # low-discrepancy: every window sees the whole CDF
        u = self._u
        for (x0, p0), (x1, p1) in zip(self.knots, self.knots[1:], strict=False):
            if u <= p1:
                return x0 + (x1 - x0) * ((u - p0) / (p1 - p0) if p1 > p0 else 0.0)
        return self.knots[-1][0]


def _fault_from(spec: Mapping[str, Any] | None, base: Fault) -> Fault:
    spec = dict(spec or {})
    known = {f.name for f in fields(Fault)}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed: {sorted(known)}")
    return replace(base, **{k: float(v) for k, v in spec.items()})


def load_faults(path: str | Path) -> tuple[dict[str, Fault], Fault, float | None]:
    """Parse a faults YAML file: (faults by image, default fault, rate or None)."""
    doc = YAML(typ="safe").load(Path(path).read_text()) or {}
    default = _fault_from(doc.get("default"), HEALTHY)
    faults = {str(img): _fault_from(spec, default) for img, spec in (doc.get("images") or {}).items()}
    rate = doc.get("rate")
    return faults, default, float(rate) if rate is not None else None
