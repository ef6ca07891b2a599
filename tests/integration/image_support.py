"""The controller image from `make image`, run as a Pod's container would be, with Debian's runc.

``make image`` writes an OCI image layout archive; umoci unpacks it into a root filesystem and an
OCI runtime config derived from the image's own config (its user, entrypoint, environment). The
config is then changed the way deploy/deployment.yaml and the kubelet would: read-only root, every
capability dropped, the ServiceAccount's token, CA and namespace at the in-cluster path with
KUBERNETES_SERVICE_HOST/PORT, the credentials and checksum key where the Deployment mounts them,
emptyDirs for $HOME and /tmp. The network namespace is left out: the testbed is on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "dist" / "gitflagger-oci.tar"
UID = 65532
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
REF_NAME = "gitflagger:" + tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
"""The image's reference name in the archive (scripts/build-image.sh): what deploy/ and the charts pin."""


def unpack(dest: Path) -> Path:
    """Unpacks the archive's image into ``dest`` (a bundle: config.json and rootfs); returns it."""
    if not ARCHIVE.exists():
        raise AssertionError(f"{ARCHIVE} is missing: run `make image` first")
    layout = dest / "layout"
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(layout, filter="tar")
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{REF_NAME}", str(dest / "bundle")],
                   check=True, capture_output=True, timeout=300)
    shutil.rmtree(layout)
    return dest / "bundle"


def image_config(bundle: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    return config


def bind(destination: str, source: Path, *, read_only: bool) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": str(source),
            "options": ["rbind", "ro" if read_only else "rw", "nosuid", "nodev"]}


def owned_dir(path: Path, files: dict[str, bytes] | None = None, mode: int = 0o440) -> Path:
    """A directory of files readable by the container's group, like a Secret volume with fsGroup."""
    path.mkdir(parents=True)
    os.chown(path, 0, UID)
    path.chmod(0o750)
    for name, data in (files or {}).items():
        f = path / name
        f.write_bytes(data)
        os.chown(f, 0, UID)
        f.chmod(mode)
    return path


class Container:
    """One run of the image under runc, in a bundle of its own beside the shared unpacked rootfs."""

    def __init__(self, bundle: Path, work: Path, name: str, args: list[str], env: dict[str, str],
                 mounts: list[dict[str, Any]], command: list[str] | None = None) -> None:
        self.name = name
        self.dir = work / name
        self.dir.mkdir()
        config = image_config(bundle)
        process = config["process"]
        assert process["args"][0] == "gitflagger", process["args"]  # the image's entrypoint
        # command: a Pod's `command:`, which replaces the entrypoint.
        process["args"] = [*(command or process["args"][:1]), *args]
        process["terminal"] = False
        process["env"] = [e for e in process["env"] if e.split("=", 1)[0] not in env]
        process["env"] += [f"{k}={v}" for k, v in env.items()]
        process["capabilities"] = {k: [] for k in process["capabilities"]}  # drop: [ALL]
        process["noNewPrivileges"] = True  # allowPrivilegeEscalation: false
        config["root"] = {"path": str(bundle / "rootfs"), "readonly": True}
        config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
        config["mounts"] = [*config["mounts"], *mounts]
        self.config = config
        (self.dir / "config.json").write_text(json.dumps(config))
        self.log = self.dir / "container.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> Container:
        self.started = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(["runc", "run", "--bundle", str(self.dir), self.name],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def signal(self, sig: str) -> None:
        subprocess.run(["runc", "kill", self.name, sig], check=True, capture_output=True, timeout=30)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def remove(self) -> None:
        """SIGKILL whatever is left and delete the container; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(["runc", "kill", self.name, "KILL"], capture_output=True, timeout=30)
            self.proc.wait(30)
        subprocess.run(["runc", "delete", "--force", self.name], capture_output=True, timeout=30)


def probe(url: str, timeout: float = 5.0) -> int | None:
    """An httpGet probe as the kubelet sends it: success is a status from 200 to 399."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None
