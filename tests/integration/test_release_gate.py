"""A scripted release gated by ``gitflagger status``, followed by ``get canary --watch`` and the dashboard.

The controller (``gitflagger run``, deploy/'s RBAC) steps podinfo's Canary every
10 s on the testbed. Release 6.0.1 is healthy: ``status`` waits and exits 0,
while ``get canary --watch`` prints a block per change and the dashboard, open
in real headless Chromium, shows the weight climb 10 → 50 without a reload.
Release 6.0.2 fails 30% of its requests (the mesh simulator): ``status`` exits
1. A ``--timeout`` that ends first exits 2. Then ``gitflagger report`` reads the
three rollouts back (the shape of ``make demo``'s repo). Takes about four minutes.
"""

# ruff: noqa: F811 -- pytest fixtures are imported and named as parameters
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.kube import KubeCluster
from tests.browser.support import browser, console_errors, screenshot  # noqa: F401 (fixture)
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    kube,
    phase,
    sa_kubeconfig,
    set_image,
    start,
    wait_for,
    world,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import RepoUrls
from tests.testbed.prometheus import Prometheus

pytestmark = pytest.mark.testbed

GITFLAGGER = str(Path(sys.executable).parent / "gitflagger")
WEIGHTS = "return Array.from(document.querySelectorAll('tr[data-canary]')).map(r => [r.dataset.canary, " \
          "r.dataset.phase, r.dataset.weight])"


def spawn(*args: str, log: Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([GITFLAGGER, *args], stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=cwd)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def status(kubeconfig: Path, ref: str, timeout: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GITFLAGGER, "status", ref, "--kubeconfig", str(kubeconfig), "--timeout", timeout],
                          capture_output=True, text=True, timeout=600)


def test_status_gates_a_release_watched_live(
    cluster: Cluster, kube: KubeCluster, world: str, sa_kubeconfig: Path, prometheus: Prometheus,
    git_repo: RepoUrls, tmp_path: Path, browser: Any,
) -> None:
    ns, ref, admin_config = world, f"{world}/podinfo", cluster.kubeconfig
    controller = start(sa_kubeconfig, git_repo, prometheus, ns, tmp_path / "controller.log")
    # --repo relative to the repo's directory: the page (and its screenshot) names it "<name>.git"
    dashboard = spawn("dashboard", "--repo", git_repo.path.name, "--kubeconfig", str(admin_config), "-n", ns,
                      "--listen", "127.0.0.1:0", log=tmp_path / "dashboard.log", cwd=git_repo.path.parent)
    watch: subprocess.Popen[str] | None = None
    try:
        first = wait_for("the dashboard", lambda: (tmp_path / "dashboard.log").read_text().split("\n", 1)[0]
                         if "\n" in (tmp_path / "dashboard.log").read_text() else None, 60)
        assert first.startswith("dashboard: http://127.0.0.1:"), first
        url = first.split()[1]
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 120)
        initialized = status(admin_config, ref, "30s")
        assert initialized.returncode == 0, initialized.stdout + initialized.stderr  # nothing to roll out

        browser.get(url)
        wait_for("the dashboard's first rows", lambda: browser.execute_script(WEIGHTS), 30)
        watch = spawn("get", "canary", ref, "--kubeconfig", str(admin_config), "--watch",
                      log=tmp_path / "watch.log")
        set_image(kube, ns, "6.0.1")
        early = status(admin_config, ref, "1s")
        assert early.returncode == 2, early.stdout + early.stderr
        assert "timed out after 1s" in early.stderr

        args = [GITFLAGGER, "status", ref, "--kubeconfig", str(admin_config), "--timeout", "6m"]
        gate = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[int] = []
        shot = False
        while gate.poll() is None:
            rows = browser.execute_script(WEIGHTS)
            weight = int(rows[0][2]) if rows else 0
            if not seen or seen[-1] != weight:
                seen.append(weight)
            if weight == 30 and not shot:
                screenshot(browser, "dashboard-rollout", height=560)
                shot = True
            time.sleep(0.5)
        out, err = gate.communicate()
        assert gate.returncode == 0, out + err
        assert out.splitlines()[-1].startswith(f"{ref}: Succeeded: ")
        assert [w for w in seen if w] == [10, 20, 30, 40, 50], seen  # the page updated itself, no reload
        assert shot
        wait_for("the page to say Succeeded", lambda: browser.execute_script(WEIGHTS)[0][1] == "Succeeded")
        assert console_errors(browser) == []

        set_image(kube, ns, "6.0.2")  # fails 30% of requests: rolled back after 5 failed checks
        failed = status(admin_config, ref, "6m")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert failed.stdout.splitlines()[-1].startswith(f"{ref}: Failed: ")
    finally:
        if watch is not None:
            stop(watch)
        stop(dashboard)
        controller.stop()
    # The demo's last step on the same repository shape: init, a promoted and a rolled back release.
    args = [GITFLAGGER, "report", ref, "--repo", str(git_repo.path), "--rollout", "all",
            "--out", str(tmp_path / "report.html")]
    report = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["rollout 1", "rollout 2", "rollout 3"], lines
    assert lines[1].startswith("rollout 2: Succeeded after")
    assert lines[2].startswith("rollout 3: Failed after")
    page = (tmp_path / "report.html").read_text()
    for weight in (10, 20, 30, 40, 50):
        assert f'data-series="canary" data-value="{weight}"' in page

    blocks = (tmp_path / "watch.log").read_text().split("\n\n")
    weights = [line.split()[2] for b in blocks for line in b.splitlines() if line.startswith("Weight:")]
    assert {"10%,", "20%,", "30%,", "40%,", "50%,"} <= set(weights), blocks
    assert any("Phase:         Succeeded" in b for b in blocks)
    assert any("Last commit:   " in b and "Last commit:   -" not in b for b in blocks)
    assert any("Last event:    Advance podinfo." in b for b in blocks)
