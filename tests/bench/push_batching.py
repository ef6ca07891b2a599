"""Item 2, push batching: 1,000 Canaries at a 60 s interval against a loopback smart-HTTP remote.

The remote is the testbed's :class:`tests.testbed.gitserver.GitServer` (``git
http-backend`` behind basic auth), serving a copy of the seeded 5,000-file
config repo; the local repo is another copy of it. The Canaries' steps are the
real ones (decide → render → record through
:func:`gitflagger.engine.simulate.simulate`), paced in wall-clock time: Canary
``i`` is due at ``i × interval / N`` into each interval, so the fleet makes
N / interval steps per second (≈ 17 for 1,000 at 60 s), spread evenly.

A reconcile pass wakes every ``PASS_SECONDS`` and does what
``Controller.run_pass`` does with the recorder: ``begin()`` (the fetch), record
every step that is due into the batch, ``persist()`` (one pack and one branch
update in the cache; the recorder starts pushing the new head in the
background), then ``flush()`` at the end of the pass (waits for that push,
pushes anything left). The batch is the commits of that pass. For each commit,
*remote lag* is the time from its local commit (the step is applied to the
cluster right after the persist) to the end of the push that published it,
taken from the recorder's own push log. *Lateness*
is how long after its due time a step was recorded: when it grows, the
pipeline cannot keep up with the fleet and the lag figures understate the
problem.

Push: the recorder's own, :class:`gitflagger.adapters.git.RemoteRecorder`
(basic auth from a password file, plain http explicitly allowed for
loopback): its first record of a pass fetches, ``flush()`` pushes the pass.
*Push latency* is the ``flush()``; the fetch is reported on its own. Where
``RemoteRecorder`` is missing, the module falls back to a bare pygit2 push and
says so in the notes.
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


class _PygitRecorder:
    """The fallback: a local GitRecorder on a copy of the seed, pushed with :class:`Pusher` on flush."""

    how = "pygit2 Remote.push (RemoteRecorder not available)"

    def __init__(self, local: Path, url: str, user: str, password: str) -> None:
        self.inner = GitRecorder(str(local), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        self.pusher = Pusher(self.inner.repo, url, user, password)

    def record(self, step: Any) -> Any:
        return self.inner.record(step)

    def flush(self) -> None:
        self.pusher.push()


class _Pass:
    """Hands the simulate pipeline a recorder whose ``flush`` waits for the end of the pass.

    :func:`simulate` flushes after every step (it plays one Canary); a
    controller flushes once per reconcile pass. :meth:`publish` is that flush.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def record(self, step: Any) -> Any:
        return self.inner.record(step)

    def flush(self) -> None:
        pass

    def begin(self) -> None:
        begin = getattr(self.inner, "begin", None)
        if begin is not None:
            begin()

    def persist(self) -> str | None:
        """Make the pass durable; the head it left (``None`` without batches)."""
        persist = getattr(self.inner, "persist", None)
        return persist().head if persist is not None else None

    def publish(self) -> None:
        self.inner.flush()

    def push_log(self) -> list[tuple[float, str]]:
        return list(getattr(self.inner, "push_log", []))


def _recorder(server: Any, tmp: Path) -> tuple[Any, str]:
    try:
        from gitflagger.adapters.git import RemoteConfig, RemoteRecorder
    except ImportError:
        local = tmp / "config.git"
        shutil.copytree(fleet.seed_path(5_000), local)
        fallback = _PygitRecorder(local, server.http_url("config"), server.username, server.password)
        return fallback, fallback.how
    password = tmp / "password"
    password.write_text(server.password + "\n")
    remote = RemoteConfig(server.http_url("config"), username=server.username, password_file=password,
                          allow_insecure_http=True)
    recorder = RemoteRecorder(remote, branch=fleet.BRANCH, prefix=fleet.PREFIX, cache_root=tmp / "cache")
    return recorder, ("gitflagger RemoteRecorder: fetch at begin(), one batch per pass, "
                      "the persisted head pushed in the background, flush() at the pass end")


def run_fleet(n: int, seconds: float) -> dict[str, Any]:
    from tests.testbed.gitserver import GitServer

    server = GitServer()
    try:
        server.start_http()
        remote_path = server.repo_path("config")
        shutil.copytree(fleet.seed_path(5_000), remote_path)
        subprocess.run(["git", "-C", str(remote_path), "config", "http.receivepack", "true"], check=True)
        with tempfile.TemporaryDirectory(prefix="gitflagger-bench-push-") as tmp:
            recorder, how = _recorder(server, Path(tmp))
            recorder.flush()  # clone/connect and check the credentials before the clock starts
            out = _paced(n, seconds, _Pass(recorder))
            out["how"] = how
            return out
    finally:
        server.close()


def _paced(n: int, seconds: float, recorder: _Pass) -> dict[str, Any]:
    loads = fleet.workloads(n)
    timeline = fleet.promote_timeline()
    gens: list[Iterator[TickResult] | None] = [simulate(w, timeline, recorder) for w in loads]
    next_due = [i * INTERVAL / n for i in range(n)]
    order = list(range(n))
    cursor = 0  # canaries are due in index order, interval after interval
    push_latency: list[float] = []
    first_step: list[float] = []
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
        first_record: float | None = None
        t_begin = time.monotonic()
        recorder.begin()
        begin_s = time.monotonic() - t_begin
        # every step due when the pass starts, in due order (one step per Canary per interval);
        # what falls due while the pass runs waits for the next pass, as in a controller's tick
        pass_start = now
        while True:
            i = order[cursor % n]
            if next_due[i] > pass_start:
                break
            gen = gens[i]
            t_step = time.monotonic()
            result = _steps(gen) if gen is not None else None
            if first_record is None and result is not None:
                first_record = time.monotonic() - t_step + begin_s
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
        head = recorder.persist()
        if pending:
            t0 = time.monotonic()
            recorder.publish()
            done = time.monotonic()
            push_latency.append(done - t0)
            if first_record is not None:
                first_step.append(first_record)
            per_push.append(len(pending))
            published = _published_at(recorder.push_log(), head, done) - start
            lag.extend(published - at for at in pending)
        pass_at += PASS_SECONDS
        time.sleep(max(0.0, pass_at - time.monotonic()))
    elapsed = time.monotonic() - start
    return {
        "steps": steps, "elapsed": elapsed, "push_latency": push_latency, "per_push": per_push,
        "lag": lag, "lateness": lateness, "first_step": first_step,
    }


def _published_at(log: list[tuple[float, str]], head: str | None, fallback: float) -> float:
    """When ``head`` reached the remote: the end of the push that published it (pushes only move forward)."""
    for when, pushed in log:
        if pushed == head:
            return when
    return fallback


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
        Row("push latency p50 (flush at the pass end)", percentile(lat, 50), "s", n=len(lat), low=min(lat),
            high=max(lat), notes=f"{out['how']}; loopback smart HTTP (git http-backend, basic auth); "
            "the time flush() blocks: the rest of the background push, or the whole push"),
        Row("push latency p99 (flush at the pass end)", percentile(lat, 99), "s", n=len(lat), low=min(lat),
            high=max(lat)),
        Row("remote lag p50", percentile(lag, 50), "s", n=len(lag), low=min(lag), high=max(lag),
            notes="local commit → end of the push that published it"),
        Row("remote lag p99", percentile(lag, 99), "s", n=len(lag), low=min(lag), high=max(lag),
            target=f"≤ {TARGET_LAG:.0f} s", met=at_most(percentile(lag, 99), TARGET_LAG)),
        Row("first step of a pass p50 (includes the pass's fetch)", percentile(out["first_step"], 50)
            if out["first_step"] else None, "s", n=len(out["first_step"]),
            notes="decide → render → record of the pass's first step; RemoteRecorder fetches there"),
        Row("step lateness p99 (recorded − due)", percentile(late, 99), "s", n=len(late),
            low=min(late), high=max(late),
            notes="grows without bound when the pipeline is slower than the offered load"),
    ]
    return rows
