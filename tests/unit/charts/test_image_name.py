"""deploy/, the charts and `make image` name the same image, so a published build is found.

`make image` writes the image into dist/gitflagger-oci.tar under the reference name
``gitflagger:<version>`` (scripts/build-image.sh); the kustomizations and the charts' defaults
must render exactly that, or the install steps (skopeo copy, then kustomize edit set image
or --set image.*) would point at an image nobody built.
"""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from tests.integration.image_support import REF_NAME
from tests.unit.charts.chart_support import (
    CHART,
    DEPLOY,
    DEPLOY_REPO_URL,
    LOADTESTER_CHART,
    REPO,
    Obj,
    kustomize,
    template,
)

pytestmark = pytest.mark.testbed


def build_script_ref_name() -> str:
    """Runs the script's own VERSION and REF_NAME lines, as `make image` does."""
    script = (REPO / "scripts" / "build-image.sh").read_text().splitlines()
    lines = [line for line in script if line.startswith(("VERSION=", "REF_NAME="))]
    assert len(lines) == 2, lines
    proc = subprocess.run(["bash", "-euc", "\n".join([*lines, 'printf %s "$REF_NAME"'])],
                          cwd=REPO, capture_output=True, text=True, check=True, timeout=30)
    return proc.stdout


def images(objects: list[Obj]) -> set[str]:
    return {
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }


def test_deploy_the_chart_and_the_image_build_name_the_same_image() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    expected = f"gitflagger:{version}"
    assert build_script_ref_name() == expected
    assert expected == REF_NAME  # what the image tests unpack from the archive
    assert images(kustomize(DEPLOY)) == {expected}
    assert images(kustomize(DEPLOY / "namespaced")) == {expected}
    assert images(kustomize(DEPLOY / "loadtester")) == {expected}
    assert images(template(CHART, {"repo": {"url": DEPLOY_REPO_URL}})) == {expected}
    loadtester = template(LOADTESTER_CHART, {}, namespace="test", release="flagger-loadtester")
    assert images(loadtester) == {expected}
