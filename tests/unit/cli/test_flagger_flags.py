"""Flagger's controller flags on ``gitflagger run``: each parsed by the real command and shown acting.

Every test builds the controller's Context the way ``gitflagger run`` does
(:func:`build_context` over the command's parsed options) and drives the
podinfo rollout through the reconcile and report stages with it. Flag names,
defaults and meaning are Flagger's ``cmd/flagger/main.go``; alert fields are
Flagger's ``pkg/controller/events.go`` (the "Cluster" field comes first).
"""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitflagger.cli.flagger_flags import log_level
from gitflagger.cli.main import cli
from gitflagger.cli.run import build_context, run
from gitflagger.engine.context import Context
from gitflagger.engine.telemetry import configure_logging, logger
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World

run_module = importlib.import_module("gitflagger.cli.run")


class Servers:
    def __init__(self, prometheus: LoopbackServer, hooks: LoopbackServer, chat: LoopbackServer) -> None:
        self.prometheus, self.hooks, self.chat = prometheus, hooks, chat


@pytest.fixture
def servers() -> Iterator[Servers]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks, LoopbackServer() as chat:
        yield Servers(prometheus, hooks, chat)


def parsed(tmp_path: Path, *args: str) -> dict[str, Any]:
    """``gitflagger run``'s options as click parses them from ``args``."""
    with run.make_context("run", ["--repo", str(tmp_path / "cli.git"), *args]) as ctx:
        return dict(ctx.params)


def world_with(tmp_path: Path, servers: Servers, *args: str) -> World:
    """The podinfo World whose Context is the one ``gitflagger run --once ARGS`` builds.

    The command runs for real up to the controller loop, which is replaced by one that
    keeps what ``run`` would build its Context from.
    """
    seen: list[tuple[Any, dict[str, Any]]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "connect", lambda opts: object())
        patch.setattr(run_module, "_run_controller",
                      lambda kube, repo, opts, after: seen.append((repo, opts)))
        result = CliRunner().invoke(cli, ["run", "--repo", str(tmp_path / "cli.git"), "--once", *args])
    configure_logging()
    assert result.exit_code == 0 and len(seen) == 1, result.output
    repo, opts = seen[0]
    built: Context = build_context(object(), repo, opts)  # type: ignore[arg-type]  # its cluster is unused
    world = World(
        tmp_path,
        servers.prometheus,
        servers.hooks,
        reporting=built.reporting,
        labelling=built.labelling,
        no_cross_namespace_refs=built.no_cross_namespace_refs,
    )
    return world


def chat_payloads(servers: Servers) -> list[dict[str, Any]]:
    return [r.json() for r in servers.chat.requests]


# ---- --cluster-name and the global notifier (--msteams-url, --slack-url) ----------------------------

def test_cluster_name_is_the_first_field_of_the_global_teams_alert(tmp_path: Path, servers: Servers) -> None:
    teams = servers.chat.url + "/t"
    world = world_with(tmp_path, servers, "--cluster-name", "prod-eu", "--msteams-url", teams)
    world.initialized()
    world.set_image("6.0.1")
    world.step()  # "New revision detected": an alert with Flagger's metadata fields

    cards = chat_payloads(servers)
    assert cards and all(c["@type"] == "MessageCard" for c in cards)  # Teams, not Slack
    facts = cards[-1]["sections"][0]["facts"]
    assert facts[0] == {"name": "Cluster", "value": "prod-eu"}
    assert {"name": "Target", "value": "Deployment/podinfo.test"} in facts


def test_without_cluster_name_no_cluster_field_is_sent(tmp_path: Path, servers: Servers) -> None:
    world = world_with(tmp_path, servers, "--slack-url", servers.chat.url + "/s", "--slack-channel", "ops")
    world.initialized()
    world.set_image("6.0.1")
    world.step()

    posts = chat_payloads(servers)
    assert posts and posts[-1]["channel"] == "ops" and posts[-1]["username"] == "flagger"
    names = [f["title"] for p in posts for a in p.get("attachments", []) for f in a.get("fields", [])]
    assert "Target" in names and "Cluster" not in names


def test_the_global_notifier_stays_quiet_for_a_canary_with_its_own_alerts(
    tmp_path: Path, servers: Servers
) -> None:
    world = world_with(tmp_path, servers, "--msteams-url", servers.chat.url + "/t")
    # an alert whose provider does not exist: Flagger still skips the global notifier for this Canary
    world.canary["spec"]["canaryAnalysis"]["alerts"] = [{"name": "team", "providerRef": {"name": "missing"}}]
    world.initialized()
    world.set_image("6.0.1")
    world.step()

    assert any(m.startswith("New revision detected") for m in world.cluster.messages())
    assert servers.chat.requests == []


def test_slack_and_teams_urls_together_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--repo", str(tmp_path / "r.git"), "--slack-url", "http://127.0.0.1:9/s",
         "--msteams-url", "http://127.0.0.1:9/t", "--once", "--kubeconfig", str(tmp_path / "none")],
    )
    assert result.exit_code != 0
    assert "--slack-url and --msteams-url" in result.output
    assert "Traceback" not in result.output


# ---- --selector-labels ------------------------------------------------------------------------------

def _name_and_app(world: World) -> None:
    target = world.cluster.obj("Deployment", "podinfo")
    target["spec"]["selector"]["matchLabels"] = {"app": "podinfo", "name": "podinfo"}
    target["spec"]["template"]["metadata"]["labels"] = {"app": "podinfo", "name": "podinfo"}


def test_selector_labels_pick_which_label_gets_the_primary_suffix(tmp_path: Path, servers: Servers) -> None:
    default = world_with(tmp_path / "default", servers)
    _name_and_app(default)
    default.initialized()
    chosen = world_with(tmp_path / "chosen", servers, "--selector-labels", "name,app")
    _name_and_app(chosen)
    chosen.initialized()

    by_default = default.cluster.obj("Deployment", "podinfo-primary")["spec"]["selector"]["matchLabels"]
    by_flag = chosen.cluster.obj("Deployment", "podinfo-primary")["spec"]["selector"]["matchLabels"]
    assert by_default == {"app": "podinfo-primary"}  # Flagger's default order: app first
    assert by_flag == {"name": "podinfo-primary"}


def test_a_target_without_any_selector_label_is_refused_naming_them(tmp_path: Path, servers: Servers) -> None:
    world = world_with(tmp_path, servers, "--selector-labels", "app.kubernetes.io/name")
    outcome = world.step()

    assert outcome.error and "must contain one of app.kubernetes.io/name" in outcome.error
    assert ("Deployment", "test", "podinfo-primary") not in world.cluster.objects


def test_empty_selector_labels_are_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--repo", str(tmp_path / "r.git"), "--selector-labels", " , ", "--once",
              "--kubeconfig", str(tmp_path / "none")]
    )
    assert result.exit_code == 2 and "--selector-labels" in result.output


# ---- --include-label-prefix -------------------------------------------------------------------------

def _labelled(world: World) -> None:
    meta = world.cluster.obj("Deployment", "podinfo")["metadata"]
    meta["labels"] = {"app": "podinfo", "team": "payments", "app.kubernetes.io/managed-by": "Helm"}
    meta["annotations"] = {"team/owner": "alice", "deploy.example/ticket": "T-1"}


def test_include_label_prefix_copies_only_matching_labels_to_the_primary(
    tmp_path: Path, servers: Servers
) -> None:
    default = world_with(tmp_path / "default", servers)
    _labelled(default)
    default.initialized()
    team = world_with(tmp_path / "team", servers, "--include-label-prefix", "team")
    _labelled(team)
    team.initialized()
    everything = world_with(tmp_path / "all", servers, "--include-label-prefix", "*")
    _labelled(everything)
    everything.initialized()

    def meta(world: World) -> dict[str, Any]:
        return dict(world.cluster.obj("Deployment", "podinfo-primary")["metadata"])

    assert meta(default)["labels"] == {"app": "podinfo-primary"} and "annotations" not in meta(default)
    assert meta(team)["labels"] == {"app": "podinfo-primary", "team": "payments"}
    assert meta(team)["annotations"] == {"team/owner": "alice"}
    assert meta(everything)["labels"] == {
        "app": "podinfo-primary", "team": "payments", "app.kubernetes.io/managed-by": "Helm"
    }


# ---- --no-cross-namespace-refs ----------------------------------------------------------------------

def _cross_refs(world: World) -> None:
    analysis = world.canary["spec"]["canaryAnalysis"]
    analysis["metrics"].append(
        {"name": "latency", "templateRef": {"name": "latency", "namespace": "shared"},
         "thresholdRange": {"max": 1}}
    )
    analysis["alerts"] = [
        {"name": "own", "providerRef": {"name": "chat", "namespace": "test"}},
        {"name": "other", "providerRef": {"name": "chat", "namespace": "ops"}},
    ]


@pytest.mark.parametrize("flag", [("--no-cross-namespace-refs",), ("--no-cross-namespace-refs=true",)])
def test_cross_namespace_refs_are_refused_naming_each_field(
    tmp_path: Path, servers: Servers, flag: tuple[str, ...]
) -> None:
    world = world_with(tmp_path, servers, *flag)
    _cross_refs(world)
    last = len(world.canary["spec"]["canaryAnalysis"]["metrics"]) - 1
    outcome = world.step()

    assert outcome.skipped == "invalid"
    warning = [e for e in world.cluster.events if e.warning][-1].message
    metric = f"spec.canaryAnalysis.metrics[{last}].templateRef.namespace: metric template shared/latency"
    assert metric in warning
    assert "spec.canaryAnalysis.alerts[1].providerRef.namespace: alert provider ops/chat" in warning
    assert "alerts[0]" not in warning  # its own namespace is fine
    assert ("Deployment", "test", "podinfo-primary") not in world.cluster.objects


def test_cross_namespace_refs_are_allowed_without_the_flag(tmp_path: Path, servers: Servers) -> None:
    for args in ((), ("--no-cross-namespace-refs=false",)):
        world = world_with(tmp_path / str(len(args)), servers, *args)
        _cross_refs(world)
        outcome = world.step()
        assert outcome.skipped != "invalid", outcome.error
        assert not any("--no-cross-namespace-refs" in m for m in world.cluster.messages())


def test_a_bad_no_cross_namespace_refs_value_is_a_usage_error(tmp_path: Path) -> None:
    args = ["run", "--repo", str(tmp_path / "r.git"), "--no-cross-namespace-refs=maybe"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--no-cross-namespace-refs" in result.output


def test_each_flagger_flag_has_help_with_an_example() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"], terminal_width=400)
    for flag in ("--cluster-name", "--slack-url", "--slack-channel", "--slack-user", "--msteams-url",
                 "--selector-labels", "--include-label-prefix", "--no-cross-namespace-refs", "--log-level"):
        assert f"Example: {flag}" in " ".join(result.output.split()), flag


# ---- --log-level ------------------------------------------------------------------------------------

def _lines(level: str, tmp_path: Path) -> list[dict[str, Any]]:
    stream = io.StringIO()
    configure_logging(stream, level=log_level(parsed(tmp_path, "--log-level", level)))
    log = logger(canary="podinfo", namespace="test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("level", "shown"),
    [("debug", "diwe"), ("info", "iwe"), ("warn", "we"), ("warning", "we"), ("error", "e"), ("WARN", "we")],
)
def test_log_level_sets_the_lowest_json_line_written(tmp_path: Path, level: str, shown: str) -> None:
    try:
        lines = _lines(level, tmp_path)
    finally:
        configure_logging()
    assert "".join(line["event"] for line in lines) == shown


def test_log_level_defaults_to_info_and_refuses_unknown_levels(tmp_path: Path) -> None:
    assert parsed(tmp_path)["log_level"] == "info"
    result = CliRunner().invoke(cli, ["run", "--repo", str(tmp_path / "r.git"), "--log-level", "verbose"])
    assert result.exit_code == 2 and "--log-level" in result.output
