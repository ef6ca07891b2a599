"""A real Graphite for the tests: Debian's carbon-cache (``graphite-carbon``) and graphite-web.

Both run from a temporary directory on free loopback ports: carbon-cache takes the
plaintext protocol (``path value timestamp``) and answers graphite-web's cache
queries (carbonlink), so a point sent is rendered at once; graphite-web serves
``/render`` under Django's development server (the render API is all the tests use).
Started only by the fixtures of tests that ask for it (``graphite_server``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from tests.testbed.procs import ComponentError, Proc, free_ports

SYSTEM_PYTHON = "/usr/bin/python3"  # graphite-web and carbon are Debian's, in the system Python
CARBON = "/usr/bin/carbon-cache"

CARBON_CONF = """\
[cache]
STORAGE_DIR = {root}/storage/
LOCAL_DATA_DIR = {root}/storage/whisper/
WHITELISTS_DIR = {root}/storage/lists/
CONF_DIR = {root}/conf/
LOG_DIR = {root}/log/
PID_DIR = {root}/run/
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 10000
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query}
LOG_LISTENER_CONNECTIONS = False
WHISPER_AUTOFLUSH = False
"""
SCHEMAS = "[default]\npattern = .*\nretentions = 1s:2h\n"
AGGREGATION = "[default]\npattern = .*\nxFilesFactor = 0\naggregationMethod = average\n"
WEB_SETTINGS = """\
SECRET_KEY = "gitflagger-test-only"
ALLOWED_HOSTS = ["127.0.0.1"]
GRAPHITE_ROOT = "/usr/share/graphite-web"
STATIC_ROOT = "/usr/share/graphite-web/static"
CONF_DIR = "{root}/conf"
STORAGE_DIR = "{root}/storage"
WHISPER_DIR = "{root}/storage/whisper"
LOG_DIR = "{root}/log"
INDEX_FILE = "{root}/storage/index"
CARBONLINK_HOSTS = ["127.0.0.1:{query}"]
DEFAULT_XFILES_FACTOR = 0
LOG_ROTATION = False
FUNCTION_PLUGINS = []
TAGDB = ""
DATABASES = {{"default": {{"NAME": "{root}/graphite.db", "ENGINE": "django.db.backends.sqlite3",
                          "USER": "", "PASSWORD": "", "HOST": "", "PORT": ""}}}}
"""


def available() -> bool:
    return Path(CARBON).exists() and Path("/usr/lib/python3/dist-packages/graphite/settings.py").exists()


class Graphite:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gitflagger-graphite-"))
        self.line_port, pickle_port, self.query_port, self.web_port = free_ports(4)
        self.url = f"http://127.0.0.1:{self.web_port}"
        conf = self.root / "conf"
        for sub in ("conf", "storage/whisper", "storage/lists", "log", "run", "settings"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        ports = {"root": self.root, "line": self.line_port, "pickle": pickle_port, "query": self.query_port}
        (conf / "carbon.conf").write_text(CARBON_CONF.format(**ports))
        (conf / "storage-schemas.conf").write_text(SCHEMAS)
        (conf / "storage-aggregation.conf").write_text(AGGREGATION)
        (self.root / "settings" / "gitflagger_graphite.py").write_text(WEB_SETTINGS.format(**ports))
        self.env = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "graphite.settings",
            "GRAPHITE_SETTINGS_MODULE": "gitflagger_graphite",
            "PYTHONPATH": str(self.root / "settings"),
        }
        self.carbon = Proc(
            "carbon-cache",
            [
                SYSTEM_PYTHON,
                CARBON,
                f"--config={conf / 'carbon.conf'}",
                f"--pidfile={self.root / 'run' / 'carbon.pid'}",
                "--nodaemon",
                "--logfile=-",
                "start",
            ],
            self.root / "log" / "carbon.out",
            env=self.env,
        )
        self.web = Proc(
            "graphite-web",
            [
                SYSTEM_PYTHON,
                "-m",
                "django",
                "runserver",
                "--noreload",
                "--nothreading",
                f"127.0.0.1:{self.web_port}",
            ],
            self.root / "log" / "web.out",
            env=self.env,
        )

    def start(self, timeout: float = 90.0) -> Graphite:
        migrate = subprocess.run(
            [SYSTEM_PYTHON, "-m", "django", "migrate", "--run-syncdb", "-v", "0"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if migrate.returncode != 0:
            raise ComponentError("graphite-web", f"migrate failed: {migrate.stderr[-2000:]}")
        self.carbon.start()
        self.web.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.carbon.check()
            self.web.check()
            if self._answers():
                return self
            time.sleep(0.3)
        self.stop()
        raise ComponentError("graphite", f"not answering on {self.url} after {timeout:g}s", self.web.log_path)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.line_port), timeout=1):
                pass
            return requests.get(self.url + "/render?target=test&format=json", timeout=5).status_code == 200
        except (OSError, requests.RequestException):
            return False

    def send(self, path: str, value: float, when: float | None = None, timeout: float = 30.0) -> None:
        """One point over carbon's plaintext protocol; returns once graphite-web renders it."""
        stamp = int(when if when is not None else time.time())
        with socket.create_connection(("127.0.0.1", self.line_port), timeout=5) as conn:
            conn.sendall(f"{path} {value} {stamp}\n".encode())
        params = {"target": path, "from": str(stamp - 1), "until": str(stamp + 1), "format": "json"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = requests.get(self.url + "/render", params=params, timeout=5).json()
            if any(p[1] == stamp and p[0] == value for series in answer for p in series["datapoints"]):
                return
            time.sleep(0.1)
        raise ComponentError("graphite", f"{path} {value} {stamp} not rendered after {timeout:g}s")

    def stop(self) -> None:
        self.web.stop()
        self.carbon.stop()
        shutil.rmtree(self.root, ignore_errors=True)
