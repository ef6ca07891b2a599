"""Batches: a pass's commits held in memory, then one pack, one branch update and the index refs at once."""

from __future__ import annotations

import errno
import subprocess
from collections import Counter
from pathlib import Path

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitflagger.adapters.git import GitRecorder, SkipReason, StepTrailers, open_repository
from gitflagger.adapters.git.latest import canary_ref_name, latest_step_commit
from gitflagger.adapters.git.maintenance import PACK_LIMIT, due, maintain, pack_count
from gitflagger.adapters.git.pack import encode_pack, write_pack
from gitflagger.errors import TemporaryError
from tests.unit.record.steps import head_commits, manifests, podinfo, step


def git(git_dir: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["git", "--git-dir", str(git_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def loose_objects(git_dir: Path | str) -> int:
    objects = Path(git_dir) / "objects"
    return sum(1 for d in objects.iterdir() if len(d.name) == 2 for _ in d.iterdir())


def trailers_of(repo: pygit2.Repository) -> list[StepTrailers]:
    out = []
    for commit in reversed(head_commits(repo)):
        trailers = StepTrailers.from_message(commit.message)
        assert trailers is not None
        out.append(trailers)
    return out


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return open_repository(tmp_path / "config")


# ---- the pack format ---------------------------------------------------------------------------------


def test_a_written_pack_is_valid_for_git(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    blobs = {pygit2.hash(b"x" * size): (3, b"x" * size) for size in (0, 1, 15, 16, 127, 128, 5000, 70_000)}

    path = write_pack(Path(repo.path) / "objects", blobs)

    assert path is not None and path.exists() and path.with_suffix(".idx").exists()
    verified = git(repo.path, "verify-pack", "-v", str(path.with_suffix(".idx")))
    assert verified.returncode == 0, verified.stderr
    assert f"non delta: {len(blobs)} objects" in verified.stdout
    fresh = pygit2.Repository(repo.path)
    for oid, (_, data) in blobs.items():
        assert fresh[oid].data == data
    assert not list((Path(repo.path) / "objects" / "pack").glob("tmp_pack_*"))


def test_the_index_lists_sorted_ids_and_the_packs_checksum() -> None:
    blobs = {pygit2.hash(b"%d" % i): (3, b"%d" % i) for i in range(300)}

    pack, idx, name = encode_pack(blobs)

    assert pack[:4] == b"PACK" and int.from_bytes(pack[8:12], "big") == 300
    assert idx[:8] == b"\377tOc\x00\x00\x00\x02"
    assert int.from_bytes(idx[8 + 255 * 4 : 8 + 256 * 4], "big") == 300  # the fan-out's last entry
    ids = [idx[1032 + 20 * i : 1032 + 20 * (i + 1)] for i in range(300)]
    assert ids == sorted(oid.raw for oid in blobs)
    assert idx[-40:-20].hex() == name == pack[-20:].hex()


def test_an_empty_batch_writes_no_pack(tmp_path: Path) -> None:
    assert write_pack(tmp_path / "objects", {}) is None
    assert not (tmp_path / "objects").exists()


# ---- batches -----------------------------------------------------------------------------------------


def test_a_batch_writes_nothing_until_persisted(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))  # an unbatched step: loose objects, the branch moves at once
    before = head_commits(repo)[0].id
    loose = loose_objects(repo.path)

    recorder.begin()
    results = [recorder.record(step(n, canary=podinfo(f"app{n}"), weight=10)) for n in range(1, 6)]

    assert all(r.commit_id for r in results)
    assert head_commits(pygit2.Repository(repo.path))[0].id == before
    assert loose_objects(repo.path) == loose
    assert pack_count(repo.path) == 0

    persisted = recorder.persist()

    fresh = pygit2.Repository(repo.path)
    assert persisted.head == str(head_commits(fresh)[0].id) == results[-1].commit_id
    assert persisted.commits == 5 and persisted.rewritten == {} and persisted.dropped == {}
    assert [t.canary for t in trailers_of(fresh)] == ["test/podinfo", *(f"test/app{n}" for n in range(1, 6))]
    assert loose_objects(repo.path) == loose and pack_count(repo.path) == 1
    fsck = git(repo.path, "fsck", "--strict", "--no-dangling")
    assert fsck.returncode == 0, fsck.stderr


def test_a_batch_records_the_same_history_as_single_steps(tmp_path: Path) -> None:
    def play(recorder: GitRecorder, batched: bool) -> None:
        for number in range(1, 4):
            if batched:
                recorder.begin()
            for index in range(3):
                recorder.record(step(number, canary=podinfo(f"app{index}"), weight=number * 10))
                recorder.record(step(number, canary=podinfo(f"app{index}"), weight=number * 10))  # a retry
            recorder.flush()

    single, batched = open_repository(tmp_path / "single"), open_repository(tmp_path / "batched")
    play(GitRecorder(single, maintenance_threshold=0), batched=False)
    play(GitRecorder(batched, maintenance_threshold=0), batched=True)

    # same trees, messages and parents: the very same commit ids
    assert [c.id for c in head_commits(batched)] == [c.id for c in head_commits(single)]
    assert len(head_commits(batched)) == 9


def test_a_step_twice_in_one_batch_is_a_duplicate_and_previous_step_chains(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.begin()
    first = recorder.record(step(1))
    again = recorder.record(step(1, items=manifests("podinfo:6.0.9")))
    second = recorder.record(step(2, weight=20))
    recorder.persist()

    assert again.skipped_reason is SkipReason.DUPLICATE_STEP
    steps = trailers_of(pygit2.Repository(repo.path))
    assert [t.step_id.rsplit("/", 1)[1] for t in steps] == ["1", "2"]
    assert steps[1].previous_step == first.commit_id
    ref = repo.references.get(canary_ref_name(("local", "test", "podinfo")) or "")
    assert ref is not None and str(ref.target) == second.commit_id


def test_index_refs_go_to_packed_refs_and_shadowing_loose_ones_are_removed(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))  # unbatched: a loose index ref
    loose_ref = Path(repo.path) / "refs" / "gitflagger" / "canaries" / "local" / "test" / "podinfo"
    assert loose_ref.exists()

    recorder.begin()
    latest = recorder.record(step(2, weight=20))
    recorder.record(step(1, canary=podinfo("other")))
    recorder.persist()

    assert not loose_ref.exists()
    packed = (Path(repo.path) / "packed-refs").read_text()
    assert f"{latest.commit_id} refs/gitflagger/canaries/local/test/podinfo\n" in packed
    assert "refs/gitflagger/canaries/local/test/other\n" in packed
    listed = git(repo.path, "for-each-ref", "--format=%(objectname) %(refname)", "refs/gitflagger/")
    assert f"{latest.commit_id} refs/gitflagger/canaries/local/test/podinfo" in listed.stdout
    fresh = pygit2.Repository(repo.path)
    head = head_commits(fresh)[0]
    found = latest_step_commit(fresh, head, ("local", "test", "podinfo"), "test/podinfo")
    assert found is not None and str(found.id) == latest.commit_id


def test_a_held_packed_refs_lock_falls_back_to_loose_index_refs(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    lock = Path(repo.path) / "packed-refs.lock"
    lock.write_text("")  # git pack-refs is running
    recorder.begin()
    result = recorder.record(step(1))
    recorder.persist()

    ref = Path(repo.path) / "refs" / "gitflagger" / "canaries" / "local" / "test" / "podinfo"
    assert ref.read_text().strip() == result.commit_id
    assert lock.read_text() == ""  # not ours: left alone


def test_a_discarded_batch_leaves_the_branch_alone(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))
    before = head_commits(repo)[0].id
    recorder.begin()
    recorder.record(step(2, weight=20))
    recorder.discard()

    assert head_commits(pygit2.Repository(repo.path))[0].id == before
    assert recorder.record(step(2, weight=20)).commit_id  # recorded afresh, unbatched
    assert [t.canary_weight for t in trailers_of(pygit2.Repository(repo.path))] == [10, 20]


def test_a_step_another_writer_recorded_meanwhile_is_not_recorded_twice(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))
    recorder.begin()
    mine = recorder.record(step(2, weight=20))
    theirs = GitRecorder(pygit2.Repository(repo.path)).record(step(2, weight=20, items=manifests("x:1")))

    persisted = recorder.persist()

    assert persisted.final(mine.commit_id) == theirs.commit_id
    steps = trailers_of(pygit2.Repository(repo.path))
    assert [t.step_id.rsplit("/", 1)[1] for t in steps] == ["1", "2"]


def test_a_branch_moved_during_the_batch_gets_the_batch_replayed_on_top(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))
    recorder.begin()
    mine = recorder.record(step(2, weight=20))
    other = GitRecorder(pygit2.Repository(repo.path), maintenance_threshold=0)
    theirs = other.record(step(1, canary=podinfo("frontend", "prod")))  # another writer, meanwhile

    persisted = recorder.persist()

    fresh = pygit2.Repository(repo.path)
    commits = head_commits(fresh)
    assert [t.canary for t in trailers_of(fresh)] == ["test/podinfo", "prod/frontend", "test/podinfo"]
    assert str(commits[1].id) == theirs.commit_id
    assert persisted.final(mine.commit_id) == str(commits[0].id) != mine.commit_id
    assert persisted.head == str(commits[0].id)
    assert StepTrailers.from_message(commits[0].message).previous_step == str(commits[2].id)  # type: ignore[union-attr]
    ref = fresh.references.get(canary_ref_name(("local", "test", "podinfo")) or "")
    assert ref is not None and str(ref.target) == str(commits[0].id)


def test_a_conflicting_writer_drops_only_that_canarys_steps(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))
    recorder.begin()
    mine = recorder.record(step(2, weight=20))
    kept = recorder.record(step(1, canary=podinfo("other")))
    GitRecorder(pygit2.Repository(repo.path)).record(step(3, weight=30))  # the same Canary, another step

    persisted = recorder.persist()

    assert mine.commit_id in persisted.dropped and persisted.final(mine.commit_id) is None
    assert persisted.final(kept.commit_id) is not None
    weights = [(t.canary, t.canary_weight) for t in trailers_of(pygit2.Repository(repo.path))]
    assert weights == [("test/podinfo", 10), ("test/podinfo", 30), ("test/other", 10)]


def test_maintenance_is_due_when_packs_pile_up(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=2000)
    for number in range(1, PACK_LIMIT + 3):
        recorder.begin()
        recorder.record(step(number, weight=number % 100))
        recorder.persist()
    assert pack_count(repo.path) > PACK_LIMIT
    assert due(repo.path, 2000)
    assert not due(repo.path, 0)

    report = maintain(repo.path)  # folds the packs the recorder still has open

    assert report.failed is None and pack_count(repo.path) < PACK_LIMIT
    recorder.begin()
    assert recorder.record(step(PACK_LIMIT + 3, weight=1)).commit_id
    recorder.persist()
    assert len(head_commits(pygit2.Repository(repo.path))) == PACK_LIMIT + 3
    assert git(repo.path, "fsck", "--strict", "--no-dangling").returncode == 0


# ---- the property: whatever the interleaving, no step is recorded twice or lost ----------------------

operations = st.lists(
    st.tuples(st.sampled_from(["record", "retry", "persist", "discard"]), st.integers(0, 2)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_no_step_is_recorded_twice_or_lost(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]
) -> None:
    repo = open_repository(tmp_path_factory.mktemp("prop") / "config")
    recorder = GitRecorder(repo, maintenance_threshold=0)
    durable: dict[int, int] = dict.fromkeys(range(3), 0)  # per canary: steps made durable
    pending: dict[int, int] = dict.fromkeys(range(3), 0)  # per canary: steps in the open batch
    for op, index in ops:
        canary = podinfo(f"app{index}")
        if op in ("record", "retry"):
            if op == "record" or durable[index] + pending[index] == 0:
                number = durable[index] + pending[index] + 1
            else:
                number = durable[index] + pending[index]  # the same step again
            if not recorder.batching and op == "record":
                recorder.begin()
            result = recorder.record(step(number, canary=canary, weight=number % 100))
            if result.commit_id is not None:
                (pending if recorder.batching else durable)[index] += 1
        elif op == "persist":
            recorder.persist()
            for i in durable:
                durable[i] += pending[i]
                pending[i] = 0
        else:
            recorder.discard()
            pending = dict.fromkeys(range(3), 0)
    recorder.persist()
    for i in durable:
        durable[i] += pending[i]

    found = Counter(t.step_id for t in trailers_of(pygit2.Repository(repo.path)))
    assert all(count == 1 for count in found.values())
    assert sum(found.values()) == sum(durable.values())


def test_a_pack_that_cannot_be_written_is_a_temporary_error_and_nothing_moves(
    repo: pygit2.Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.record(step(1))
    before = head_commits(repo)[0].id

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("gitflagger.adapters.git.recorder.write_pack", disk_full)
    recorder.begin()
    recorder.record(step(2, weight=20))
    with pytest.raises(TemporaryError, match=r"cannot persist 1 steps: .*No space left"):
        recorder.persist()

    assert head_commits(pygit2.Repository(repo.path))[0].id == before
    assert not recorder.batching
    monkeypatch.undo()
    assert recorder.record(step(2, weight=20)).commit_id  # the retry records it, once


def test_previous_step_follows_another_writers_step_between_two_batches(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, maintenance_threshold=0)
    recorder.begin()
    recorder.record(step(1))
    recorder.persist()
    theirs = GitRecorder(pygit2.Repository(repo.path)).record(step(2, weight=20))  # another writer

    recorder.begin()
    again = recorder.record(step(2, weight=20))  # that writer's step, retried here: a duplicate
    mine = recorder.record(step(3, weight=30))
    recorder.persist()

    steps = trailers_of(pygit2.Repository(repo.path))
    assert [t.canary_weight for t in steps] == [10, 20, 30]
    assert steps[2].previous_step == theirs.commit_id
    assert mine.commit_id and again.skipped_reason is not None
