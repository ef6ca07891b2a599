"""The router seam: the factory refuses unknown providers, and the kube adapter's kind lists come from it.

An unknown ``spec.provider`` was refused by the parser ("istio only"); the
router factory is now the one place that knows the providers, so the check
lives here, and it names the field all the same.
"""

from __future__ import annotations

import pytest

from gitflagger.adapters.kube.apply_rules import APPLY_ORDER
from gitflagger.adapters.kube.cluster import WORKLOAD_CACHED, cached_kinds
from gitflagger.adapters.kube.resources import KNOWN
from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary
from gitflagger.render.routers import PROVIDERS, check_routing, route_kinds, router_for
from tests.unit.model.canaries import edited, minimal


def _problems(doc: dict[str, object], default_provider: str = "istio") -> list[str]:
    with pytest.raises(ValidationError) as info:
        check_routing(parse_canary(doc, default_provider=default_provider))
    return [str(p) for p in info.value.problems]


def test_an_unknown_provider_is_a_validation_error_naming_spec_provider() -> None:
    supported = ", ".join(PROVIDERS)
    assert _problems(edited(minimal(), spec__provider="linkerd")) == [
        f'spec.provider: unsupported "linkerd": gitflagger supports {supported}'
    ]
    with pytest.raises(ValidationError, match=r"^invalid Canary test/podinfo: spec.provider: unsupported"):
        check_routing(parse_canary(edited(minimal(), spec__provider="linkerd")))


def test_there_is_no_silent_fallback_for_a_near_miss() -> None:
    for near in ("Istio", "gatewayapi", "gatewayapi:v1alpha2", " istio"):
        with pytest.raises(ValidationError, match=r"spec\.provider"):
            router_for(near)


def test_a_canary_without_provider_gets_the_default_and_an_explicit_one_wins() -> None:
    assert parse_canary(minimal()).spec.provider == "istio"
    assert parse_canary(minimal(), default_provider="other").spec.provider == "other"
    explicit = edited(minimal(), spec__provider="istio")
    assert parse_canary(explicit, default_provider="other").spec.provider == "istio"


@pytest.mark.parametrize(
    ("field", "value"),
    [("gatewayRefs", [{"name": "public"}]), ("backendTimeout", "5s")],
)
def test_istio_refuses_the_gateway_api_fields_it_would_ignore(field: str, value: object) -> None:
    [problem] = _problems(edited(minimal(), **{f"spec__service__{field}": value}))
    assert problem.startswith(f"spec.service.{field}: not used with provider istio")


def test_the_apply_order_and_the_url_table_take_the_routing_kinds_from_the_routers() -> None:
    kinds = route_kinds()
    assert {k.kind for k in kinds} >= {"VirtualService", "DestinationRule"}
    for kind in kinds:
        assert APPLY_ORDER[kind.kind] == kind.rank
        assert APPLY_ORDER[kind.kind] > APPLY_ORDER["Service"], "a route must come after its Services"
        assert KNOWN[(kind.group, kind.kind)] == (kind.plural, True)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_watch_caches_are_the_workload_kinds_plus_the_providers_routing_kinds(provider: str) -> None:
    router = router_for(provider)
    cached = cached_kinds(provider)
    assert cached[: len(WORKLOAD_CACHED)] == WORKLOAD_CACHED
    assert [(r.api_version, r.kind, r.plural) for r in cached[len(WORKLOAD_CACHED):]] == [
        (k.api_version, k.kind, k.plural) for k in router.kinds
    ]
    assert all(r.kind != "Secret" for r in cached)
