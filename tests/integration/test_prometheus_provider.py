"""The Prometheus provider against real servers: the testbed's Prometheus, and loopback HTTP servers.

Loopback servers stand in for what a real Prometheus will not do on demand: answer
slowly, refuse auth, return odd result types, or show us the exact request.
Tests marked ``testbed`` query the real Prometheus (and the mesh simulator).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitflagger.adapters.metrics import (
    NoValuesFound,
    PrometheusProvider,
    QueryFailed,
    builtin_query,
    collapse_whitespace,
    evaluate_metrics,
)
from gitflagger.decide.observation import MetricOutcome, MetricResult
from gitflagger.model.templates import MetricProviderSpec, MetricTemplate
from tests.testbed.meshsim import PODINFO, MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.canaries import canary, metric
from tests.unit.adapters.loopback import LoopbackServer, Reply, closed_port_url, self_signed_tls

TOKEN = "tok-5f2b9c0e1d"
PASSWORD = "pw-a8d3c1e7"


def vector(*values: str) -> dict[str, object]:
    result = [{"metric": {"pod": f"p{i}"}, "value": [1700000000.1, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


# ---- the wire format, against a loopback server --------------------------------


def test_sends_flaggers_exact_builtin_query_as_a_get(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("99.5")))
    query = builtin_query("request-success-rate", namespace="test", target="podinfo", interval="1m")
    assert PrometheusProvider(server.url).run_query(query) == 99.5
    (req,) = server.requests
    assert req.method == "GET"
    assert req.path.startswith("/api/v1/query?")
    assert req.query == {"query": [collapse_whitespace(query)]}
    assert req.query["query"][0].startswith(' sum( rate( istio_requests_total{ reporter="destination", ')


def test_address_path_is_kept_as_a_prefix(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("1")))
    PrometheusProvider(server.url + "/prometheus/").run_query("up")
    assert server.requests[0].path.startswith("/prometheus/api/v1/query?")


def test_long_queries_are_posted_as_a_form(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("1")))
    long_query = "vector(1)" + " + vector(0)" * 500
    PrometheusProvider(server.url).run_query(long_query)
    (req,) = server.requests
    assert (req.method, req.path) == ("POST", "/api/v1/query")
    assert req.form == {"query": [long_query]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(vector("1", "2", "3"), 3.0, id="last-sample-wins"),
        pytest.param(
            {"status": "success", "data": {"resultType": "scalar", "result": [1, "42.5"]}}, 42.5, id="scalar"
        ),
        pytest.param(vector("+Inf"), float("inf"), id="infinity-is-a-value"),
    ],
)
def test_values(server: LoopbackServer, body: dict[str, object], expected: float) -> None:
    server.script(Reply(body=body))
    assert PrometheusProvider(server.url).run_query("q") == expected


@pytest.mark.parametrize(
    "body",
    [
        vector(),
        vector("NaN"),
        vector("1", "NaN"),
        {"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}},
    ],
    ids=["empty", "nan", "last-is-nan", "scalar-nan"],
)
def test_no_values(server: LoopbackServer, body: dict[str, object]) -> None:
    server.script(Reply(body=body))
    with pytest.raises(NoValuesFound):
        PrometheusProvider(server.url).run_query("q")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            Reply(400, {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unclosed"}),
            "HTTP 400: bad_data: 1:5: parse error: unclosed",
            id="bad-query",
        ),
        pytest.param(
            Reply(200, {"status": "error", "errorType": "timeout", "error": "query timed out"}),
            "query failed: timeout: query timed out",
            id="status-error-with-200",
        ),
        pytest.param(
            Reply(503, "Service Unavailable\n", {"Content-Type": "text/plain"}),
            "HTTP 503: Service Unavailable",
            id="5xx",
        ),
        pytest.param(
            Reply(200, "<html>login</html>", {"Content-Type": "text/html"}),
            "body that is not JSON",
            id="html",
        ),
        pytest.param(
            Reply(body={"status": "success", "data": {"resultType": "matrix", "result": []}}),
            "query returned a matrix result; use an instant vector or a scalar",
            id="matrix",
        ),
        pytest.param(
            Reply(body={"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}),
            "malformed vector sample",
            id="sample-without-value",
        ),
        pytest.param(Reply(body=vector("fast")), "sample value 'fast' is not a number", id="not-a-number"),
        pytest.param(Reply(body={"status": "success"}), 'answer has no "data" object', id="no-data"),
        pytest.param(Reply(drop=True), "connection closed by the server without an answer", id="dropped"),
    ],
)
def test_failures_carry_the_reason(server: LoopbackServer, reply: Reply, expected: str) -> None:
    server.script(reply)
    with pytest.raises(QueryFailed) as err:
        PrometheusProvider(server.url).run_query("q")
    assert str(err.value).startswith(f"prometheus {server.url}: ")
    assert expected in str(err.value)


def test_prometheus_down_is_a_query_failure() -> None:
    url = closed_port_url()
    provider = PrometheusProvider(url)
    with pytest.raises(QueryFailed) as err:
        provider.run_query("up")
    assert str(err.value) == f"prometheus {url}: cannot connect: connection refused"
    assert provider.is_online() is False


def test_a_slow_prometheus_times_out(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("1"), delay=3.0))
    with pytest.raises(QueryFailed) as err:
        PrometheusProvider(server.url, timeout=0.3).run_query("up")
    assert str(err.value) == f"prometheus {server.url}: no answer within 0.3s (timeout)"


def test_a_hung_prometheus_times_out(server: LoopbackServer) -> None:
    server.script(Reply(hang=True))
    with pytest.raises(QueryFailed, match=r"no answer within 0\.2s \(timeout\)"):
        PrometheusProvider(server.url, timeout=0.2).run_query("up")


def test_default_timeout_is_flaggers_five_seconds() -> None:
    assert PrometheusProvider("http://127.0.0.1:9").timeout == 5.0


def test_bearer_token_and_custom_headers_are_sent(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("1")))
    spec = MetricProviderSpec(address=server.url, secret_ref="auth", headers={"X-Scope-OrgID": ("a", "b")})
    PrometheusProvider.from_spec(spec, {"token": TOKEN}).run_query("up")
    headers = server.requests[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-scope-orgid"] == "a, b"


def test_basic_auth_from_secret_or_address_userinfo(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("1")))
    spec = MetricProviderSpec(address=server.url, secret_ref="auth")
    PrometheusProvider.from_spec(spec, {"username": "admin", "password": PASSWORD}).run_query("up")
    with_userinfo = server.url.replace("http://", f"http://admin:{PASSWORD}@")
    provider = PrometheusProvider(with_userinfo)
    provider.run_query("up")
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert [r.headers["authorization"] for r in server.requests] == [expected, expected]
    assert provider.address == server.url


def test_credentials_never_leak_into_errors_or_repr(server: LoopbackServer) -> None:
    # A hostile or misconfigured server echoing our request back must not make us print secrets.
    server.respond_with(
        lambda req: Reply(401, {"status": "error", "error": f"bad credentials {req.headers}"})
    )
    spec = MetricProviderSpec(address=server.url, secret_ref="auth", headers={"X-Api-Key": ("key-0c9e1f",)})
    for creds in ({"token": TOKEN}, {"username": "admin", "password": PASSWORD}):
        provider = PrometheusProvider.from_spec(spec, creds)
        with pytest.raises(QueryFailed) as err:
            provider.run_query("up")
        basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        for secret in (TOKEN, PASSWORD, basic, "key-0c9e1f"):
            assert secret not in str(err.value)
            assert secret not in repr(provider)
        assert "***" in str(err.value)
        result = evaluate_metrics(
            canary(metrics=(metric("leak", template="t"),)),
            {("test", "t"): MetricTemplate("t", "test", spec, "up")},
            {("test", "auth"): creds},
            server.url,
        )["leak"]
        assert (
            result.outcome is MetricOutcome.ERROR
            and TOKEN not in result.error
            and PASSWORD not in result.error
        )


def test_insecure_skip_verify(tmp_path: Path) -> None:
    with LoopbackServer(tls=self_signed_tls(tmp_path)) as tls_server:
        tls_server.script(Reply(body=vector("7")))
        with pytest.raises(QueryFailed, match="TLS error: certificate verify failed"):
            PrometheusProvider(tls_server.url).run_query("up")
        assert PrometheusProvider(tls_server.url, insecure_skip_verify=True).run_query("up") == 7.0


def test_is_online_is_flaggers_vector_1_check(server: LoopbackServer) -> None:
    server.script(Reply(body=vector("1")), Reply(body=vector("0")))
    provider = PrometheusProvider(server.url)
    assert provider.is_online() is True
    assert provider.is_online() is False
    assert [r.query["query"] for r in server.requests] == [["vector(1)"], ["vector(1)"]]


def test_evaluate_routes_each_kind_of_metric(server: LoopbackServer) -> None:
    """Built-ins and inline queries hit the default server; a template hits its own, with its Secret."""
    with LoopbackServer() as other:
        server.respond_with(lambda req: Reply(body=vector("12.5" if "histogram" in req.path else "99.0")))
        other.script(Reply(body=vector("0.5")))
        template = MetricTemplate(
            "errors",
            "shared",
            MetricProviderSpec(address=other.url, secret_ref="auth"),
            'sum(rate(x{ns="{{ namespace }}",t="{{ target }}",s="{{ service }}",'
            'd="{{ variables.dir }}"}[{{ interval }}]))',
        )
        c = canary(
            service="podinfo-svc",
            metrics=(
                metric("request-success-rate", interval="30s"),
                metric("request-duration"),
                metric("inline", query="sum(up)"),
                metric("errors", template="errors", template_namespace="shared", variables={"dir": "in"}),
            ),
        )
        results = evaluate_metrics(
            c, {template.key: template}, {("shared", "auth"): {"token": TOKEN}}, server.url
        )
        assert results == {
            "request-success-rate": MetricResult.of("request-success-rate", 99.0),
            "request-duration": MetricResult.of("request-duration", 12.5),
            "inline": MetricResult.of("inline", 99.0),
            "errors": MetricResult.of("errors", 0.5),
        }
        sent = [r.query["query"][0] for r in server.requests]
        assert sent[0] == collapse_whitespace(
            builtin_query("request-success-rate", namespace="test", target="podinfo", interval="30s")
        )
        assert sent[2] == "sum(up)"
        (templated,) = other.requests
        assert templated.query["query"] == ['sum(rate(x{ns="test",t="podinfo",s="podinfo-svc",d="in"}[1m]))']
        assert templated.headers["authorization"] == f"Bearer {TOKEN}"


def test_evaluate_reports_each_metric_on_its_own() -> None:
    down = closed_port_url()
    results = evaluate_metrics(
        canary(metrics=(metric("request-success-rate"), metric("x", query="up"))), {}, {}, down
    )
    assert [r.outcome for r in results.values()] == [MetricOutcome.ERROR, MetricOutcome.ERROR]
    assert results["x"].error == f"prometheus {down}: cannot connect: connection refused"


# ---- a real Prometheus -----------------------------------------------------


@pytest.mark.testbed
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("vector(42)", 42.0),
        ("scalar(vector(3))", 3.0),
        ("1 + 1", 2.0),
        ("vector(1)" + " + vector(0)" * 600, 1.0),
    ],
    ids=["vector", "scalar-function", "scalar-literal", "long-query-posted"],
)
def test_real_prometheus_values(prometheus: Prometheus, query: str, expected: float) -> None:
    url = prometheus.url
    with PrometheusProvider(url) as provider:
        assert provider.run_query(query) == expected
        assert provider.is_online() is True


@pytest.mark.testbed
@pytest.mark.parametrize(
    "query",
    ['up{job="no-such-job"}', "0/0", "vector(0) / vector(0)"],
    ids=["empty", "nan-scalar", "nan-vector"],
)
def test_real_prometheus_no_values(prometheus: Prometheus, query: str) -> None:
    with pytest.raises(NoValuesFound):
        PrometheusProvider(prometheus.url).run_query(query)


@pytest.mark.testbed
@pytest.mark.parametrize(
    ("query", "expected"),
    [("sum(", "HTTP 400: bad_data: "), ("vector(1)[1m]", "bad_data"), ('up{job="x"}[1m]', "matrix result")],
    ids=["parse-error", "bad-range", "matrix"],
)
def test_real_prometheus_bad_queries(prometheus: Prometheus, query: str, expected: str) -> None:
    with pytest.raises(QueryFailed) as err:
        PrometheusProvider(prometheus.url).run_query(query)
    assert expected in str(err.value)


@pytest.mark.testbed
def test_builtins_measure_the_canary_through_the_mesh(
    prometheus: Prometheus, static_meshsim: MeshSim
) -> None:
    """podinfo 6.0.2 fails 30% of requests, 6.0.3 has a p99 of 1500 ms: the built-ins must see it."""
    bad, slow = f"gf-bad-{time.monotonic_ns()}", f"gf-slow-{time.monotonic_ns()}"
    routes = {"podinfo-primary": 70, "podinfo": 30}
    static_meshsim.set_routes(
        bad, "podinfo", routes, {"podinfo-primary": f"{PODINFO}:6.0.1", "podinfo": f"{PODINFO}:6.0.2"}
    )
    static_meshsim.set_routes(
        slow, "podinfo", routes, {"podinfo-primary": f"{PODINFO}:6.0.1", "podinfo": f"{PODINFO}:6.0.3"}
    )
    checks = (metric("request-success-rate", interval="30s"), metric("request-duration", interval="30s"))
    url = prometheus.url

    def measured(namespace: str) -> dict[str, MetricResult]:
        return evaluate_metrics(canary(namespace=namespace, metrics=checks), {}, {}, url)

    # An idle window first: no traffic yet is "no values", never a value.
    assert (
        measured(f"gf-idle-{time.monotonic_ns()}")["request-success-rate"].outcome is MetricOutcome.NO_VALUES
    )
    bad_rate = eventually(lambda: measured(bad)["request-success-rate"], lambda v: abs(v - 70) < 2)
    assert bad_rate == pytest.approx(70.0, abs=2)
    slow_p99 = eventually(lambda: measured(slow)["request-duration"], lambda v: abs(v - 1500) < 150)
    assert slow_p99 == pytest.approx(1500, rel=0.1)
    assert measured(slow)["request-success-rate"].value == 100.0


def eventually(
    measure: Callable[[], MetricResult], ok: Callable[[float], bool], timeout: float = 150.0
) -> float:
    """Poll until the metric has a value satisfying ``ok`` (the rate window fills up first)."""
    deadline = time.monotonic() + timeout
    last: MetricResult | None = None
    while time.monotonic() < deadline:
        last = measure()
        if last.outcome is MetricOutcome.VALUE and last.value is not None and ok(last.value):
            return last.value
        time.sleep(1.0)
    pytest.fail(f"metric never reached the expected value; last result {last}")
