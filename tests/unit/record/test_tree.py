"""Writing a Canary directory: blobs the repository already holds are not written again."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitflagger.adapters.git.tree import write_directory

FILES = {"canary.yaml": b"kind: Canary\n", "service.yaml": b"kind: Service\n"}


def _loose(repo: pygit2.Repository, oid: pygit2.Oid) -> Path:
    text = str(oid)
    return Path(repo.path) / "objects" / text[:2] / text[2:]


def _naive(repo: pygit2.Repository, files: dict[str, bytes]) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    for name, content in sorted(files.items()):
        builder.insert(name, repo.create_blob(content), FileMode.BLOB)
    oid: pygit2.Oid = builder.write()
    return oid


def _contents(repo: pygit2.Repository, tree: pygit2.Oid) -> dict[str, bytes]:
    return {e.name or "": repo[e.id].peel(pygit2.Blob).data for e in repo[tree].peel(pygit2.Tree)}


def test_the_tree_is_what_writing_every_blob_gives(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "a"), bare=True)
    other = pygit2.init_repository(str(tmp_path / "b"), bare=True)
    tree = write_directory(repo, FILES)
    assert tree == _naive(other, FILES)
    assert _contents(repo, tree) == FILES


def test_blobs_already_stored_are_not_rewritten(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    write_directory(repo, FILES)
    stored = [_loose(repo, pygit2.hash(content)) for content in FILES.values()]
    for path in stored:
        os.utime(path, (1_000_000, 1_000_000))  # libgit2 would "freshen" this timestamp on a rewrite

    changed = {**FILES, "service.yaml": b"kind: Service\nspec: {}\n"}
    tree = write_directory(repo, changed)

    assert os.stat(stored[0]).st_mtime == 1_000_000  # unchanged file: not written again
    new_blob = pygit2.hash(changed["service.yaml"])
    assert new_blob in repo and _loose(repo, new_blob).exists()  # changed file: written
    assert _contents(repo, tree) == changed
