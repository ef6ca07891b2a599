"""scripts/install-deps.sh: installs only what is missing, and tells a non-root user the exact line.

The script asks dpkg which packages are installed and calls apt-get, id and systemctl by name,
so fakes of those on PATH record what it would do to the machine without doing it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "install-deps.sh"


def _package_list() -> list[str]:
    body = SCRIPT.read_text().split("PACKAGES=(", 1)[1].split("\n)", 1)[0]
    return [w for line in body.splitlines() for w in line.split("#", 1)[0].split()]


def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(0o755)


def _run(
    tmp_path: Path, *, uid: int, missing: set[str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the script with fake dpkg-query/id/apt-get/systemctl; returns its result and the calls made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    log.touch()
    # dpkg-query -W -f=... PKG: "installed" unless PKG is one of the missing ones.
    absent = " ".join(sorted(missing))
    _fake(bin_dir, "dpkg-query", f'case " {absent} " in *" ${{@: -1}} "*) exit 1;; esac; printf installed')
    _fake(bin_dir, "id", f"echo {uid}")
    for tool in ("apt-get", "systemctl", "service", "pkill"):
        _fake(bin_dir, tool, f'echo "{tool} $*" >> {log}')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    return result, log.read_text().splitlines()


def test_the_list_keeps_every_package_ci_installed_before() -> None:
    packages = _package_list()
    for pkg in ("prometheus", "openssh-server", "openssh-client", "hey", "gnupg", "git", "chromium",
                "chromium-driver", "graphite-carbon", "graphite-web", "curl", "unzip", "python3-venv",
                "ca-certificates", "mmdebstrap", "buildah", "umoci", "runc"):
        assert pkg in packages
    assert len(packages) == len(set(packages))


def test_nothing_missing_means_no_apt_call(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, uid=0, missing=set())
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("apt-get")]
    assert result.stdout == ""
    # As root, the system Prometheus the Debian package may have started is stopped.
    assert calls == ["systemctl stop prometheus"]


def test_root_updates_once_and_installs_only_what_is_missing(tmp_path: Path) -> None:
    result, calls = _run(tmp_path, uid=0, missing={"hey", "umoci"})
    assert result.returncode == 0, result.stderr
    apt = [c for c in calls if c.startswith("apt-get")]
    assert apt == ["apt-get update -qq", "apt-get install -y -qq --no-install-recommends hey umoci"]


@pytest.mark.parametrize("missing", [{"prometheus"}, {"hey", "chromium", "runc"}])
def test_not_root_stops_with_the_exact_sudo_line(tmp_path: Path, missing: set[str]) -> None:
    result, calls = _run(tmp_path, uid=1000, missing=missing)
    assert result.returncode == 1
    assert calls == []  # neither apt-get nor a stop of Prometheus
    in_order = [p for p in _package_list() if p in missing]
    line = "sudo apt-get install -y --no-install-recommends " + " ".join(in_order)
    assert re.search(r"^install them with: " + re.escape(line) + "$", result.stderr, re.M), result.stderr
