"""``gitflagger run`` bounds its memory: pack windows, glibc arenas, a trim after each pass."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git.pack import PACK_MAPPED_LIMIT, PACK_WINDOW
from gitflagger.cli import run


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def mallopt(self, param: ctypes.c_int, value: ctypes.c_int) -> int:
        self.calls.append(("mallopt", param.value, value.value))
        return 1

    def malloc_trim(self, pad: ctypes.c_size_t) -> int:
        self.calls.append(("malloc_trim", pad.value))
        return 1


@pytest.fixture
def settings() -> Iterator[None]:
    window, limit = pygit2.settings.mwindow_size, pygit2.settings.mwindow_mapped_limit
    yield
    pygit2.settings.mwindow_size, pygit2.settings.mwindow_mapped_limit = window, limit


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(run, "_glibc", lambda: fake)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    return fake


def test_pack_windows_are_bounded_and_glibc_gets_two_arenas_then_a_trim_after_each_pass(
    settings: None, libc: FakeLibc
) -> None:
    after_pass = run.tune_memory()

    assert pygit2.settings.mwindow_size == PACK_WINDOW
    assert pygit2.settings.mwindow_mapped_limit == PACK_MAPPED_LIMIT
    assert libc.calls == [("mallopt", -8, run.MALLOC_ARENAS)]  # M_ARENA_MAX, before any thread starts
    after_pass()
    after_pass()
    assert libc.calls[1:] == [("malloc_trim", 0)] * 2


def test_an_explicit_malloc_arena_max_wins(
    settings: None, libc: FakeLibc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")

    after_pass = run.tune_memory()

    assert libc.calls == []
    after_pass()
    assert libc.calls == [("malloc_trim", 0)]


def test_without_glibc_only_the_pack_windows_are_bounded(
    settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run.platform, "libc_ver", lambda *a, **k: ("", ""))
    assert run._glibc() is None

    after_pass = run.tune_memory()

    assert pygit2.settings.mwindow_mapped_limit == PACK_MAPPED_LIMIT
    assert after_pass() is None


def test_the_real_glibc_is_found_and_trims(settings: None) -> None:
    libc: Any = run._glibc()
    if libc is None:
        pytest.skip("not a glibc system")
    assert libc.malloc_trim(ctypes.c_size_t(0)) in (0, 1)  # 1: memory was released, 0: none could be
