"""Flagger's built-in Istio queries, asserted as the exact text sent on the wire."""

from __future__ import annotations

import pytest

from gitflagger.adapters.metrics import ISTIO_QUERIES, builtin_query, collapse_whitespace, is_builtin

# What Flagger sends for target podinfo in namespace test with interval 1m
# (fluxcd/flagger pkg/metrics/observers/istio.go, after trimQuery): note the leading space.
SUCCESS_RATE_PODINFO = (
    ' sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="test", '
    'destination_workload=~"podinfo", response_code!~"5.*" }[1m] ) ) / sum( rate( istio_requests_total{ '
    'reporter="destination", destination_workload_namespace="test", '
    'destination_workload=~"podinfo" }[1m] ) ) * 100'
)
DURATION_PODINFO = (
    " histogram_quantile( 0.99, sum( rate( istio_request_duration_milliseconds_bucket{ "
    'reporter="destination", destination_workload_namespace="test", '
    'destination_workload=~"podinfo" }[1m] ) ) by (le) )'
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("request-success-rate", SUCCESS_RATE_PODINFO), ("request-duration", DURATION_PODINFO)],
)
def test_exact_promql_sent_for_builtins(name: str, expected: str) -> None:
    rendered = builtin_query(name, namespace="test", target="podinfo", interval="1m")
    assert collapse_whitespace(rendered) == expected


def test_templates_keep_flaggers_layout() -> None:
    # Line structure (tabs, trailing spaces) as in Flagger's Go source, so a diff against upstream is empty.
    assert ISTIO_QUERIES["request-success-rate"].splitlines()[10:13] == ["\t) ", "\t/ ", "\tsum("]
    assert ISTIO_QUERIES["request-duration"].splitlines()[-2:] == ["\t\t) by (le)", "\t)"]


def test_interval_and_names_are_substituted_verbatim() -> None:
    q = collapse_whitespace(
        builtin_query("request-duration", namespace="prod", target="api-v2", interval="90s")
    )
    assert 'destination_workload_namespace="prod", destination_workload=~"api-v2" }[90s]' in q


def test_only_the_two_builtins_exist() -> None:
    assert sorted(ISTIO_QUERIES) == ["request-duration", "request-success-rate"]
    assert is_builtin("request-duration") and not is_builtin("error-rate")
    with pytest.raises(KeyError, match="'error-rate' is not a built-in metric"):
        builtin_query("error-rate", namespace="test", target="podinfo", interval="1m")


@pytest.mark.parametrize(
    ("query", "expected"),
    [("\n\tsum(\n\t\tx\n\t) ", " sum( x ) "), ("a  b", "a b"), ("", "")],
    ids=["tabs-and-newlines", "double-space", "empty"],
)
def test_collapse_whitespace_like_flaggers_trim_query(query: str, expected: str) -> None:
    assert collapse_whitespace(query) == expected
