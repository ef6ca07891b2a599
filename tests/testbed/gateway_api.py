"""The standard Gateway API CRDs for the testbed, taken from the ``sigs.k8s.io/gateway-api`` Go module.

Not from the web and not committed: the Go module proxy serves the module
(checksummed by the Go toolchain against the checksum database), and its
``config/crd/standard/*.yaml`` are copied into
``~/.cache/gitflagger/gateway-api/<version>/`` once. ``build.sh`` fetches them
with the rest of the testbed (so CI's fresh clone has them before any test);
:func:`crd_dir` fetches them on first use otherwise.

    python3 tests/testbed/gateway_api.py            # fetch if missing, print the directory
    python3 tests/testbed/gateway_api.py --cached   # exit 1 when not fetched yet (no go needed)

Standard library only: ``build.sh`` runs it before any virtualenv exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

MODULE = "sigs.k8s.io/gateway-api"
VERSION = os.environ.get("GATEWAY_API_VERSION", "v1.3.0")
"""v1.3.0: the first release with ``RequestMirror`` ``percent`` in the standard channel."""


def cache_root() -> Path:
    return Path(os.environ.get("GITFLAGGER_CACHE") or Path.home() / ".cache" / "gitflagger")


def cached(version: str = VERSION) -> Path | None:
    """The directory of the standard CRDs when they were fetched already."""
    dest = cache_root() / "gateway-api" / version
    return dest if any(dest.glob("*.yaml")) else None


def crd_dir(version: str = VERSION) -> Path:
    """The directory of the standard CRDs, fetched through ``go mod download`` when missing."""
    dest = cache_root() / "gateway-api" / version
    return module_files(MODULE, version, "config/crd/standard", "*.yaml", dest)


def module_files(module: str, version: str, subdir: str, pattern: str, dest: Path) -> Path:
    """``dest``, holding copies of the ``pattern`` files under ``subdir`` of Go module ``module@version``.

    ``go mod download`` fetches the module from the Go module proxy, checksummed
    against the checksum database, with the local toolchain (``GOTOOLCHAIN=local``:
    a module whose go.mod asks for a newer Go fails here instead of fetching one).
    The copy is made whole or not at all.
    """
    if any(dest.glob(pattern)):
        return dest
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    with tempfile.TemporaryDirectory(prefix="go-module-") as scratch:  # outside any go.mod
        done = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            cwd=scratch, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version} failed: {done.stderr.strip() or done.stdout}")
    source = Path(json.loads(done.stdout)["Dir"]) / subdir
    files = sorted(source.glob(pattern))
    if not files:
        raise RuntimeError(f"{module}@{version} has no {pattern} under {source}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=dest.parent))
    for path in files:
        shutil.copyfile(path, tmp / path.name)  # the module cache is read-only; copies are not
    try:
        tmp.rename(dest)  # whole or not at all
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def main(what: str, cached_dir: Callable[[], Path | None], fetch: Callable[[], Path]) -> None:
    """``--cached``: print the directory, or exit 1 when not fetched yet; else fetch and print it."""
    if sys.argv[1:] == ["--cached"]:
        found = cached_dir()
        print(found or "")
        sys.exit(0 if found else 1)
    try:
        print(fetch())
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        print(f"{what}: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main("gateway-api CRDs", cached, crd_dir)
