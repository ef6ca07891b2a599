"""The record port: every recorder has every operation; the engine and CLI never ask which one it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import DryRunRecorder, GitRecorder, RemoteConfig, RemoteRecorder
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.engine.ports import RecordPort

PACKAGE = Path(__file__).resolve().parents[3] / "gitflagger"
OPERATIONS = {
    *("begin", "record", "persist", "publish", "discard", "flush", "sync", "intents", "push_retries"),
    *("published_step", "latest_published_step"),
}


def _recorders(tmp_path: Path) -> list[object]:
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True)
    return [
        GitRecorder(tmp_path / "local.git"),
        RemoteRecorder(RemoteConfig(str(remote)), cache_root=tmp_path / "cache"),
        DryRunRecorder(None, None, lambda step, diffs: None),
    ]


def test_the_port_names_the_operations_the_engine_uses() -> None:
    members = {n for n in vars(RecordPort) if not n.startswith("_")}
    assert members == OPERATIONS


def test_every_recorder_implements_the_whole_port(tmp_path: Path) -> None:
    for recorder in _recorders(tmp_path):
        assert isinstance(recorder, RecordPort), type(recorder).__name__
        assert all(hasattr(recorder, op) for op in OPERATIONS)


def test_the_writers_share_an_intent_store_and_a_dry_run_has_none(tmp_path: Path) -> None:
    local, remote, dry = _recorders(tmp_path)
    assert isinstance(local, GitRecorder) and isinstance(remote, RemoteRecorder)
    assert isinstance(local.intents(), IntentStore) and local.intents() is local.intents()
    assert remote.intents().repo.path == remote.repo.path
    assert isinstance(dry, DryRunRecorder) and dry.intents() is None
    assert (local.push_retries, dry.push_retries) == (0, 0)


def _probes(path: Path) -> list[str]:
    """``isinstance(x, ...Recorder...)`` and ``getattr``/``hasattr`` on something named recorder."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id == "isinstance" and len(node.args) == 2 and "Recorder" in ast.unparse(node.args[1]):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
        if node.func.id in ("getattr", "hasattr") and node.args and "recorder" in ast.unparse(node.args[0]):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("layer", ["engine", "cli"])
def test_no_capability_probing_in_the_engine_or_the_cli(layer: str) -> None:
    probes = [p for path in sorted((PACKAGE / layer).glob("*.py")) for p in _probes(path)]
    assert probes == []


def test_the_probe_scan_would_catch_one(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "if isinstance(ctx.recorder, BatchRecorder):\n    pass\nsync = getattr(ctx.recorder, 'sync', None)\n"
    )
    assert len(_probes(module)) == 2
