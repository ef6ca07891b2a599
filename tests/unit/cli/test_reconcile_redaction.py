"""``gitflagger reconcile`` prints a step's Events with credentials redacted, and its errors too.

An Event may quote a webhook's answer or URL; the terminal (and the CI log it
lands in) gets the same redacted text as Kubernetes Events and commits. The
cluster and the step are stand-ins here: what is tested is what the command prints.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from gitflagger.cli import run as run_cli
from gitflagger.cli.main import cli
from gitflagger.decide import Decision, Event, EventKind, Routes, Severity
from gitflagger.engine.reconcile import StepOutcome
from gitflagger.model.redact import REDACTED
from gitflagger.model.status import State

SECRET = secrets.token_hex(16)
LEAKY = f"Halt podinfo.test advancement pre-rollout check smoke failed https://ci:{SECRET}@hooks.test/?token={SECRET}"


def _invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, outcome: StepOutcome) -> tuple[int, str, str]:
    recorder = SimpleNamespace(sync=lambda: None, flush=lambda: None)
    monkeypatch.setattr(run_cli, "connect", lambda opts: SimpleNamespace(get=lambda *a: {"kind": "Canary"}))
    monkeypatch.setattr(run_cli, "build_context", lambda *a: SimpleNamespace(recorder=recorder))
    monkeypatch.setattr(run_cli, "reconcile_one", lambda ctx, obj: outcome)
    result = CliRunner().invoke(cli, ["reconcile", "test/podinfo", "--repo", str(tmp_path / "config.git")])
    return result.exit_code, result.stdout, result.stderr


def test_reconcile_prints_events_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    decision = Decision(
        State(),
        Routes(100, 0),
        events=(Event(EventKind.GATE_FAILED, Severity.WARN, LEAKY),),
        subject=f"podinfo.test: halt, token={SECRET}",
    )
    code, out, err = _invoke(monkeypatch, tmp_path, StepOutcome("test/podinfo", decision=decision))
    assert (code, err) == (0, "")
    assert "Warning: Halt podinfo.test advancement pre-rollout check smoke failed" in out
    assert SECRET not in out
    assert out.count(REDACTED) == 3


def test_reconcile_errors_are_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outcome: Any = StepOutcome("test/podinfo", error=f"webhook https://ci:{SECRET}@hooks.test/ refused")
    code, out, err = _invoke(monkeypatch, tmp_path, outcome)
    assert code == 1 and err.startswith("error: test/podinfo: webhook https://")
    assert SECRET not in out + err and REDACTED in err
