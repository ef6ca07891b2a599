"""KEDA's ScaledObject CRD for the testbed, taken from the ``github.com/kedacore/keda/v2`` Go module.

As for the Gateway API CRDs (``gateway_api.py``): not from the web and not
committed. The Go module proxy serves the module, checksummed by the Go
toolchain against the checksum database, and its
``config/crd/bases/keda.sh_scaledobjects.yaml`` is copied into
``~/.cache/gitflagger/keda/<version>/`` once; ``build.sh`` fetches it with the
rest of the testbed, and :func:`crd_dir` on first use otherwise. Only the CRD
is installed: KEDA's operator does not run on the testbed, so nothing acts on
a ScaledObject there but gitflagger.

    python3 tests/testbed/keda.py            # fetch if missing, print the directory
    python3 tests/testbed/keda.py --cached   # exit 1 when not fetched yet (no go needed)

Standard library only: ``build.sh`` runs it before any virtualenv exists.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    from tests.testbed.gateway_api import cache_root, main, module_files
except ImportError:  # run as a script (build.sh): this directory is on sys.path, the repo root is not
    from gateway_api import cache_root, main, module_files  # type: ignore[no-redef]

MODULE = "github.com/kedacore/keda/v2"
VERSION = os.environ.get("KEDA_VERSION", "v2.21.0")
"""v2.21.0: the newest release whose go.mod this Go (1.26) accepts; v2.21.1 asks for Go 1.27.4."""
CRD = "keda.sh_scaledobjects.yaml"


def _dest(version: str) -> Path:
    return cache_root() / "keda" / version


def cached(version: str = VERSION) -> Path | None:
    """The directory of the ScaledObject CRD when it was fetched already."""
    dest = _dest(version)
    return dest if (dest / CRD).is_file() else None


def crd_dir(version: str = VERSION) -> Path:
    """The directory holding the ScaledObject CRD, fetched through ``go mod download`` when missing."""
    return module_files(MODULE, version, "config/crd/bases", CRD, _dest(version))


if __name__ == "__main__":
    main("keda CRD", cached, crd_dir)
