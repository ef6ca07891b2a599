"""Manual intents as commits: recorded, read back at the head, acknowledged exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import open_repository
from gitflagger.adapters.git.intents import (
    acknowledge_intent,
    intent_path,
    intent_trailers,
    read_intent,
    record_intent,
)
from gitflagger.adapters.git.tree import read_directory, replace_directory
from gitflagger.decide import ManualIntent
from gitflagger.errors import PermanentError

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def repo(tmp_path: Path) -> pygit2.Repository:
    return open_repository(tmp_path / "config.git")


def test_an_intent_is_a_commit_with_a_trailer_and_reads_back(tmp_path: Path) -> None:
    r = repo(tmp_path)
    sha = record_intent(r, "test/podinfo", ManualIntent.PROMOTE, now=NOW)

    commit = r[sha]
    assert commit.message.startswith("podinfo.test: promote requested\n")
    assert intent_trailers(commit.message) == ("test/podinfo", "promote")
    pending = read_intent(r, "test/podinfo")
    assert pending is not None
    assert (pending.intent, pending.requested_at, pending.requested_by) == (
        ManualIntent.PROMOTE,
        NOW,
        "gitflagger",
    )
    assert read_intent(r, "test/other") is None


def test_the_last_word_wins_and_acknowledging_removes_it(tmp_path: Path) -> None:
    r = repo(tmp_path)
    record_intent(r, "test/podinfo", ManualIntent.PROMOTE, now=NOW)
    record_intent(r, "test/podinfo", ManualIntent.ABORT, now=NOW)
    pending = read_intent(r, "test/podinfo")
    assert pending is not None and pending.intent is ManualIntent.ABORT

    ack = acknowledge_intent(r, pending, "Rolled back.", now=NOW)

    assert ack is not None
    assert intent_trailers(r[ack].message) == ("test/podinfo", "handled:abort")
    assert read_intent(r, "test/podinfo") is None
    assert acknowledge_intent(r, pending, "again", now=NOW) is None  # nothing left to remove


def test_a_newer_intent_survives_the_acknowledgement_of_an_older_one(tmp_path: Path) -> None:
    r = repo(tmp_path)
    record_intent(r, "test/podinfo", ManualIntent.PROMOTE, now=NOW)
    older = read_intent(r, "test/podinfo")
    assert older is not None
    record_intent(r, "test/podinfo", ManualIntent.ABORT, now=NOW)

    assert acknowledge_intent(r, older, "Promoted.", now=NOW) is None

    newer = read_intent(r, "test/podinfo")
    assert newer is not None and newer.intent is ManualIntent.ABORT


def test_a_hand_edited_intent_file_reads_as_no_intent(tmp_path: Path) -> None:
    r = repo(tmp_path)
    record_intent(r, "test/podinfo", ManualIntent.RETRY, now=NOW)
    path = intent_path("local", "test/podinfo")
    head = r.references["refs/heads/main"].peel(pygit2.Commit)
    folder = read_directory(head.tree, path[:-1])
    builder = r.TreeBuilder(folder)
    builder.insert(path[-1], r.create_blob(b"intent: rollout-everything\n"), pygit2.enums.FileMode.BLOB)
    root = replace_directory(r, head.tree, path[:-1], builder.write())
    sig = pygit2.Signature("someone", "someone@example.com")
    r.create_commit("refs/heads/main", sig, sig, "hand edit", root, [head.id])

    assert read_intent(r, "test/podinfo") is None


def test_no_branch_means_no_intent_and_bad_names_are_refused(tmp_path: Path) -> None:
    r = repo(tmp_path)
    assert read_intent(r, "test/podinfo") is None
    expected = ("clusters", "eu", "test", ".intents", "podinfo.yaml")
    assert intent_path("clusters/eu", "test/podinfo") == expected
    with pytest.raises(PermanentError, match="NAMESPACE/NAME"):
        record_intent(r, "podinfo", ManualIntent.PROMOTE)


def test_intent_trailers_ignore_other_commits() -> None:
    assert intent_trailers("a README edit") is None
    assert intent_trailers("x\n\nCanary: test/podinfo\nPhase: Progressing\n") is None
