"""A real Prometheus for the testbed, on a free loopback port.

One job, ``meshsim``, scrapes every target in a file_sd file every second, so
targets can be added or replaced while Prometheus runs (``set_targets``).
Storage lives in a temporary directory that is removed on ``stop()``.

    prom = Prometheus(targets=["127.0.0.1:9100"]).start()
    prom.query('up')                       # the raw "data" object of the API
    prom.wait_for_value('sum(up)', lambda v: v >= 1)
    prom.stop()
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from tests.testbed.procs import free_ports

PROMETHEUS_BIN = os.environ.get("GITFLAGGER_PROMETHEUS_BIN", "/usr/bin/prometheus")
JOB = "meshsim"


class PrometheusError(RuntimeError):
    """Prometheus failed to start or answered a query with an error."""


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (one of this xdist worker's own)."""
    return free_ports(1)[0]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def kill_group(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group of ``proc`` (started with a new session), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


class Prometheus:
    """A ``/usr/bin/prometheus`` process with a generated config (scrape interval 1s)."""

    def __init__(
        self,
        targets: Iterable[str] = (),
        scrape_interval: str = "1s",
        binary: str = PROMETHEUS_BIN,
    ) -> None:
        self.binary = binary
        self.scrape_interval = scrape_interval
        self._targets = list(targets)
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.ready_after = 0.0

    # ---- lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "prometheus.log"

    def start(self, timeout: float = 60.0) -> Prometheus:
        if not os.access(self.binary, os.X_OK):
            raise PrometheusError(
                f"prometheus: binary {self.binary} not found or not executable "
                "(Debian: apt-get install prometheus)"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="gitflagger-prometheus-"))
        (self.dir / "data").mkdir()
        self._write_targets()
        config = self.dir / "prometheus.yml"
        config.write_text(
            "global:\n"
            f"  scrape_interval: {self.scrape_interval}\n"
            f"  evaluation_interval: {self.scrape_interval}\n"
            "scrape_configs:\n"
            f"  - job_name: {JOB}\n"
            f"    scrape_interval: {self.scrape_interval}\n"
            f"    scrape_timeout: {self.scrape_interval}\n"
            "    file_sd_configs:\n"
            f"      - files: [{json.dumps(str(self.dir / 'targets.json'))}]\n"
            "        refresh_interval: 1s\n"
        )
        last_error = ""
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            self.started_at = time.monotonic()
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.dir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--web.enable-lifecycle",
                        "--storage.tsdb.retention.time=1d",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            atexit.register(kill_group, self.proc)
            try:
                self._wait_ready(timeout)
                self.ready_after = time.monotonic() - self.started_at
                return self
            except PrometheusError as e:
                last_error = str(e)
                kill_group(self.proc)
                if "address already in use" not in log_tail(self.log_path).lower():
                    break
        shutil.rmtree(self.dir, ignore_errors=True)
        raise PrometheusError(last_error)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(
                    f"prometheus: exited with code {self.proc.returncode} during startup; "
                    f"log tail:\n{log_tail(self.log_path)}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise PrometheusError(
            f"prometheus: not ready on {self.url} after {timeout:.0f}s; log tail:\n{log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        kill_group(self.proc)
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- targets ---------------------------------------------------------

    @property
    def targets(self) -> list[str]:
        return list(self._targets)

    def set_targets(self, targets: Iterable[str]) -> None:
        """Replace the scraped targets (``host:port``); Prometheus picks them up within seconds."""
        self._targets = list(targets)
        if self.dir is not None:
            self._write_targets()

    def add_target(self, target: str) -> None:
        if target not in self._targets:
            self.set_targets([*self._targets, target])

    def remove_target(self, target: str) -> None:
        self.set_targets([t for t in self._targets if t != target])

    def _write_targets(self) -> None:
        assert self.dir is not None
        tmp = self.dir / "targets.json.tmp"
        tmp.write_text(json.dumps([{"targets": self._targets, "labels": {}}]))
        tmp.replace(self.dir / "targets.json")  # atomic, so Prometheus never reads half a file

    # ---- queries ---------------------------------------------------------

    def query(self, promql: str, time_: float | None = None) -> dict[str, Any]:
        """Run an instant query; returns the API's ``data`` object (``resultType``, ``result``)."""
        params: dict[str, str] = {"query": promql}
        if time_ is not None:
            params["time"] = f"{time_:.3f}"
        resp = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        try:
            body = resp.json()
        except ValueError as e:
            raise PrometheusError(f"prometheus: non-JSON answer {resp.status_code}: {resp.text[:200]}") from e
        if body.get("status") != "success":
            raise PrometheusError(f"prometheus: query {promql!r} failed: {body.get('error', body)}")
        data: dict[str, Any] = body["data"]
        return data

    def query_value(self, promql: str) -> float | None:
        """The single scalar/vector value of a query, or None if it returned no (or NaN) samples."""
        data = self.query(promql)
        result = data["result"]
        if data["resultType"] == "scalar":
            value = float(result[1])
        elif not result:
            return None
        else:
            if len(result) > 1:
                raise PrometheusError(f"prometheus: {promql!r} returned {len(result)} series, expected one")
            value = float(result[0]["value"][1])
        return None if value != value else value  # NaN (0/0) counts as "no data"

    def wait_for_value(
        self,
        promql: str,
        predicate: Callable[[float], bool] = lambda _v: True,
        timeout: float = 120.0,
        interval: float = 1.0,
    ) -> float:
        """Poll ``promql`` until it has a value satisfying ``predicate``; return that value."""
        deadline = time.monotonic() + timeout
        last: float | None = None
        while time.monotonic() < deadline:
            last = self.query_value(promql)
            if last is not None and predicate(last):
                return last
            time.sleep(interval)
        raise PrometheusError(f"prometheus: {promql!r} did not reach the expected value in {timeout:.0f}s "
                              f"(last value: {last})")

    def active_targets(self) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=10)
        resp.raise_for_status()
        targets: list[dict[str, Any]] = resp.json()["data"]["activeTargets"]
        return targets
