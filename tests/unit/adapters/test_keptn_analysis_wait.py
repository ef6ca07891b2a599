"""The keptn provider's Analysis wait on a fake clock: Flagger's 10 s default, 1 s polls, and deletion.

The real API server is exercised in ``tests/integration/test_keptn_analysis.py``;
this pins the timing without waiting ten seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gitflagger.adapters.metrics import QueryFailed, keptn, provider_for
from gitflagger.model.templates import MetricProviderSpec


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_default_timeout_is_ten_seconds_polled_every_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(keptn.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(keptn.time, "sleep", clock.sleep)
    calls: list[tuple[str, str, float]] = []

    def api(
        path: str,
        query: Sequence[tuple[str, str]],
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        calls.append((method, path, clock.now))
        if method == "POST":
            assert body is not None
            return body
        return {"status": {"state": "Progressing"}}

    provider = provider_for(MetricProviderSpec(type="keptn"), kube_api=api)
    with pytest.raises(QueryFailed, match="timeout while waiting for Keptn Analysis ns/silent"):
        provider.run_query("analysis/ns/silent")
    assert clock.now == 10.0
    methods = [method for method, _, _ in calls]
    assert methods == ["POST", *["GET"] * 9, "DELETE"]
    assert [at for method, _, at in calls if method == "GET"] == [float(s) for s in range(1, 10)]
    assert calls[-1][1].startswith("/apis/metrics.keptn.sh/v1beta1/namespaces/ns/analyses/silent-")
