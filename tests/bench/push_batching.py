"""Push lag per pass, before/after "apply only what the remote holds": N Canaries against a loopback remote.

The remote is the testbed's :class:`tests.testbed.gitserver.GitServer` (``git
http-backend`` behind basic auth), serving a copy of the seeded 5,000-file
config repo. The Canaries' steps are the real ones (decide → render → record
through :func:`gitflagger.engine.simulate.simulate`), paced in wall-clock time:
Canary ``i`` is due at ``i × interval / N`` into each interval, so the fleet
makes N / interval steps per second (≈ 17 for 1,000 at 60 s), spread evenly.

A reconcile pass wakes every ``PASS_SECONDS`` and does with the recorder what
``Controller.run_pass`` does: ``begin()`` (the fetch), record every step that
is due into the batch, ``persist()``, then, in the two modes measured in one
run:

* **before** (``RemoteRecorder.background_push``, the old order): the persist
  starts the push in a background thread and the pass applies at once;
* **after** (the controller's order now): ``publish()`` pushes and waits for
  the remote's answer, and only then does the pass apply.

``flush()`` ends the pass. For each commit: *push lag* is the time from its
local commit to the end of the push that published it (the recorder's own
push log); *apply delay* is the time from its local commit to the moment the
pass may apply it; *exposed* is how long the step was applied while the remote
did not hold it yet (zero by construction after). *Lateness* is how long after
its due time a step was recorded: when it grows, the pipeline cannot keep up.
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

    def persist(self) -> Any:
        """Make the pass durable; what :meth:`GitRecorder.persist` says of it (``None`` without batches)."""
        persist = getattr(self.inner, "persist", None)
        return persist() if persist is not None else None

    def confirm(self, persisted: Any) -> Any:
        """The controller's order: push the batch and wait for the remote before applying it."""
        publish = getattr(self.inner, "publish", None)
        return publish(persisted) if publish is not None and persisted is not None else persisted

    def publish(self) -> None:
        self.inner.flush()

    def published_step(self, commit: str) -> Any:
        return self.inner.published_step(commit)

    def latest_published_step(self, namespace: str, name: str) -> Any:
        return self.inner.latest_published_step(namespace, name)

    def push_log(self) -> list[tuple[float, str]]:
        return list(getattr(self.inner, "push_log", []))


def _recorder(server: Any, tmp: Path, background: bool) -> tuple[Any, str]:
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
    recorder.background_push = background
    order = ("persisted head pushed in the background while the pass applies" if background
             else "publish() pushes and waits before the pass applies")
    return recorder, f"gitflagger RemoteRecorder: fetch at begin(), one batch per pass, {order}"


def run_fleet(n: int, seconds: float, background: bool = False) -> dict[str, Any]:
    from tests.testbed.gitserver import GitServer

    server = GitServer()
    try:
        server.start_http()
        remote_path = server.repo_path("config")
        shutil.copytree(fleet.seed_path(5_000), remote_path)
        subprocess.run(["git", "-C", str(remote_path), "config", "http.receivepack", "true"], check=True)
        with tempfile.TemporaryDirectory(prefix="gitflagger-bench-push-") as tmp:
            recorder, how = _recorder(server, Path(tmp), background)
            recorder.flush()  # clone/connect and check the credentials before the clock starts
            out = _paced(n, seconds, _Pass(recorder), confirm=not background)
            out["how"] = how
            return out
    finally:
        server.close()


def _paced(n: int, seconds: float, recorder: _Pass, confirm: bool = True) -> dict[str, Any]:
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
    delay: list[float] = []
    exposed: list[float] = []
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
        persisted = recorder.persist()
        if confirm:
            persisted = recorder.confirm(persisted)
        applies_from = time.monotonic() - start  # where the pass's first apply may start
        head = getattr(persisted, "head", None)
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
            delay.extend(applies_from - at for at in pending)
            exposed.extend(max(0.0, published - applies_from) for _ in pending)
        pass_at += PASS_SECONDS
        time.sleep(max(0.0, pass_at - time.monotonic()))
    elapsed = time.monotonic() - start
    return {
        "steps": steps, "elapsed": elapsed, "push_latency": push_latency, "per_push": per_push,
        "lag": lag, "lateness": lateness, "first_step": first_step, "delay": delay, "exposed": exposed,
    }


def _published_at(log: list[tuple[float, str]], head: str | None, fallback: float) -> float:
    """When ``head`` reached the remote: the end of the push that published it (pushes only move forward)."""
    for when, pushed in log:
        if pushed == head:
            return when
    return fallback


def run(quick: bool) -> list[Row]:
    """Before/after in one run: N=100 for ``--quick``; N=100 and N=1,000 in full."""
    sizes = [(100, 20.0)] if quick else [(100, 30.0), (1_000, 75.0)]
    rows: list[Row] = []
    for n, seconds in sizes:
        for background in (True, False):
            rows += _rows(n, seconds, background, run_fleet(n, seconds, background))
    return rows


def _rows(n: int, seconds: float, background: bool, out: dict[str, Any]) -> list[Row]:
    mode = "before (background push)" if background else "after (push, then apply)"
    pushes, lag, late = out["per_push"], out["lag"], out["lateness"]
    delay, exposed = out["delay"], out["exposed"]
    rate = out["steps"] / out["elapsed"]
    common = f"N={n}, interval {INTERVAL:.0f} s, one pass per {PASS_SECONDS:.0f} s, {seconds:.0f} s window"
    tag = f"N={n:,} {mode}"
    return [
        Row(f"{tag}: steps/s achieved", rate, "steps/s",
            notes=f"{common}; offered {n / INTERVAL:.1f} steps/s; {out['steps']} steps; "
            f"{Sample.of(pushes).median if pushes else 0:.0f} commits per push (median); {out['how']}"),
        Row(f"{tag}: push lag p50", percentile(lag, 50), "s", n=len(lag), low=min(lag), high=max(lag),
            notes="local commit → end of the push that published it"),
        Row(f"{tag}: push lag p99", percentile(lag, 99), "s", n=len(lag), low=min(lag), high=max(lag),
            target=f"≤ {TARGET_LAG:.0f} s", met=at_most(percentile(lag, 99), TARGET_LAG)),
        Row(f"{tag}: apply delay p50", percentile(delay, 50), "s", n=len(delay),
            notes="local commit → the pass may apply it (the cost of waiting for the remote)"),
        Row(f"{tag}: apply delay p99", percentile(delay, 99), "s", n=len(delay)),
        Row(f"{tag}: applied, not on the remote, p99", percentile(exposed, 99), "s", n=len(exposed),
            high=max(exposed), notes="how long a live step could be lost with the cache; 0 after"),
        Row(f"{tag}: step lateness p99 (recorded − due)", percentile(late, 99), "s", n=len(late),
            low=min(late), high=max(late),
            notes="grows without bound when the pipeline is slower than the offered load"),
    ]
