"""The scripted timeline ``gitflagger simulate`` plays against a Canary.

A timeline file is a YAML list of entries::

    - tick: 0                 # the Canary is created: initialization happens here
      metrics: {request-success-rate: 99.9, request-duration: 120}
    - tick: 1
      image: ghcr.io/stefanprodan/podinfo:6.0.1
    - tick: 4
      metrics: {request-success-rate: 95}
      webhooks: {load-test: fail}
      canaryReady: false

or a mapping with that list under ``timeline:`` and a ``start:`` time for tick 0
(default 2026-01-01T00:00:00Z).

Each tick is one analysis interval. An entry holds from its tick until the next
entry; ``metrics`` and ``webhooks`` merge over earlier values (a metric set to
``null`` reads as "no values found" again, as does one never given);
``canaryReady``/``primaryReady`` hold until changed; ``image`` sets the target's
first container image (a new revision); ``manual`` (promote, abort, retry) is an
operator's command and applies to its own tick only.

Validation reports every problem with its place (``timeline[2].metrcs: unknown
key``), because a timeline is typed by hand and a silently ignored typo makes a
simulation lie.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from os import PathLike
from typing import Any

from gitflagger.adapters.files import read_text
from gitflagger.decide.observation import ManualIntent
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.documents import parse_yaml
from gitflagger.model.status import parse_time

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
_ENTRY_KEYS = ("tick", "metrics", "image", "canaryReady", "primaryReady", "webhooks", "manual")
_VERDICTS = {"pass": True, "fail": False}


@dataclass(frozen=True)
class Entry:
    """One timeline entry as written: only the facts it sets."""

    tick: int
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    image: str | None = None
    canary_ready: bool | None = None
    primary_ready: bool | None = None
    webhooks: Mapping[str, bool] = field(default_factory=dict)
    manual: ManualIntent | None = None


@dataclass(frozen=True)
class World:
    """What holds at one tick: every entry up to it, merged."""

    tick: int = 0
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    image: str | None = None
    canary_ready: bool = True
    primary_ready: bool = True
    webhooks: Mapping[str, bool] = field(default_factory=dict)
    manual: ManualIntent | None = None

    def apply(self, entry: Entry) -> World:
        """This world with ``entry`` laid over it (at the entry's own tick)."""
        return replace(
            self,
            tick=entry.tick,
            metrics={**self.metrics, **entry.metrics},
            image=entry.image if entry.image is not None else self.image,
            canary_ready=self.canary_ready if entry.canary_ready is None else entry.canary_ready,
            primary_ready=self.primary_ready if entry.primary_ready is None else entry.primary_ready,
            webhooks={**self.webhooks, **entry.webhooks},
            manual=entry.manual,
        )


@dataclass(frozen=True)
class Timeline:
    entries: tuple[Entry, ...]
    start: datetime = DEFAULT_START

    def worlds(self, ticks: int) -> list[World]:
        """The world at each tick ``0 .. ticks-1``; ticks between entries repeat the last one."""
        by_tick = {e.tick: e for e in self.entries}
        world = World()
        out = []
        for tick in range(ticks):
            entry = by_tick.get(tick)
            world = world.apply(entry) if entry else replace(world, tick=tick, manual=None)
            out.append(world)
        return out


def load_timeline(path: str | PathLike[str]) -> Timeline:
    """Read and validate a timeline file (one YAML document)."""
    docs = [doc for doc in parse_yaml(read_text(path), source=str(path)) if doc is not None]
    if len(docs) != 1:
        problem = FieldProblem(str(path), f"expected one YAML document, found {len(docs)}")
        raise ValidationError([problem], subject="timeline")
    return parse_timeline(docs[0])


def parse_timeline(doc: Any) -> Timeline:
    """Validate a loaded timeline document; raise :class:`ValidationError` naming every bad field.

    The document is either the list of entries itself or a mapping with that list
    under ``timeline:`` and an optional ``start:`` time.
    """
    if isinstance(doc, list):
        doc = {"timeline": doc}
    if not isinstance(doc, Mapping):
        problem = FieldProblem("(document)", "must be a list of entries, or a mapping with a timeline list")
        raise ValidationError([problem], subject="timeline")
    problems: list[FieldProblem] = []
    start = DEFAULT_START
    for key in doc:
        if key not in ("start", "timeline"):
            problems.append(FieldProblem(str(key), "unknown key (expected start, timeline)"))
    if "start" in doc:
        parsed = parse_time(doc["start"])
        if parsed is None:
            problems.append(FieldProblem("start", f"not an RFC 3339 time: {doc['start']!r}"))
        else:
            start = parsed
    raw_entries = doc.get("timeline")
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append(FieldProblem("timeline", "required: a list of entries, each with a tick"))
        raise ValidationError(problems, subject="timeline")
    entries: list[Entry] = []
    last_tick = -1
    for index, raw in enumerate(raw_entries):
        where = f"timeline[{index}]"
        entry = _parse_entry(raw, where, problems)
        if entry is None:
            continue
        if entry.tick <= last_tick:
            problems.append(
                FieldProblem(f"{where}.tick", f"must be greater than the previous tick {last_tick}")
            )
        last_tick = max(last_tick, entry.tick)
        entries.append(entry)
    if problems:
        raise ValidationError(problems, subject="timeline")
    return Timeline(tuple(entries), start)


def _parse_entry(raw: Any, where: str, problems: list[FieldProblem]) -> Entry | None:
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(where, "must be a mapping with a tick"))
        return None
    for key in raw:
        if key not in _ENTRY_KEYS:
            problems.append(FieldProblem(f"{where}.{key}", "unknown key"))
    tick = raw.get("tick")
    if not isinstance(tick, int) or isinstance(tick, bool) or tick < 0:
        problems.append(FieldProblem(f"{where}.tick", f"must be a non-negative integer, got {tick!r}"))
        return None
    return Entry(
        tick=tick,
        metrics=_numbers(raw.get("metrics", {}), f"{where}.metrics", problems),
        image=_text(raw.get("image"), f"{where}.image", problems),
        canary_ready=_flag(raw.get("canaryReady"), f"{where}.canaryReady", problems),
        primary_ready=_flag(raw.get("primaryReady"), f"{where}.primaryReady", problems),
        webhooks=_verdicts(raw.get("webhooks", {}), f"{where}.webhooks", problems),
        manual=_manual(raw.get("manual"), f"{where}.manual", problems),
    )


def _numbers(raw: Any, where: str, problems: list[FieldProblem]) -> dict[str, float | None]:
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(where, "must map metric names to numbers"))
        return {}
    out: dict[str, float | None] = {}
    for name, value in raw.items():
        if value is None:
            out[str(name)] = None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[str(name)] = float(value)
        else:
            problems.append(FieldProblem(f"{where}.{name}", f"must be a number or null, got {value!r}"))
    return out


def _verdicts(raw: Any, where: str, problems: list[FieldProblem]) -> dict[str, bool]:
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(where, "must map webhook names to pass or fail"))
        return {}
    out: dict[str, bool] = {}
    for name, value in raw.items():
        if value in _VERDICTS:
            out[str(name)] = _VERDICTS[value]
        else:
            problems.append(FieldProblem(f"{where}.{name}", f"must be pass or fail, got {value!r}"))
    return out


def _text(raw: Any, where: str, problems: list[FieldProblem]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        problems.append(FieldProblem(where, f"must be a non-empty string, got {raw!r}"))
        return None
    return raw.strip()


def _flag(raw: Any, where: str, problems: list[FieldProblem]) -> bool | None:
    if raw is None or isinstance(raw, bool):
        return raw
    problems.append(FieldProblem(where, f"must be true or false, got {raw!r}"))
    return None


def _manual(raw: Any, where: str, problems: list[FieldProblem]) -> ManualIntent | None:
    if raw is None:
        return None
    if raw in ManualIntent._value2member_map_:
        return ManualIntent(raw)
    choices = ", ".join(m.value for m in ManualIntent)
    problems.append(FieldProblem(where, f"must be one of {choices}, got {raw!r}"))
    return None
