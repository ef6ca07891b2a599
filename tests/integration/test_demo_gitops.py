"""``make demo-gitops`` on the testbed: the seed walkthrough with a real Flux applying every step.

The issue's bar is that the demo itself passes on a fresh machine through CI, not only
the Flux tests beside it, so this runs ``tests/demo_gitops.sh`` as a user would (it
starts and stops its own testbed with Flux) and checks what it leaves behind: the
bare clone of the remote with one commit per step, and the live objects whose
``managedFields`` show that only Flux applied them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pygit2
import pytest
import yaml

pytestmark = [pytest.mark.testbed]

ROOT = Path(__file__).resolve().parents[2]


def apply_managers(path: Path) -> set[str]:
    obj = yaml.safe_load(path.read_text())
    return {m["manager"] for m in obj["metadata"].get("managedFields", []) if m["operation"] == "Apply"}


def test_demo_gitops_promotes_then_rolls_back_with_flux_applying_every_step(tmp_path: Path) -> None:
    out = tmp_path / "gitops"
    env = {**os.environ, "DEMO_GITOPS_OUT": str(out), "GITFLAGGER_TESTBED_DIR": str(tmp_path / "testbed")}
    env.pop("KEEP_TESTBED", None)
    run = subprocess.run(["bash", "tests/demo_gitops.sh"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    userinfo = re.compile(rb"[a-z+]+://[^/\s:@]+:[^/\s@]+@")  # a password in a URL
    leaked = [p for p in out.rglob("*") if p.is_file() and userinfo.search(p.read_bytes())]
    assert leaked == [], leaked

    repo = pygit2.Repository(str(out / "config.git"))
    messages = [c.message for c in repo.walk(repo.head.target)]
    weights = [m for m in messages if "Canary-Weight:" in m]
    assert len(weights) >= 6, messages  # initialization, 6.0.1 stepping and promoting, 6.0.2 rolling back
    assert any("Phase: Succeeded" in m for m in messages), messages
    assert any("Phase: Failed" in m for m in messages), messages

    live = out / "live"
    assert apply_managers(live / "virtualservice-podinfo.yaml") == {"kustomize-controller"}
    assert apply_managers(live / "deployment-podinfo-primary.yaml") == {"kustomize-controller"}
    kustomization = yaml.safe_load((live / "kustomization-gitflagger-local.yaml").read_text())
    applied = kustomization["status"]["lastAppliedRevision"]  # "main@sha1:<commit>"
    ids = {str(c.id) for c in repo.walk(repo.head.target)}
    assert applied.rpartition(":")[2] in ids, (applied, kustomization["status"])
