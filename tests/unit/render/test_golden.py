"""Golden files: the podinfo fixture rendered at each kind of step, file by file.

Each case directory under ``tests/golden/podinfo/`` looks exactly like the
canary's directory in the config repo (``<kind>-<name>.yaml``), so a change to
the renderer shows up here as the diff a user would see in their repo.
Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/render``
and review the diff like any other code.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable

import pytest

from gitflagger.decide.affinity import settle
from gitflagger.decide.decision import Decision
from gitflagger.decide.weights import current_routes
from gitflagger.model.canary import Canary, ObjectMetadata, ScalerReplicas, SessionAffinity, UnmanagedMetadata
from gitflagger.model.status import Phase, State
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


STICKY = SessionAffinity(cookie_name="flagger-cookie", max_age=3600)
SERVICE_HEADERS = {"response": {"add": {"x-served-by": "podinfo"}}}
SERVICE_MATCH = ({"uri": {"prefix": "/api"}},)


def _sticky(canary: Canary, state: State) -> tuple[Canary, WorkloadInputs, Decision]:
    """The decision core's cookie bookkeeping for ``state``, then the routes it implies."""
    analysis = canary.spec.analysis
    weights = current_routes(analysis, state)
    seed = f"{canary.uid}/{state.last_applied_spec}"
    state = settle(analysis.session_affinity, state, weights.canary, seed)
    inputs = podinfo.inputs(primary_template=_initial_primary_template())
    return canary, inputs, Decision(state=state, routes=current_routes(analysis, state))


def _sticky_service(canary: Canary) -> Canary:
    service = dataclasses.replace(canary.spec.service, headers=SERVICE_HEADERS, match=SERVICE_MATCH)
    return dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, service=service))


_STICKY_PROGRESSING = State(phase=Phase.PROGRESSING, canary_weight=40, last_applied_spec="sha256:601")


def _sticky_progressing() -> tuple[Canary, WorkloadInputs, Decision]:
    """The canary at 40%: cookie holders go to the canary, and its responses hand the cookie out."""
    return _sticky(podinfo.canary(session_affinity=STICKY), _STICKY_PROGRESSING)


def _sticky_promoted() -> tuple[Canary, WorkloadInputs, Decision]:
    """After promotion: the rollout's cookie is expired, behind the service's own match and headers."""
    canary = _sticky_service(podinfo.canary(session_affinity=STICKY))
    _, _, progressing = _sticky(canary, _STICKY_PROGRESSING)
    return _sticky(canary, progressing.state.evolve(phase=Phase.SUCCEEDED, canary_weight=0))


def _sticky_initialized() -> tuple[Canary, WorkloadInputs, Decision]:
    """No cookie yet: the sticky route repeats the weighted route, as Flagger writes it."""
    return _sticky(podinfo.canary(session_affinity=STICKY), State(phase=Phase.INITIALIZED))


def _with_service(canary: Canary, **changes: object) -> Canary:
    service = dataclasses.replace(canary.spec.service, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, service=service))


def _progressing_with(canary: Canary) -> tuple[Canary, WorkloadInputs, Decision]:
    return canary, podinfo.inputs(primary_template=_initial_primary_template()), podinfo.decision(60, 40)


def _delegation() -> tuple[Canary, WorkloadInputs, Decision]:
    """A delegate VirtualService: no hosts, no gateways; port discovery pins the destination port."""
    canary = _with_service(podinfo.canary(), delegation=True, hosts=(), gateways=(), port_discovery=True)
    return _progressing_with(canary)


def _tcp() -> tuple[Canary, WorkloadInputs, Decision]:
    """``appProtocol: tcp``: a weighted TCP route matching the service's ports; appProtocol on the port."""
    # The built-in metrics read HTTP request metrics, refused with tcp: this Canary has none.
    canary = _with_service(podinfo.canary(metrics=()), app_protocol="tcp", match=({"port": 9898},))
    return _progressing_with(canary)


def _service_options() -> tuple[Canary, WorkloadInputs, Decision]:
    """Headless Services with trafficDistribution, unmanaged keys left out, the primary HPA's own bounds."""
    canary = _with_service(
        podinfo.canary(),
        headless=True,
        traffic_distribution="PreferClose",
        apex=ObjectMetadata(labels={"team": "web"}, annotations={"a": "1"}),
        unmanaged_metadata=UnmanagedMetadata(labels=("app",), annotations=("owner",)),
    )
    canary = dataclasses.replace(
        canary, spec=dataclasses.replace(canary.spec, primary_scaler_replicas=ScalerReplicas(max_replicas=8))
    )
    return _progressing_with(canary)


COOKIE_ATTRIBUTES = dataclasses.replace(
    STICKY, domain="example.com", path="/", same_site="Strict", http_only=True, secure=True, partitioned=True
)


def _sticky_cookie_attributes() -> tuple[Canary, WorkloadInputs, Decision]:
    """Newer Flagger's cookie attributes on the Set-Cookie the canary hands out."""
    return _sticky(podinfo.canary(session_affinity=COOKIE_ATTRIBUTES), _STICKY_PROGRESSING)


def _sticky_cookie_attributes_promoted() -> tuple[Canary, WorkloadInputs, Decision]:
    """The expiring Set-Cookie carries the same attributes (a browser needs them to find the cookie)."""
    canary = podinfo.canary(session_affinity=COOKIE_ATTRIBUTES)
    _, _, progressing = _sticky(canary, _STICKY_PROGRESSING)
    return _sticky(canary, progressing.state.evolve(phase=Phase.SUCCEEDED, canary_weight=0))


def _sticky_primary() -> tuple[Canary, WorkloadInputs, Decision]:
    """primaryCookieName: its holders stay on the primary, whose responses set it for one interval."""
    affinity = dataclasses.replace(STICKY, primary_cookie_name="flagger-primary", path="/")
    return _sticky(podinfo.canary(session_affinity=affinity), _STICKY_PROGRESSING)


CASES: dict[str, Callable[[], tuple[Canary, WorkloadInputs, Decision]]] = {
    "sticky-primary-progressing-60-40": _sticky_primary,
    "delegation": _delegation,
    "tcp": _tcp,
    "service-options": _service_options,
    "sticky-cookie-attributes": _sticky_cookie_attributes,
    "sticky-cookie-attributes-promoted": _sticky_cookie_attributes_promoted,
    "initialized-100-0": _initialized,
    "progressing-60-40": _progressing,
    "mirror": _mirrored,
    "ab-testing": _ab_testing,
    "configs-promoted": _configs_promoted,
    "sticky-initialized": _sticky_initialized,
    "sticky-progressing-60-40": _sticky_progressing,
    "sticky-promoted": _sticky_promoted,
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
