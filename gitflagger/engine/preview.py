"""``gitflagger reconcile --dry-run``: what the next step would do, as diffs, writing nothing anywhere.

The step is decided exactly as a real one (same observe, same decision, same
render), with two differences that keep it free of side effects: gate webhooks
are not called (each due gate is assumed to pass, and the output says so), and
nothing is recorded, applied or reported. The step goes to a dry-run recorder
(:class:`gitflagger.adapters.git.DryRunRecorder`), which hands the caller one
unified diff per file against the config repo's head; the diffs against the
live cluster are computed by the API server itself (server-side apply with
``dryRun=All``), so defaulting and field ownership are taken into account.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitflagger.decide import WebhookResult, gates_due
from gitflagger.engine.cross_namespace import check_namespace_refs
from gitflagger.engine.observe import first_look, measure, read_live
from gitflagger.engine.plan import plan_step
from gitflagger.engine.ports import RecordPort
from gitflagger.engine.reconcile import Context
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import State
from gitflagger.render.yaml import dump_canonical

NOT_CALLED = "not called: dry run"


@dataclass(frozen=True)
class Diff:
    """One object against the live cluster."""

    name: str
    """``Deployment/podinfo-primary``."""
    text: str
    """The unified diff; empty when there is no difference."""


@dataclass(frozen=True)
class Preview:
    subject: str
    events: tuple[str, ...]
    actions: tuple[str, ...]
    """Side effects beyond the objects (``scale-canary-up`` ...), which no diff shows."""
    gates_assumed: tuple[str, ...]
    diffs: tuple[Diff, ...]

    @property
    def changes(self) -> tuple[Diff, ...]:
        return tuple(d for d in self.diffs if d.text)


def preview(ctx: Context, canary_obj: Mapping[str, Any], dry_run: RecordPort) -> Preview:
    """Decide and render the Canary's next step; diff it against the repo head (through the
    ``dry_run`` recorder, which must write nothing) and against the live objects."""
    canary = parse_canary(canary_obj, default_provider=ctx.mesh_provider)
    if ctx.no_cross_namespace_refs:
        check_namespace_refs(canary_obj, canary)
    state = State.from_status(canary_obj.get("status"))
    live = read_live(ctx.cluster, canary)
    pending = ctx.intents.read(canary.ref) if ctx.intents is not None else None
    seen = first_look(canary, live, ctx.clock(), pending.intent if pending else None)
    seen = measure(ctx.cluster, canary, state, seen, ctx.metrics_server)
    due = gates_due(canary, state, seen)
    assumed = [hook.name for kind in due for hook in canary.spec.analysis.webhooks_of(kind)]
    answers = {name: WebhookResult(name, ok=True, message=NOT_CALLED) for name in assumed}
    seen = dataclasses.replace(seen, webhooks={**seen.webhooks, **answers})
    plan = plan_step(canary, state, seen, live.inputs(), ctx.labelling)
    decision = plan.decision

    if decision.changed:  # as reconcile._record: a step that changes nothing is not recorded
        dry_run.record(plan.step)
    diffs: list[Diff] = []
    for result in ctx.cluster.apply(plan.manifests, dry_run=True):
        label = f"{result.kind}/{result.name}"
        before = dump_canonical(result.live_before) if result.live_before else ""
        after = dump_canonical(result.desired_after) if result.desired_after else ""
        text = _diff(before, after, f"live/{label}", f"desired/{label}") if result.changed else ""
        diffs.append(Diff(label, text))
    events = tuple(e.message for e in decision.events)
    actions = tuple(a.value for a in decision.actions)
    return Preview(decision.subject, events, actions, tuple(assumed), tuple(diffs))


def _diff(before: str, after: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), old, new)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
