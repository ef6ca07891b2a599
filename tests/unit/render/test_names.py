"""Generated names and the pod selector label, as Flagger chooses them."""

from __future__ import annotations

import pytest

from gitflagger.errors import PermanentError
from gitflagger.render.names import (
    canary_service_name,
    include_by_prefix,
    primary_labels,
    primary_name,
    selector_label,
)


def _deployment(match_labels: dict[str, str]) -> dict[str, object]:
    return {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"selector": {"matchLabels": match_labels}},
    }


@pytest.mark.parametrize(
    ("match_labels", "expected"),
    [
        pytest.param({"app": "podinfo"}, ("app", "podinfo"), id="app"),
        pytest.param({"name": "podinfo"}, ("name", "podinfo"), id="name"),
        pytest.param({"app.kubernetes.io/name": "web"}, ("app.kubernetes.io/name", "web"), id="k8s-name"),
        pytest.param({"name": "n", "app": "a"}, ("app", "a"), id="app-wins-over-name"),
        pytest.param(
            {"app.kubernetes.io/name": "k", "name": "n"}, ("name", "n"), id="name-wins-over-k8s-name"
        ),
        pytest.param({"tier": "web", "app": "podinfo"}, ("app", "podinfo"), id="other-labels-ignored"),
    ],
)
def test_selector_label_is_the_first_of_app_name_and_k8s_name(
    match_labels: dict[str, str], expected: tuple[str, str]
) -> None:
    assert selector_label(_deployment(match_labels)) == expected


@pytest.mark.parametrize(
    "match_labels",
    [pytest.param({}, id="empty"), pytest.param({"tier": "web", "App": "podinfo"}, id="no-known-label")],
)
def test_a_selector_without_a_known_label_is_a_clear_error(match_labels: dict[str, str]) -> None:
    with pytest.raises(PermanentError) as err:
        selector_label(_deployment(match_labels))
    assert str(err.value) == (
        "deployment podinfo.test spec.selector.matchLabels must contain one of "
        "app, name, app.kubernetes.io/name"
    )


def test_a_deployment_without_a_selector_is_a_clear_error() -> None:
    with pytest.raises(PermanentError, match="must contain one of"):
        selector_label({"metadata": {"name": "x", "namespace": "y"}, "spec": {}})


def test_generated_names() -> None:
    assert primary_name("podinfo") == "podinfo-primary"
    assert canary_service_name("podinfo") == "podinfo-canary"


def test_primary_labels_replace_the_selector_value_and_drop_flux_markers() -> None:
    labels = {"app": "podinfo", "tier": "web", "kustomize.toolkit.fluxcd.io/name": "apps"}
    assert primary_labels(labels, "app", "podinfo-primary") == {"app": "podinfo-primary", "tier": "web"}


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        pytest.param((), {}, id="none-by-default"),
        pytest.param(("",), {}, id="empty-prefix-matches-nothing"),
        pytest.param(("*",), {"app": "p", "team": "x", "team.io/owner": "y"}, id="star-keeps-all"),
        pytest.param(("team",), {"team": "x", "team.io/owner": "y"}, id="prefix"),
    ],
)
def test_include_by_prefix(prefixes: tuple[str, ...], expected: dict[str, str]) -> None:
    values = {"app": "p", "team": "x", "team.io/owner": "y", "helm.toolkit.fluxcd.io/name": "z"}
    assert include_by_prefix(values, prefixes) == expected
