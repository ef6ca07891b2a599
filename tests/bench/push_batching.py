"""Item 2, push batching: 1,000 Canaries at a 60 s interval against a loopback smart-HTTP remote.

The remote is the testbed's :class:`tests.testbed.gitserver.GitServer` (``git
http-backend`` behind basic auth), serving a copy of the seeded 5,000-file
config repo; the local repo is another copy of it. The Canaries' steps are the
real ones (decide → render → record through
:func:`gitflagger.engine.simulate.simulate`), paced in wall-clock time: Canary
``i`` is due at ``i × interval / N`` into each interval, so the fleet makes
N / interval steps per second (≈ 17 for 1,000 at 60 s), spread evenly.

A reconcile pass wakes every ``PASS_SECONDS``, records every step that is due,
then pushes once: the batch is the commits of that pass. For each commit,
*remote lag* is the time from its local commit (when the step is applied to
the cluster, right after) to the end of the push that published it. *Lateness*
is how long after its due time a step was recorded: when it grows, the
pipeline cannot keep up with the fleet and the lag figures understate the
problem.

Push: this module pushes with pygit2 directly (``Remote.push`` with basic-auth
credentials and a rejected-ref check), because the recorder's own push was not
in the shared tree when this was written; switch to it once it lands.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2

from gitflagger.adapters.git import GitRecorder
from gitflagger.engine.simulate import TickResult, simulate
from tests.bench import fleet
from tests.bench.harness import Row, Sample, at_most, percentile

INTERVAL = 60.0
PASS_SECONDS = 1.0
TARGET_LAG = 5.0
REF = f"refs/heads/{fleet.BRANCH}"


class Pusher:
    """Push one branch over HTTP with basic auth; a rejected ref is an error."""

    def __init__(self, repo: pygit2.Repository, url: str, user: str, password: str) -> None:
        self.repo = repo
        self.remote = repo.remotes.create_anonymous(url)
        self.user, self.password = user, password

    def push(self) -> None:
        rejected: list[str] = []
        user, password = self.user, self.password

        class Callbacks(pygit2.RemoteCallbacks):
            def credentials(self, url: str, username: str | None, allowed: Any) -> Any:
                return pygit2.UserPass(user, password)

            def push_update_reference(self, refname: str, message: str | None) -> None:
                if message:
                    rejected.append(f"{refname}: {message}")

        self.remote.push([f"{REF}:{REF}"], callbacks=Callbacks())
        if rejected:
            raise RuntimeError(f"push rejected: {'; '.join(rejected)}")


def _steps(gen: Iterator[TickResult]) -> TickResult | None:
    try:
        return next(gen)
    except StopIteration:
        return None


def run_fleet(n: int, seconds: float) -> dict[str, Any]:
    from tests.testbed.gitserver import GitServer

    server = GitServer()
    try:
        server.start_http()
        seed = fleet.seed_path(5_000)
        remote_path = server.repo_path("config")
        shutil.copytree(seed, remote_path)
        subprocess.run(["git", "-C", str(remote_path), "config", "http.receivepack", "true"], check=True)
        with tempfile.TemporaryDirectory(prefix="gitflagger-bench-push-") as tmp:
            local = Path(tmp) / "config.git"
            shutil.copytree(seed, local)
            recorder = GitRecorder(str(local), branch=fleet.BRANCH, prefix=fleet.PREFIX)
            pusher = Pusher(recorder.repo, server.http_url("config"), server.username, server.password)
            pusher.push()  # nothing to send: checks the credentials and warms the connection path
            return _paced(n, seconds, recorder, pusher)
    finally:
        server.close()


def _paced(n: int, seconds: float, recorder: GitRecorder, pusher: Pusher) -> dict[str, Any]:
    loads = fleet.workloads(n)
    timeline = fleet.promote_timeline()
    gens: list[Iterator[TickResult] | None] = [simulate(w, timeline, recorder) for w in loads]
    next_due = [i * INTERVAL / n for i in range(n)]
    order = list(range(n))
    cursor = 0  # canaries are due in index order, interval after interval
    push_latency: list[float] = []
    per_push: list[int] = []
    lag: list[float] = []
    lateness: list[float] = []
    steps = 0
    start = time.monotonic()
    pass_at = start
    while True:
        now = time.monotonic() - start
        if now >= seconds:
            break
        pending: list[float] = []
        # every step due by now, in due order (one step per Canary per interval)
        while True:
            i = order[cursor % n]
            if next_due[i] > now:
                break
            gen = gens[i]
            result = _steps(gen) if gen is not None else None
            if result is None:
                gens[i] = None
            else:
                steps += 1
                recorded = time.monotonic() - start
                lateness.append(max(0.0, recorded - next_due[i]))
                if result.commit is not None:
                    pending.append(recorded)
            next_due[i] += INTERVAL
            cursor += 1
            now = time.monotonic() - start
        if pending:
            t0 = time.monotonic()
            pusher.push()
            done = time.monotonic()
            push_latency.append(done - t0)
            per_push.append(len(pending))
            lag.extend(done - start - at for at in pending)
        pass_at += PASS_SECONDS
        time.sleep(max(0.0, pass_at - time.monotonic()))
    elapsed = time.monotonic() - start
    return {
        "steps": steps, "elapsed": elapsed, "push_latency": push_latency, "per_push": per_push,
        "lag": lag, "lateness": lateness,
    }


def run(quick: bool) -> list[Row]:
    n, seconds = (100, 20.0) if quick else (1_000, 75.0)
    out = run_fleet(n, seconds)
    pushes, lat, lag, late = out["per_push"], out["push_latency"], out["lag"], out["lateness"]
    rate = out["steps"] / out["elapsed"]
    common = f"N={n}, interval {INTERVAL:.0f} s, one pass per {PASS_SECONDS:.0f} s, {seconds:.0f} s window"
    rows = [
        Row("steps/s achieved (offered load ≈ N/interval)", rate, "steps/s", notes=f"{common}; "
            f"offered {n / INTERVAL:.1f} steps/s; {out['steps']} steps"),
        Sample.of(pushes).row("commits per push (median)", "commits", notes=f"max {max(pushes)}"),
        Row("push latency p50", percentile(lat, 50), "s", n=len(lat), low=min(lat), high=max(lat),
            notes="pygit2 Remote.push over loopback smart HTTP (git http-backend, basic auth)"),
        Row("push latency p99", percentile(lat, 99), "s", n=len(lat), low=min(lat), high=max(lat)),
        Row("remote lag p50", percentile(lag, 50), "s", n=len(lag), low=min(lag), high=max(lag),
            notes="local commit → end of the push that published it"),
        Row("remote lag p99", percentile(lag, 99), "s", n=len(lag), low=min(lag), high=max(lag),
            target=f"≤ {TARGET_LAG:.0f} s", met=at_most(percentile(lag, 99), TARGET_LAG)),
        Row("step lateness p99 (recorded − due)", percentile(late, 99), "s", n=len(late),
            low=min(late), high=max(late),
            notes="grows without bound when the pipeline is slower than the offered load"),
    ]
    return rows
