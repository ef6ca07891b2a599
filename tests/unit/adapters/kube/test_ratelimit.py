"""TokenBucket with an injected clock: bursts pass, then requests are spaced 1/qps apart."""

from __future__ import annotations

import threading

import pytest

from gitflagger.adapters.kube import TokenBucket


class FakeClock:
    """``now()`` for the bucket; ``sleep`` advances it and records how long each caller slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(qps: float, burst: int, clock: FakeClock) -> TokenBucket:
    return TokenBucket(qps, burst, clock=clock, sleep=clock.sleep)


def test_a_full_bucket_lets_a_burst_through_without_waiting() -> None:
    clock = FakeClock()
    limiter = bucket(qps=5, burst=3, clock=clock)

    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.slept == []


def test_after_the_burst_requests_are_spaced_at_the_qps() -> None:
    clock = FakeClock()
    limiter = bucket(qps=4, burst=2, clock=clock)

    waits = [limiter.acquire() for _ in range(6)]

    assert waits == [0.0, 0.0, 0.25, 0.25, 0.25, 0.25]
    assert clock.now == pytest.approx(101.0)


def test_idle_time_refills_the_bucket_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = bucket(qps=2, burst=2, clock=clock)
    for _ in range(2):
        limiter.acquire()

    clock.now += 60  # a long pause: 120 tokens' worth, capped at 2

    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.5]


def test_a_partial_refill_shortens_the_wait() -> None:
    clock = FakeClock()
    limiter = bucket(qps=2, burst=1, clock=clock)
    limiter.acquire()

    clock.now += 0.2  # 0.4 of a token has come back

    assert limiter.acquire() == pytest.approx(0.3)


def test_reservations_queue_concurrent_callers_instead_of_waking_them_together() -> None:
    clock = FakeClock()
    limiter = bucket(qps=10, burst=1, clock=clock)
    limiter.acquire()

    # Without sleeping in between, each reservation waits one interval longer than the one before.
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])


def test_zero_qps_means_unlimited() -> None:
    clock = FakeClock()
    limiter = bucket(qps=0, burst=0, clock=clock)

    assert limiter.unlimited
    assert [limiter.acquire() for _ in range(1000)] == [0.0] * 1000


def test_a_burst_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst must be at least 1"):
        TokenBucket(qps=5, burst=0)


def test_threads_share_one_budget() -> None:
    clock = FakeClock()
    lock = threading.Lock()
    limiter = TokenBucket(5, 5, clock=clock, sleep=lambda s: None)  # sleeping does not advance the clock
    waits: list[float] = []

    def take() -> None:
        wait = limiter.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 5 from the burst, then 15 reservations 0.2 s apart: no token is handed out twice.
    assert sorted(waits) == pytest.approx([0.0] * 5 + [0.2 * n for n in range(1, 16)])
