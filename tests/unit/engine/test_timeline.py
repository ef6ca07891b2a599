"""The timeline format: what each tick sees, and exact errors for every mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gitflagger.decide.observation import ManualIntent
from gitflagger.engine.timeline import DEFAULT_START, load_timeline, parse_timeline
from gitflagger.errors import ValidationError


def test_entries_hold_until_the_next_and_merge() -> None:
    timeline = parse_timeline(
        {
            "timeline": [
                {"tick": 0, "metrics": {"a": 1, "b": 2.5}},
                {"tick": 2, "image": "app:2", "metrics": {"a": 3}, "canaryReady": False, "manual": "promote"},
                {"tick": 4, "metrics": {"b": None}, "webhooks": {"gate": "fail"}, "canaryReady": True},
            ]
        }
    )
    worlds = timeline.worlds(6)
    assert [w.tick for w in worlds] == [0, 1, 2, 3, 4, 5]
    assert [dict(w.metrics) for w in worlds] == [
        {"a": 1.0, "b": 2.5},
        {"a": 1.0, "b": 2.5},
        {"a": 3.0, "b": 2.5},
        {"a": 3.0, "b": 2.5},
        {"a": 3.0, "b": None},
        {"a": 3.0, "b": None},
    ]
    assert [w.image for w in worlds] == [None, None, "app:2", "app:2", "app:2", "app:2"]
    assert [w.canary_ready for w in worlds] == [True, True, False, False, True, True]
    assert [w.primary_ready for w in worlds] == [True] * 6
    assert [w.manual for w in worlds] == [None, None, ManualIntent.PROMOTE, None, None, None]
    assert [dict(w.webhooks) for w in worlds][3:] == [{}, {"gate": False}, {"gate": False}]
    assert timeline.start == DEFAULT_START


def test_start_time_is_configurable() -> None:
    timeline = parse_timeline({"start": "2030-05-01T12:00:00Z", "timeline": [{"tick": 0}]})
    assert timeline.start == datetime(2030, 5, 1, 12, tzinfo=UTC)


def test_load_timeline_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("start: 2030-05-01T12:00:00Z\ntimeline:\n  - tick: 0\n    metrics: {a: 99.9}\n")
    timeline = load_timeline(path)
    assert timeline.start == datetime(2030, 5, 1, 12, tzinfo=UTC)
    assert dict(timeline.entries[0].metrics) == {"a": 99.9}


def _error(doc: Any) -> str:
    with pytest.raises(ValidationError) as err:
        parse_timeline(doc)
    return str(err.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(
            {"timeline": [{"tick": 0}, {"tick": 1}, {"tick": 2, "metrcs": {}}]},
            "invalid timeline: timeline[2].metrcs: unknown key",
            id="unknown-entry-key",
        ),
        pytest.param(
            {"timeline": [{"tick": 3}, {"tick": 3}]},
            "invalid timeline: timeline[1].tick: must be greater than the previous tick 3",
            id="tick-not-increasing",
        ),
        pytest.param(
            {"timeline": [{"tick": "1"}]},
            "invalid timeline: timeline[0].tick: must be a non-negative integer, got '1'",
            id="tick-not-int",
        ),
        pytest.param(
            {"timeline": [{"tick": True}]},
            "invalid timeline: timeline[0].tick: must be a non-negative integer, got True",
            id="tick-bool",
        ),
        pytest.param(
            {"timeline": [{"metrics": {}}]},
            "invalid timeline: timeline[0].tick: must be a non-negative integer, got None",
            id="tick-missing",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "metrics": {"success": "high"}}]},
            "invalid timeline: timeline[0].metrics.success: must be a number or null, got 'high'",
            id="metric-not-number",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "metrics": [1]}]},
            "invalid timeline: timeline[0].metrics: must map metric names to numbers",
            id="metrics-not-mapping",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "webhooks": {"load-test": "ok"}}]},
            "invalid timeline: timeline[0].webhooks.load-test: must be pass or fail, got 'ok'",
            id="webhook-verdict",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "canaryReady": "yes"}]},
            "invalid timeline: timeline[0].canaryReady: must be true or false, got 'yes'",
            id="ready-not-bool",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "image": ""}]},
            "invalid timeline: timeline[0].image: must be a non-empty string, got ''",
            id="image-empty",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "manual": "rollback"}]},
            "invalid timeline: timeline[0].manual: must be one of promote, abort, retry, got 'rollback'",
            id="manual-unknown",
        ),
        pytest.param(
            {"timeline": [{"tick": 0}, "tick 1"]},
            "invalid timeline: timeline[1]: must be a mapping with a tick",
            id="entry-not-mapping",
        ),
        pytest.param(
            {"timline": [{"tick": 0}]},
            "invalid timeline: timline: unknown key (expected start, timeline); "
            "timeline: required: a list of entries, each with a tick",
            id="top-level-typo",
        ),
        pytest.param(
            {"start": "yesterday", "timeline": [{"tick": 0}]},
            "invalid timeline: start: not an RFC 3339 time: 'yesterday'",
            id="bad-start",
        ),
        pytest.param(
            "tick: 0",
            "invalid timeline: (document): must be a list of entries, or a mapping with a timeline list",
            id="not-a-list",
        ),
        pytest.param(
            {"timeline": [{"tick": 0, "metrcs": {}, "image": 5}, {"tick": 0}]},
            "invalid timeline: timeline[0].metrcs: unknown key; "
            "timeline[0].image: must be a non-empty string, got 5; "
            "timeline[1].tick: must be greater than the previous tick 0",
            id="every-problem-at-once",
        ),
    ],
)
def test_validation_errors_are_exact(doc: Any, message: str) -> None:
    assert _error(doc) == message


def test_a_bare_list_is_a_timeline(tmp_path: Path) -> None:
    path = tmp_path / "timeline.yaml"
    path.write_text("- tick: 0\n  metrics: {request-success-rate: 99}\n- tick: 1\n  image: podinfo:2\n")
    timeline = load_timeline(path)
    assert [e.tick for e in timeline.entries] == [0, 1]
    assert timeline.start == DEFAULT_START
