"""A Canary's recorded steps read back in full for the report: trailers, evidence and manifest diff.

:mod:`~gitflagger.adapters.git.history` finds the step commits (one read per
step, following ``Previous-Step``); this module reads what each one says, the
sections :mod:`~gitflagger.adapters.git.message` writes (``Events:``,
``Metrics:``, ``Gates:``) and the trailers, and diffs the Canary's directory
against the commit's parent. Nothing but git is read.
"""

from __future__ import annotations

import re

import pygit2

from gitflagger.adapters.git.history import history_at
from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.trailers import parse_trailers
from gitflagger.render.report import Gate, Metric, StepRecord

_GATE = re.compile(
    r"^(?P<name>.+?)(?: \((?P<kind>[a-z-]+)\))?: (?P<verdict>pass|fail)(?:: (?P<message>.*))?$"
)
_BOUNDS = re.compile(r"^(?P<value>.*) \((?P<bounds>(?:min|max|no bounds)[^()]*)\)$")
MAX_DIFF_CHARS = 20_000
"""A step's diff is cut after this many characters (and says so): a huge ConfigMap must not swell a report."""


def read_steps(
    repo: pygit2.Repository, head: pygit2.Oid | str, canary: str, *, prefix: str
) -> list[StepRecord]:
    """Every recorded step of ``canary`` (``ns/name``) at ``head``, oldest first."""
    entries = history_at(repo, head, canary, prefix=prefix)
    namespace, _, name = canary.partition("/")
    directory = "/".join(canary_directory(prefix, namespace, name))
    steps = []
    for entry in reversed(entries):
        commit = repo[entry.commit].peel(pygit2.Commit)
        sections = _sections(commit.message)
        t = entry.trailers
        steps.append(StepRecord(
            commit=entry.commit,
            time=entry.time,
            subject=entry.subject,
            phase=t.phase,
            canary_weight=t.canary_weight,
            primary_weight=t.primary_weight,
            failed_checks=t.failed_checks,
            revision=t.revision,
            trailers=tuple(parse_trailers(commit.message).items()),
            events=tuple(sections.get("Events", ())),
            metrics=tuple(_metric(line) for line in sections.get("Metrics", ())),
            gates=tuple(g for g in (_gate(line) for line in sections.get("Gates", ())) if g is not None),
            diff=_diff(repo, commit, directory),
        ))
    return steps


def _sections(message: str) -> dict[str, list[str]]:
    """``Events:``, ``Metrics:`` and ``Gates:`` paragraphs → their ``- `` lines, as written."""
    out: dict[str, list[str]] = {}
    for paragraph in message.split("\n\n")[1:]:
        head, _, rest = paragraph.partition("\n")
        if head in ("Events:", "Metrics:", "Gates:"):
            out[head[:-1]] = [line.removeprefix("- ") for line in rest.splitlines() if line.startswith("- ")]
    return out


def _metric(line: str) -> Metric:
    """``request-success-rate: 95.5 (min 99) fail`` → its parts; an unknown shape keeps its text."""
    name, _, rest = line.partition(": ")
    verdict = ""
    if rest.endswith((" pass", " fail")):
        rest, verdict = rest[:-5], rest[-4:]
    low = high = None
    match = _BOUNDS.match(rest)
    if match is not None:
        rest = match.group("value")
        for part in match.group("bounds").split(", "):
            kind, _, number = part.partition(" ")
            if kind == "min":
                low = _float(number)
            elif kind == "max":
                high = _float(number)
    return Metric(name=name, value=_float(rest), text=rest, min=low, max=high, passed=verdict != "fail")


def _gate(line: str) -> Gate | None:
    match = _GATE.match(line)
    if match is None:
        return None
    return Gate(match.group("name"), match.group("kind") or "", match.group("verdict") == "pass",
                match.group("message") or "")


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _diff(repo: pygit2.Repository, commit: pygit2.Commit, directory: str) -> str:
    new = _subtree(commit, directory)
    old = _subtree(commit.parents[0], directory) if commit.parents else None
    if new is None and old is None:
        return ""
    if old is None:
        assert new is not None
        patch = new.diff_to_tree(swap=True).patch or ""
    elif new is None:
        patch = old.diff_to_tree().patch or ""
    else:
        patch = old.diff_to_tree(new).patch or ""
    if len(patch) > MAX_DIFF_CHARS:
        patch = patch[:MAX_DIFF_CHARS] + f"\n… cut at {MAX_DIFF_CHARS} characters: git show {commit.id}\n"
    return patch


def _subtree(commit: pygit2.Commit, directory: str) -> pygit2.Tree | None:
    try:
        obj = commit.tree[directory]
    except KeyError:
        return None
    return obj if isinstance(obj, pygit2.Tree) else None
