"""``gitflagger run``: watch every Canary, step each on its own interval, hand over cleanly in HA.

Two threads share one in-memory store of Canary objects:

* the **watcher** lists Canaries, then watches from the list's
  resourceVersion; a watch that expires (410) or breaks (API server down) is
  followed by a fresh list, with backoff, so the store converges whatever happens;
* the **stepper** (the caller's thread) runs passes over the Canaries whose
  step is due (:mod:`.scheduler`), in chunks of at most :data:`BATCH_SIZE`,
  each chunk in two phases:

  1. each Canary of the chunk is observed, decided, rendered and recorded into
     one batch, held in memory; then the batch is made durable at once
     (``persist``: one pack, one branch update);
  2. for a remote config repo, the chunk's commits are pushed and the push
     confirmed (``publish``); a push that cannot complete holds back every
     step of the chunk (a Warning event on each Canary,
     ``gitflagger_push_failures_total``), to be retried next pass;
  3. only then is each of its steps applied, its status written and reported.

  After the last chunk what is left is pushed (``recorder.flush()``: intent
  acknowledgements), and the stepper sleeps until the next due time or until
  the watcher reports a change. Chunks bound the memory a batch holds
  (:data:`BATCH_SIZE`).

  Nothing is applied before the remote holds its commit, so a crash at any
  point, even one that loses the local cache, loses no applied step and
  records none twice (see :mod:`.reconcile`).

The store only moves forward: an object older (by resourceVersion) than the
one held is ignored, so a late watch event can never undo the status a step
just wrote and make the Canary look due again.

With leader election, only the leader steps. Leadership is checked right
before every write of a step (commit, apply, status); a replica that lost the
Lease stops at that point and :meth:`Controller.run` returns non-zero, so the
process exits and its successor takes over from the Canaries' status.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from gitflagger import killswitch
from gitflagger.adapters.git.recorder import Persisted
from gitflagger.engine.context import ApplyMode
from gitflagger.engine.finalize import Finalizing, deleting, finish_finalize, prepare_finalize, sync_finalizer
from gitflagger.engine.ports import Obj, RecordPort, WatchPort
from gitflagger.engine.reconcile import (
    CanaryMemory,
    Context,
    LeadershipLost,
    Prepared,
    StepOutcome,
    fault,
    finish_one,
    nudge_flux,
    prepare_one,
)
from gitflagger.engine.restart import check_live_against_remote
from gitflagger.engine.scheduler import due_at, interval_of, next_due
from gitflagger.engine.telemetry import logger
from gitflagger.errors import GitflaggerError, TemporaryError

RETRY_MIN = 5.0
RETRY_MAX = 60.0
FINALIZE_RETRY = 3.0
WATCH_TIMEOUT = 300
STUCK_FLOOR = 120.0
"""Seconds without progress before ``/healthz`` calls the stepper stuck, whatever the intervals: a
pass of a thousand Canaries, a slow push or a webhook's own timeout must not get a working
controller restarted."""
BATCH_SIZE = 100
"""Due Canaries recorded, persisted, then applied together. A batch holds each of its steps' new
root tree in memory (about 40 bytes per Canary under the prefix, so about 40 KB each at 1,000
Canaries) until it is persisted: one batch per pass would hold 40 MB at 1,000 Canaries, and twice
that while its pack is written. 100 keeps it to a few MB and starts the first applies sooner."""


class Elector(Protocol):
    """What the controller needs of :class:`gitflagger.adapters.kube.LeaderElector`."""

    @property
    def is_leader(self) -> bool: ...

    def wait_until_leader(self, stop: threading.Event) -> bool: ...

    def keep_leading(self, stop: threading.Event) -> bool: ...

    def release(self) -> None: ...


class Controller:
    def __init__(
        self,
        cluster: WatchPort,
        ctx: Context,
        *,
        namespace: str | None = None,
        elector: Elector | None = None,
        batch_size: int = BATCH_SIZE,
        after_pass: Callable[[], object] | None = None,
    ) -> None:
        self.cluster = cluster
        self.ctx = dataclasses.replace(ctx, guard=self._guard) if elector is not None else ctx
        """The Context it was given, with this controller's leadership guard when it elects a leader."""
        self.memory = CanaryMemory()
        """What this controller remembers of each Canary between its steps (drift, announced errors)."""
        self.namespace = namespace
        self.elector = elector
        self.batch_size = batch_size
        """At most this many due Canaries are recorded into one batch (see :meth:`run_pass`)."""
        self.after_pass = after_pass
        """Called by :meth:`run` after each pass, before it sleeps (``gitflagger run``: return freed
        memory to the system)."""
        self.synced = threading.Event()
        """Set once the first list succeeded: ``/readyz``."""
        self.lost = threading.Event()
        """Set when leadership was lost: stop writing, exit non-zero."""
        self._store: dict[str, Obj] = {}
        self._namespaces: set[str] = set()
        self._retry: dict[str, tuple[datetime, float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._checked = False
        """The live state was checked against the remote (:mod:`.restart`), once, before stepping."""
        self._log = logger(component="controller")
        self._watcher: threading.Thread | None = None
        self._progress: float | None = None
        """``time.monotonic()`` of the stepper's last progress (a Canary or a pass finished);
        ``None`` while it does not step (before :meth:`run`, waiting for leadership)."""

    # ---- the store ---------------------------------------------------------------------------------
    def sync(self) -> str:
        """List every Canary into the store; return the list's resourceVersion."""
        items, version = self.cluster.list_canaries(self.namespace)
        with self._lock:
            self._store = {_ref(o): o for o in items}
            self._count()
        self.synced.set()
        self._wake.set()
        return version

    def remember(self, obj: Obj) -> None:
        """Keep ``obj`` unless the store already holds a newer version of it."""
        ref = _ref(obj)
        with self._lock:
            held = self._store.get(ref)
            if held is None or not _older(obj, held):
                self._store[ref] = obj
                self._count()

    def forget(self, obj: Obj) -> None:
        ref = _ref(obj)
        with self._lock:
            self._store.pop(ref, None)
            self._retry.pop(ref, None)
            self._count()
        self.memory.forget(ref)
        meta = obj.get("metadata") or {}
        target = ((obj.get("spec") or {}).get("targetRef") or {}).get("name") or meta.get("name", "")
        self.ctx.telemetry.forget(str(target), str(meta.get("namespace", "")))

    def canaries(self) -> list[Obj]:
        with self._lock:
            return list(self._store.values())

    # ---- watching ----------------------------------------------------------------------------------
    def watch(self, stop: threading.Event) -> None:
        """List, then watch; list again after any failure. Returns when ``stop`` is set."""
        delay = 1.0
        version = ""
        while not stop.is_set():
            try:
                if not version:
                    version = self.sync()
                stream = self.cluster.watch_canaries(self.namespace, version, timeout_seconds=WATCH_TIMEOUT)
                for kind, obj in stream:
                    if stop.is_set():
                        break
                    if kind == "DELETED":
                        self.forget(obj)
                    else:
                        self.remember(obj)
                    self._wake.set()
                version = str(getattr(stream, "resource_version", version) or version)
                delay = 1.0
            except GitflaggerError as err:
                # WatchExpired, the API server down, RBAC: list again from scratch after a pause.
                self._log.warning("watch failed, listing again", error=str(err), retry_in=delay)
                version = ""
                stop.wait(delay)
                delay = min(delay * 2, 30.0)
            except Exception as err:  # a bug or an unforeseen answer: it must not end the watch silently
                self._log.error("watch failed unexpectedly, listing again", retry_in=delay,
                                error=f"{type(err).__name__}: {err}", exc_info=err)
                version = ""
                stop.wait(delay)
                delay = min(delay * 2, 30.0)

    # ---- stepping ----------------------------------------------------------------------------------
    def run_pass(self, *, everything: bool = False) -> list[StepOutcome]:
        """Reconcile every Canary that is due (all of them with ``everything``), then push.

        The due Canaries go in chunks of at most :attr:`batch_size`, each in two
        phases (record into one batch, persist it; then apply and report its
        steps), so a pass holds one chunk's batch in memory, not every step's,
        and the first applies start after one chunk's recording.
        """
        fetched = False
        if not self._checked:  # the first pass of this process, or of its leadership (see .restart)
            self._sync_repo()
            fetched = True
            for obj in check_live_against_remote(self.ctx, self.canaries()):
                self.remember(obj)
            self._checked = True
        now = self.ctx.clock()
        self.ctx.telemetry.steps_waiting_for_push.set(0)
        self.ctx.alerting.new_pass()
        if self.ctx.flux is not None:
            self.ctx.flux.new_pass()
        due = [o for o in sorted(self.canaries(), key=due_at) if everything or self._due(o) <= now]
        if due and not fetched:
            self._sync_repo()
        outcomes: list[StepOutcome] = []
        size = max(1, self.batch_size)
        for start in range(0, len(due), size):
            if self.lost.is_set():
                break
            outcomes += self._run_chunk(due[start : start + size], now)
        if not self.lost.is_set():
            self._flush()
        return outcomes

    def _run_chunk(self, chunk: list[Obj], now: datetime) -> list[StepOutcome]:
        """Both phases for ``chunk``: record it as one batch and persist it, then apply and report it."""
        batch = self.ctx.recorder
        results: list[Prepared | Finalizing | StepOutcome] = []
        persisted: Persisted | None = None
        batch.begin()
        try:
            for obj in chunk:
                if self.lost.is_set():
                    break
                results.append(self._prepare(obj, now))
                self._beat()
            if any(isinstance(r, Prepared | Finalizing) and r.commit for r in results):
                killswitch.point("recorded")
            self._guard()  # leadership may have gone during the chunk: then nothing of it is written
            persisted = self._persist(batch, results)
        except BaseException:
            batch.discard()  # nothing of it was applied
            raise
        if any(isinstance(r, Prepared | Finalizing) for r in results):
            if persisted is not None and persisted.commits:
                killswitch.point("persisted")
            persisted = self._publish(batch, results, persisted)
            if any(isinstance(r, Prepared | Finalizing) and r.commit for r in results):
                killswitch.point("pushed")
        outcomes: list[StepOutcome] = []
        for result in results:
            if self.lost.is_set():
                break
            if isinstance(result, StepOutcome):
                outcomes.append(result)
            elif isinstance(result, Finalizing):
                outcomes.append(self._finish_finalize(result, persisted, now))
                self._beat()
            else:
                finished = finish_one(self.ctx, result, self.memory, persisted)
                outcomes.append(self._settle(result.canary.ref, finished, now))
                self._beat()
        nudge_flux(self.ctx)  # git-only mode: Flux applies the chunk's pushed steps now, not at its interval
        return outcomes

    def seconds_until_next(self) -> float:
        """How long the stepper may sleep before some Canary is due (capped, never negative)."""
        with self._lock:
            objs = list(self._store.values())
        nearest = next_due(objs)
        retries = [at for at, _ in self._retry.values()]
        candidates = [t for t in [nearest, *retries] if t is not None]
        if not candidates:
            return 30.0
        wait = (min(candidates) - self.ctx.clock()).total_seconds()
        return max(0.0, min(wait, 30.0))

    def run(self, stop: threading.Event) -> int:
        """Run until ``stop`` (exit code 0) or until leadership is lost (exit code 1)."""
        watcher = threading.Thread(target=self._watch_logged, args=(stop,), name="canary-watch", daemon=True)
        self._watcher = watcher
        watcher.start()
        # A stop (SIGTERM) must end the sleep between passes at once, not when the next Canary is due.
        threading.Thread(target=self._wake_on, args=(stop,), name="stop-wake", daemon=True).start()
        if self.elector is not None:
            self._log.info("waiting for leadership")
            if not self.elector.wait_until_leader(stop):
                return 0
            self._log.info("leading")
            threading.Thread(target=self._lead, args=(stop,), name="lease-renew", daemon=True).start()
        self._beat()
        failures = 0
        while not stop.is_set() and not self.lost.is_set():
            if self.synced.is_set():
                try:
                    self.run_pass()
                    failures = 0
                except LeadershipLost:
                    self.lost.set()
                    break
                except Exception as err:  # each Canary's faults are its own (.faults); this is the pass's
                    failures += 1
                    self._log.error("pass failed unexpectedly, trying again",
                                    error=f"{type(err).__name__}: {err}", exc_info=err)
                    stop.wait(min(RETRY_MIN * failures, RETRY_MAX))
                if self.after_pass is not None:
                    self.after_pass()
            self._beat()
            self._wake.clear()
            if stop.is_set():
                break
            self._wake.wait(self.seconds_until_next() if self.synced.is_set() else 1.0)
        if self.lost.is_set():
            self._log.error("leadership lost, stopping")
            return 1
        return 0

    # ---- health ------------------------------------------------------------------------------------
    def unhealthy(self) -> str:
        """Why this controller cannot work (``/healthz`` fails with it); empty while it can.

        Leadership lost; the Canary watch thread dead (it restarts itself after
        any exception, so this is a bug); or the stepper stuck: no Canary and no
        pass finished for :meth:`stuck_limit` seconds.
        """
        if self.lost.is_set():
            return "leadership lost"
        if self._watcher is not None and not self._watcher.is_alive():
            return "the Canary watch thread is dead"
        if self._progress is not None:
            idle, limit = time.monotonic() - self._progress, self.stuck_limit()
            if idle > limit:
                return f"the stepper made no progress for {idle:.0f}s (limit {limit:.0f}s)"
        return ""

    def stuck_limit(self) -> float:
        """Two of the shortest Canary interval, and never less than :data:`STUCK_FLOOR` seconds."""
        intervals = [interval_of(o).total_seconds() for o in self.canaries()]
        return max(2 * min(intervals, default=0.0), STUCK_FLOOR)

    # ---- internals ---------------------------------------------------------------------------------
    def _beat(self) -> None:
        self._progress = time.monotonic()

    def _watch_logged(self, stop: threading.Event) -> None:
        try:
            self.watch(stop)
        except BaseException as err:  # watch() survives any Exception; say so if something still ends it
            self._log.error("the Canary watch thread ended", error=f"{type(err).__name__}: {err}",
                            exc_info=err)
            raise

    def _wake_on(self, stop: threading.Event) -> None:
        stop.wait()
        self._wake.set()

    def _prepare(self, obj: Obj, now: datetime) -> Prepared | Finalizing | StepOutcome:
        """Phase 1 for one Canary: finalizers, then observe → record; an outcome when no step goes on."""
        ref = _ref(obj)
        try:
            if deleting(obj):
                self._guard()
                step = prepare_finalize(self.ctx, obj)
                if isinstance(step, Finalizing):
                    return step
                return self._finalized(ref, now, *step)
            self._guard()
            obj = sync_finalizer(self.cluster, obj, git_only=self.ctx.apply_mode is ApplyMode.GIT_ONLY)
        except LeadershipLost:
            raise
        except Exception as err:  # confined to this Canary (see .faults)
            return self._failed(ref, now, obj, "handling its finalizer", err)
        prepared = prepare_one(self.ctx, obj, self.memory)
        if isinstance(prepared, StepOutcome):
            return self._settle(ref, prepared, now, obj)
        return prepared

    def _failed(self, ref: str, now: datetime, obj: Obj, doing: str, err: Exception) -> StepOutcome:
        """One Canary's finalizer work failed: back off; our own errors are their one line, others a fault."""
        self._backoff(ref, now)
        if isinstance(err, GitflaggerError):
            return StepOutcome(ref, error=str(err))
        return StepOutcome(ref, error=fault(self.ctx, self.memory, obj, doing, err, self._log))

    def _finalized(self, ref: str, now: datetime, done: bool, what: str) -> StepOutcome:
        """A finalization step's outcome: look again soon until the finalizer is gone."""
        self._log.info("finalize", canary=ref, done=done, detail=what)
        if not done:
            self._retry[ref] = (now + timedelta(seconds=FINALIZE_RETRY), FINALIZE_RETRY)
        return StepOutcome(ref, skipped=f"deleting: {what}")

    def _finish_finalize(self, step: Finalizing, persisted: Persisted | None, now: datetime) -> StepOutcome:
        ref = step.canary.ref
        try:
            done, what = finish_finalize(self.ctx, step, persisted)
        except LeadershipLost:
            raise
        except Exception as err:  # confined to this Canary (see .faults)
            return self._failed(ref, now, step.canary_obj, "finalizing", err)
        if self.ctx.flux is not None and step.commit:  # git-only: Flux applies (and prunes) it now
            self.ctx.flux.want_nudge(self.ctx.flux.carrier(step.canary.namespace, step.canary.name))
        return self._finalized(ref, now, done, what)

    def _persist(self, batch: RecordPort, results: list[Prepared | Finalizing | StepOutcome]) -> Persisted:
        """Make the pass's batch durable. On failure no step of it is applied: each is retried."""
        try:
            return batch.persist()
        except Exception as err:  # unexpected ones too: the pass goes on with nothing of this batch applied
            if isinstance(err, GitflaggerError):
                self._log.warning("recording the pass failed, retrying its steps", error=str(err))
            else:
                self._log.error("recording the pass failed, retrying its steps", exc_info=err,
                                error=f"{type(err).__name__}: {err}")
            now = self.ctx.clock()
            for i, result in enumerate(results):
                if isinstance(result, Prepared | Finalizing):
                    ref = result.canary.ref
                    results[i] = self._settle(ref, StepOutcome(ref, error=str(err)), now)
            return Persisted()

    def _publish(
        self,
        batch: RecordPort,
        results: list[Prepared | Finalizing | StepOutcome],
        persisted: Persisted | None,
    ) -> Persisted | None:
        """The remote must hold the chunk's commits before any of its steps is applied.

        A push that cannot complete (refused by a hook or a protected branch, the
        network down) holds back every step of the chunk: each Canary gets a
        Warning event saying why, the steps stay committed in the cache and are
        retried next pass under the same Step-Ids. A local repository returns at once.
        """
        self._guard()
        try:
            return batch.publish(persisted or Persisted())
        except GitflaggerError as err:
            self._log.warning("push failed, applying none of the chunk's steps", error=str(err))
            telemetry = self.ctx.telemetry
            telemetry.push_failures.inc()
            why = f"step not applied: the config repo's remote did not take its commit ({err}); retrying"
            now = self.ctx.clock()
            for i, result in enumerate(results):
                if isinstance(result, Prepared | Finalizing):
                    ref = result.canary.ref
                    telemetry.steps_waiting_for_push.inc()
                    self._warn(result.canary_obj, why, "PushFailed")
                    results[i] = self._settle(ref, StepOutcome(ref, error=why), now)
            return persisted

    def _warn(self, obj: Mapping[str, Any], message: str, reason: str) -> None:
        try:
            self.cluster.emit_event(obj, message, warning=True, reason=reason)
        except GitflaggerError as err:
            self._log.warning("kubernetes event failed", canary=_ref(obj), error=str(err))

    def _settle(self, ref: str, outcome: StepOutcome, now: datetime, obj: Obj | None = None) -> StepOutcome:
        """Remember what a step left behind and when to look at its Canary again."""
        if outcome.obj is not None:
            self.remember(outcome.obj)
        if outcome.error and not outcome.stepped and outcome.skipped != "invalid":
            self._backoff(ref, now)
        else:
            self._retry.pop(ref, None)
        if outcome.skipped == "invalid" and obj is not None:
            # No lastStepTime to pace it: look again an interval later (or when it changes).
            self._retry[ref] = (now + interval_of(obj), RETRY_MIN)
        elif outcome.skipped and not outcome.error:
            # Waiting (git-only mode): look again soon rather than a whole interval later.
            self._retry[ref] = (now + timedelta(seconds=RETRY_MIN), RETRY_MIN)
        return outcome

    def _due(self, obj: Mapping[str, Any]) -> datetime:
        due = due_at(obj)
        retry = self._retry.get(_ref(obj))
        return max(due, retry[0]) if retry is not None else due

    def _backoff(self, ref: str, now: datetime) -> None:
        _, last = self._retry.get(ref, (now, RETRY_MIN / 2))
        delay = min(last * 2, RETRY_MAX)
        self._retry[ref] = (now + timedelta(seconds=delay), delay)

    def _sync_repo(self) -> None:
        """A remote config repo: fetch before the pass, so intents pushed since are seen."""
        try:
            self.ctx.recorder.sync()
        except TemporaryError as err:
            self._log.warning("fetch failed, stepping on the cached repo", error=str(err))

    def _flush(self) -> None:
        before = self.ctx.recorder.push_retries
        try:
            self.ctx.recorder.flush()
        except GitflaggerError as err:  # refused or conflicting pushes too: the next pass tries again
            self._log.warning("push failed, retrying next pass", error=str(err))
        retries = self.ctx.recorder.push_retries - before
        if retries > 0:
            self.ctx.telemetry.push_retries.inc(retries)

    def _guard(self) -> None:
        if self.elector is not None and (self.lost.is_set() or not self.elector.is_leader):
            self.lost.set()
            self._wake.set()
            raise LeadershipLost("leadership lost: not writing")

    def _lead(self, stop: threading.Event) -> None:
        assert self.elector is not None
        if not self.elector.keep_leading(stop):
            self.lost.set()
            self._wake.set()

    def _count(self) -> None:
        totals: dict[str, int] = dict.fromkeys(self._namespaces, 0)
        for obj in self._store.values():
            ns = str((obj.get("metadata") or {}).get("namespace", ""))
            totals[ns] = totals.get(ns, 0) + 1
        self._namespaces = set(totals)
        for ns, count in totals.items():
            self.ctx.telemetry.canary_total.labels(ns).set(count)


def _ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _older(obj: Mapping[str, Any], held: Mapping[str, Any]) -> bool:
    """``obj`` is an older version than ``held`` (resourceVersions compared as numbers when they are)."""
    new = str((obj.get("metadata") or {}).get("resourceVersion", ""))
    old = str((held.get("metadata") or {}).get("resourceVersion", ""))
    if new.isdigit() and old.isdigit():
        return int(new) < int(old)
    return False
