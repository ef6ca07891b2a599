"""A local CloudWatch: moto's server (from PyPI), on a free loopback port.

moto implements ``PutMetricData`` and ``GetMetricData`` with SigV4-signed requests,
so the CloudWatch provider is tested through botocore exactly as it talks to AWS.
Started only by the fixtures of tests that ask for it (``cloudwatch_server``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.testbed.procs import ComponentError, Proc, free_ports

REGION = "eu-west-1"
ACCESS_KEY_ID = "AKIDGITFLAGGERTEST"


class MotoCloudWatch:
    def __init__(self) -> None:
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        log = Path(tempfile.gettempdir()) / f"gitflagger-moto-{self.port}.log"
        env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "MOTO_CALL_RESET_API": "true"}
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = Proc("moto", argv, log, env=env)

    def start(self, timeout: float = 60.0) -> MotoCloudWatch:
        self.proc.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.check()
            try:
                if requests.get(self.url + "/moto-api/", timeout=2).status_code < 500:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise ComponentError("moto", f"not answering on {self.url} after {timeout:g}s", self.proc.log_path)

    def stop(self) -> None:
        self.proc.stop()

    def client(self, secret_key: str = "test-secret") -> Any:
        """A botocore CloudWatch client for feeding data (PutMetricData)."""
        import botocore.session

        return botocore.session.get_session().create_client(
            "cloudwatch",
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=secret_key,
        )


class CloudWatchFeed:
    """Turns the mesh simulator's traffic for one namespace into CloudWatch data points.

    Registered as a ``MeshSim`` listener; :meth:`flush` sends one ``ErrorRate``
    point (percent of 5xx since the last flush) per workload with traffic, with
    dimensions ``Namespace`` and ``Workload``, to the ``Mesh`` namespace.
    """

    NAMESPACE = "Mesh"
    METRIC = "ErrorRate"

    def __init__(self, server: MotoCloudWatch, namespace: str) -> None:
        import threading

        self.namespace = namespace
        self._client = server.client()
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}
        self.points_sent = 0

    def __call__(self, namespace: str, workload: str, requests_: int, errors: int) -> None:
        if namespace != self.namespace:
            return
        with self._lock:
            counts = self._counts.setdefault(workload, [0, 0])
            counts[0] += requests_
            counts[1] += errors

    def flush(self) -> None:
        from datetime import UTC, datetime, timedelta

        with self._lock:
            counts, self._counts = self._counts, {}
        when = datetime.now(UTC) - timedelta(seconds=1)  # moto counts a point at EndTime out
        data = [
            {
                "MetricName": self.METRIC,
                "Dimensions": [
                    {"Name": "Namespace", "Value": self.namespace},
                    {"Name": "Workload", "Value": w},
                ],
                "Timestamp": when,
                "Value": 100.0 * errors / requests_,
                "Unit": "Percent",
            }
            for w, (requests_, errors) in sorted(counts.items())
            if requests_ > 0
        ]
        if data:
            self._client.put_metric_data(Namespace=self.NAMESPACE, MetricData=data)
            self.points_sent += len(data)
