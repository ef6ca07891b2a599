"""Golden files: the podinfo fixture rendered at each kind of step, file by file.

Each case directory under ``tests/golden/podinfo/`` looks exactly like the
canary's directory in the config repo (``<kind>-<name>.yaml``), so a change to
the renderer shows up here as the diff a user would see in their repo.
Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/render``
and review the diff like any other code.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

from gitflagger.decide.decision import Decision
from gitflagger.model.canary import Canary
from gitflagger.render import Manifest, WorkloadInputs, render
from tests.unit.render import podinfo

AB_MATCH = (
    {"headers": {"x-canary": {"exact": "insider"}}},
    {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}},
)


def _initialized() -> tuple[Canary, WorkloadInputs, Decision]:
    return podinfo.canary(), podinfo.inputs(), podinfo.decision(100, 0, promote=True)


def _progressing() -> tuple[Canary, WorkloadInputs, Decision]:
    """Mid-analysis: the primary keeps the template it got at initialisation."""
    return (
        podinfo.canary(),
        podinfo.inputs(primary_template=_initial_primary_template()),
        podinfo.decision(60, 40),
    )


def _mirrored() -> tuple[Canary, WorkloadInputs, Decision]:
    canary = podinfo.canary(iterations=10, mirror=True, mirror_weight=50)
    inputs = podinfo.inputs(primary_template=_initial_primary_template())
    return canary, inputs, podinfo.decision(100, 0, mirror=True)


def _ab_testing() -> tuple[Canary, WorkloadInputs, Decision]:
    canary = podinfo.canary(iterations=10, match=AB_MATCH)
    inputs = podinfo.inputs(primary_template=_initial_primary_template())
    return canary, inputs, podinfo.decision(0, 100)


def _configs_promoted() -> tuple[Canary, WorkloadInputs, Decision]:
    configmaps, secrets = podinfo.configs()
    inputs = podinfo.inputs(
        target=podinfo.with_configs(podinfo.target()), configmaps=configmaps, secrets=secrets
    )
    return podinfo.canary(), inputs, podinfo.decision(100, 0, promote=True)


CASES: dict[str, Callable[[], tuple[Canary, WorkloadInputs, Decision]]] = {
    "initialized-100-0": _initialized,
    "progressing-60-40": _progressing,
    "mirror": _mirrored,
    "ab-testing": _ab_testing,
    "configs-promoted": _configs_promoted,
}


def _initial_primary_template() -> dict[str, object]:
    deployment = next(m for m in render(*_initialized()) if m.kind == "Deployment")
    template = deployment.obj["spec"]["template"]
    assert isinstance(template, dict)
    return template


def _recorded(manifests: tuple[Manifest, ...]) -> dict[str, str]:
    """What the recorder writes: every manifest except secrets, by repo path."""
    return {m.path: m.to_yaml() for m in manifests if not m.secret}


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_golden_files(case: str) -> None:
    rendered = _recorded(render(*CASES[case]()))
    directory = podinfo.GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for path, text in rendered.items():
            (directory / path).write_text(text)
    on_disk = {p.name: p.read_text() for p in sorted(directory.glob("*.yaml"))}
    assert sorted(rendered) == sorted(on_disk), f"files differ in {directory}"
    for path, text in rendered.items():
        assert text == on_disk[path], f"{case}/{path} differs from its golden file"


def test_golden_cases_cover_every_directory() -> None:
    """A renamed or dropped case must not leave a stale golden directory behind."""
    assert sorted(p.name for p in podinfo.GOLDEN.iterdir() if p.is_dir()) == sorted(CASES)
