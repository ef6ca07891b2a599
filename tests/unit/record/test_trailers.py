"""Trailers and commit messages: the exact format, and reading it back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git.message import compose_message, read_metrics
from gitflagger.adapters.git.trailers import StepTrailers, canary_uid, parse_trailers
from gitflagger.decide.observation import MetricOutcome, MetricResult, WebhookResult
from tests.unit.record.steps import podinfo

TRAILERS = StepTrailers(
    canary="test/podinfo",
    phase="Failed",
    canary_weight=0,
    primary_weight=100,
    failed_checks=5,
    iterations=0,
    revision="sha256:abc",
    step_id="uid-1/sha256:abc/9",
)


def test_trailers_render_exactly() -> None:
    assert TRAILERS.render() == (
        "Canary: test/podinfo\n"
        "Phase: Failed\n"
        "Canary-Weight: 0\n"
        "Primary-Weight: 100\n"
        "Failed-Checks: 5\n"
        "Iterations: 0\n"
        "Revision: sha256:abc\n"
        "Step-Id: uid-1/sha256:abc/9"
    )


def test_trailers_round_trip_through_a_message() -> None:
    message = compose_message(
        subject="podinfo.test: rollback",
        events=("Rolling back podinfo.test failed checks threshold reached 5",),
        canary=podinfo(),
        metrics={},
        webhooks={},
        trailers=TRAILERS,
    )
    assert StepTrailers.from_message(message) == TRAILERS


def test_libgit2_reads_the_same_trailers(tmp_path: Path) -> None:
    message = compose_message(
        subject="s", events=(), canary=podinfo(), metrics={}, webhooks={}, trailers=TRAILERS
    )
    repo = pygit2.init_repository(str(tmp_path), bare=True)
    sig = pygit2.Signature("t", "t@t", 0, 0)
    tree = repo.TreeBuilder().write()
    commit = repo[repo.create_commit(None, sig, sig, message, tree, [])].peel(pygit2.Commit)
    assert commit.message_trailers == {
        "Canary": "test/podinfo",
        "Phase": "Failed",
        "Canary-Weight": "0",
        "Primary-Weight": "100",
        "Failed-Checks": "5",
        "Iterations": "0",
        "Revision": "sha256:abc",
        "Step-Id": "uid-1/sha256:abc/9",
    }


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("subject only", {}, id="no-body"),
        pytest.param("subject\n\nPhase: Failed\n", {"Phase": "Failed"}, id="one-trailer"),
        pytest.param("subject\n\nprose here\nPhase: Failed\n", {}, id="prose-in-last-paragraph"),
        pytest.param("subject\n\nPhase: Failed\n\nthanks!\n", {}, id="trailers-not-last"),
        pytest.param(
            "subject\n\nNote: long\n  continued\nPhase: Failed\n",
            {"Note": "long continued", "Phase": "Failed"},
            id="continuation-line",
        ),
        pytest.param("Phase: Failed\n", {}, id="a-subject-is-never-a-trailer"),
    ],
)
def test_parse_trailers(message: str, expected: dict[str, str]) -> None:
    assert parse_trailers(message) == expected


def test_commits_not_written_by_gitflagger_have_no_step() -> None:
    assert StepTrailers.from_message("Update README\n\nSigned-off-by: A <a@b>\n") is None
    broken = TRAILERS.render().replace("Canary-Weight: 0", "Canary-Weight: zero")
    assert StepTrailers.from_message("s\n\n" + broken) is None


def test_older_messages_without_the_optional_trailers_still_read() -> None:
    lines = [line for line in TRAILERS.render().splitlines() if not line.startswith(("Primary-", "Iter"))]
    read = StepTrailers.from_message("s\n\n" + "\n".join(lines))
    assert read == TRAILERS


def test_canary_uid_is_metadata_uid_or_stable() -> None:
    canary = podinfo()
    assert canary_uid(canary) == canary_uid(podinfo())
    assert canary_uid(canary) != canary_uid(podinfo("other"))
    assert canary_uid(dataclasses.replace(canary, uid="1234-5678")) == "1234-5678"


def test_body_lines_name_each_metric_outcome_and_gate() -> None:
    message = compose_message(
        subject="podinfo.test: halt advancement",
        events=("Halt advancement no values found\nCanary: forged/trailer",),
        canary=podinfo(),
        metrics={
            "request-success-rate": MetricResult.no_values("request-success-rate"),
            "request-duration": MetricResult.failed("request-duration", "connection refused\nretry"),
            "custom": MetricResult.of("custom", 1 / 3),
        },
        webhooks={"load-test": WebhookResult("load-test", ok=False, message="HTTP 500")},
        trailers=TRAILERS,
    )
    body = message.split("\n\n")[1:-1]
    assert body == [
        "Events:\n- Halt advancement no values found Canary: forged/trailer",
        "Metrics:\n"
        "- custom: 0.3333333333\n"
        "- request-duration: query error: connection refused retry (max 500) fail\n"
        "- request-success-rate: no values found (min 99) fail",
        "Gates:\n- load-test (rollout): fail: HTTP 500",
    ]
    assert StepTrailers.from_message(message) == TRAILERS


def test_an_empty_subject_falls_back_to_the_phase() -> None:
    message = compose_message(
        subject="", events=(), canary=podinfo(), metrics={}, webhooks={}, trailers=TRAILERS
    )
    assert message.startswith("podinfo.test: failed\n\nCanary: test/podinfo\n")


def test_free_texts_in_a_message_are_redacted_and_names_and_numbers_are_not() -> None:
    secret = "s3cr3t-in-an-answer"
    message = compose_message(
        subject="podinfo.test: halt advancement",
        events=(f"Halt podinfo.test advancement: POST http://h/?token={secret}: HTTP 403",),
        canary=podinfo(),
        metrics={
            "auth-errors": MetricResult.of("auth-errors", 1.5),
            "token-rate": MetricResult("token-rate", MetricOutcome.ERROR, error=f"GET ?api_key={secret} 401"),
        },
        webhooks={"load-test": WebhookResult("load-test", False, f"HTTP 403: curl -u ops:{secret} refused")},
        trailers=TRAILERS,
    )
    assert secret not in message
    assert "fail: HTTP 403: curl -u <redacted> refused" in message
    assert "- auth-errors: 1.5" in message  # a metric whose name looks sensitive keeps its value
    assert read_metrics(message)["auth-errors"] == "1.5"
    assert StepTrailers.from_message(message) == TRAILERS
