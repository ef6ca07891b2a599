"""Open the config repo at a path, creating it when it does not exist yet.

This is the one place that decides what a path means, so the recorder and
``gitflagger history`` agree, and so a typo in ``--repo`` is one clear error
rather than a repository silently created in the wrong place or, worse, the
enclosing project's repository opened by libgit2's upward search.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pygit2
from pygit2.enums import RepositoryOpenFlag

from gitflagger.errors import PermanentError


def open_repository(path: str | Path, *, create: bool = True, branch: str = "main") -> pygit2.Repository:
    """Open the repository at ``path`` (bare or not); create a bare one when ``create`` allows.

    A missing path or an empty directory becomes a new *bare* repository whose
    HEAD names ``branch``: gitflagger writes commits without a working tree, and
    a non-bare checkout that never gets its files would only look broken. An
    existing non-bare repository is used as it is (its checkout is left alone).

    Raises :class:`PermanentError` when the path is a file, a non-empty
    directory that is not a repository, or missing while ``create`` is false.
    """
    where = Path(path)
    try:
        return pygit2.Repository(str(where), RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError:
        pass
    if where.is_file():
        raise PermanentError(f"{where}: is a file, not a git repository")
    if where.is_dir() and any(where.iterdir()):
        raise PermanentError(f"{where}: exists but is not a git repository")
    if not create:
        raise PermanentError(f"{where}: no git repository here")
    try:
        return pygit2.init_repository(str(where), bare=True, initial_head=branch)
    except (pygit2.GitError, OSError) as err:
        raise PermanentError(f"{where}: cannot create a git repository: {err}") from err


@contextlib.contextmanager
def removed_unless_written(path: str | Path) -> Iterator[None]:
    """Around a command that may create the repository at ``path``: take it away again if nothing landed.

    A command that fails (an invalid Canary, a render error, a lock) after
    :func:`open_repository` created the repository would otherwise leave an
    empty bare repository behind, which the next run would take for a real one.
    On the way out, a repository this block created and that still has no ref
    at all is removed (an empty directory that was there before is emptied
    again, not removed). A repository that existed before is never touched.
    """
    where = Path(path)
    existed = where.exists()
    emptied = existed and where.is_dir() and not any(where.iterdir())
    try:
        yield
    finally:
        if not existed or emptied:
            _remove_if_unwritten(where, keep_directory=emptied)


def _remove_if_unwritten(where: Path, *, keep_directory: bool) -> None:
    try:
        repo = pygit2.Repository(str(where), RepositoryOpenFlag.NO_SEARCH)
        written = any(True for _ in repo.references)
    except (pygit2.GitError, OSError):
        return  # not a repository (anymore): nothing of ours to take away
    if written:
        return
    with contextlib.suppress(OSError):
        if not keep_directory:
            shutil.rmtree(where)
            return
        for child in where.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def branch_ref(branch: str) -> str:
    """``refs/heads/<branch>``, or :class:`PermanentError` when git would refuse the name."""
    name = f"refs/heads/{branch}"
    if not branch or not pygit2.reference_is_valid_name(name):
        raise PermanentError(f"invalid branch name {branch!r}")
    return name
