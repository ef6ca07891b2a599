"""State round-trips through the status subresource and survives hand-edited garbage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitflagger.model.status import Condition, Phase, State

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def test_round_trip_keeps_every_field() -> None:
    state = State(
        phase=Phase.PROGRESSING,
        canary_weight=30,
        failed_checks=2,
        iterations=1,
        last_applied_spec="sha256:aa",
        last_promoted_spec="sha256:bb",
        tracked_configs={"secret/db": "sha256:2", "configmap/app": "sha256:1"},
        last_transition_time=NOW,
        last_step_time=NOW,
        last_commit="0123abcd",
        step=7,
        mirrored=True,
        condition=Condition(status="Unknown", reason="Progressing", message="New revision detected."),
        session_affinity_cookie="flagger-cookie=LIbQWwnzdh",
        previous_session_affinity_cookie="flagger-cookie=abcdefghij",
    )
    assert State.from_status(state.to_status()) == state


def test_session_affinity_cookies_use_flaggers_names_and_are_left_out_when_unset() -> None:
    status = State(
        session_affinity_cookie="c=AAAAAAAAAA", previous_session_affinity_cookie="c=BBBBBBBBBB"
    ).to_status()
    assert status["sessionAffinityCookie"] == "c=AAAAAAAAAA"
    assert status["previousSessionAffinityCookie"] == "c=BBBBBBBBBB"
    assert "sessionAffinityCookie" not in State().to_status()
    assert "previousSessionAffinityCookie" not in State().to_status()
    flagger = State.from_status({"phase": "Succeeded", "previousSessionAffinityCookie": "c=xYzAbCdEfG"})
    assert flagger.previous_session_affinity_cookie == "c=xYzAbCdEfG"
    assert flagger.session_affinity_cookie == ""


def test_the_primary_cookie_round_trips_under_flaggers_name() -> None:
    state = State(primary_session_affinity_cookie="p=CCCCCCCCCC")
    assert state.to_status()["primarySessionAffinityCookie"] == "p=CCCCCCCCCC"
    assert State.from_status(state.to_status()) == state
    assert "primarySessionAffinityCookie" not in State().to_status()


def test_reads_flagger_status() -> None:
    status = {
        "phase": "Succeeded",
        "canaryWeight": 0,
        "failedChecks": 0,
        "iterations": 0,
        "lastAppliedSpec": "5d7f8c9b4",
        "lastTransitionTime": "2026-11-29T10:00:00Z",
        "conditions": [{"type": "Promoted", "status": "True", "reason": "Succeeded"}],
    }
    state = State.from_status(status)
    assert state.phase is Phase.SUCCEEDED
    assert state.last_applied_spec == "5d7f8c9b4"
    assert state.last_transition_time == NOW
    assert state.condition is not None and state.condition.status == "True"


def test_garbage_fields_read_as_unset() -> None:
    state = State.from_status(
        {
            "phase": "Dancing",
            "canaryWeight": "abc",
            "failedChecks": -3,
            "step": True,
            "trackedConfigs": "nope",
            "conditions": 7,
            "lastTransitionTime": "yesterday",
            "sessionAffinityCookie": 12,
            "previousSessionAffinityCookie": ["c=x"],
            "primarySessionAffinityCookie": {"p": 1},
        }
    )
    assert state == State()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
status_keys = st.sampled_from(
    [
        "phase",
        "canaryWeight",
        "failedChecks",
        "iterations",
        "lastAppliedSpec",
        "trackedConfigs",
        "lastTransitionTime",
        "lastStepTime",
        "conditions",
        "step",
        "mirrored",
        "lastCommit",
        "sessionAffinityCookie",
        "previousSessionAffinityCookie",
        "primarySessionAffinityCookie",
    ]
)


@given(st.dictionaries(status_keys, json_values) | json_values)
def test_from_status_never_raises(status: Any) -> None:
    state = State.from_status(status)
    assert 0 <= state.canary_weight <= 100 and state.failed_checks >= 0
