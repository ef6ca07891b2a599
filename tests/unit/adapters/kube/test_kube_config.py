"""The cluster is found as kubectl finds it: --kubeconfig, $KUBECONFIG (merged), ~/.kube/config,
in-cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.kube.config import IN_CLUSTER, api_client, find_cluster
from gitflagger.cli.main import cli
from gitflagger.errors import PermanentError

POD = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}


def kubeconfig(path: Path, *contexts: tuple[str, int], current: str | None = None) -> Path:
    """A kubeconfig whose context NAME points at https://127.0.0.1:PORT (so the host says which won)."""
    lines = ["apiVersion: v1", "kind: Config"]
    if current is not None:
        lines.append(f"current-context: {current}")
    lines.append("clusters:")
    lines += [f"- name: {n}\n  cluster: {{server: 'https://127.0.0.1:{p}'}}" for n, p in contexts]
    lines.append("users:")
    lines += [f"- name: {n}\n  user: {{token: t-{n}}}" for n, _ in contexts]
    lines.append("contexts:")
    lines += [f"- name: {n}\n  context: {{cluster: {n}, user: {n}}}" for n, _ in contexts]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def host(source: object) -> str:
    assert source is not None
    return str(api_client(source).configuration.host)  # type: ignore[arg-type]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    kubeconfig(tmp_path / "home" / ".kube" / "config", ("home", 1001), current="home")
    return tmp_path / "home"


def test_the_kubeconfig_flag_wins_over_the_environment_and_home(tmp_path: Path, home: Path) -> None:
    flag = kubeconfig(tmp_path / "flag", ("flag", 1003), current="flag")
    env = {"KUBECONFIG": str(kubeconfig(tmp_path / "env", ("env", 1002), current="env")), **POD}
    source = find_cluster(str(flag), environ=env, home=home)
    assert source is not None and source.origin == "--kubeconfig"
    assert host(source) == "https://127.0.0.1:1003"


def test_kubeconfig_env_wins_over_home_and_in_cluster(tmp_path: Path, home: Path) -> None:
    env = {"KUBECONFIG": str(kubeconfig(tmp_path / "env", ("env", 1002), current="env")), **POD}
    source = find_cluster(environ=env, home=home, token_file=tmp_path / "env")  # a token exists
    assert source is not None and source.origin == "$KUBECONFIG"
    assert host(source) == "https://127.0.0.1:1002"


def test_a_kubeconfig_list_is_merged_and_the_first_current_context_wins(tmp_path: Path, home: Path) -> None:
    first = kubeconfig(tmp_path / "a", ("a", 2001), current="b")  # names a context only the second defines
    second = kubeconfig(tmp_path / "b", ("b", 2002), ("a", 2999), current="a")
    env = {"KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(first), str(second)])}
    source = find_cluster(environ=env, home=home)
    assert source is not None and source.files == (str(first), str(second))
    assert source.context == "b"  # kubectl: the first file to set current-context wins
    assert host(source) == "https://127.0.0.1:2002"
    # The first file to define a name wins it: context "a" is the first file's, not the second's.
    assert host(find_cluster(context="a", environ=env, home=home)) == "https://127.0.0.1:2001"


def test_context_picks_a_context_of_the_kubeconfig(tmp_path: Path, home: Path) -> None:
    env = {"KUBECONFIG": str(kubeconfig(tmp_path / "env", ("x", 3001), ("y", 3002), current="x"))}
    assert host(find_cluster(context="y", environ=env, home=home)) == "https://127.0.0.1:3002"
    with pytest.raises(PermanentError, match=r"^cannot load kubeconfig .*\(context nope\)"):
        api_client(find_cluster(context="nope", environ=env, home=home))  # type: ignore[arg-type]


def test_home_is_used_when_kubeconfig_is_unset_or_empty(home: Path) -> None:
    for env in ({}, {"KUBECONFIG": ""}, POD):
        source = find_cluster(environ=env, home=home)
        assert source is not None and source.origin == "~/.kube/config", env
        assert host(source) == "https://127.0.0.1:1001"


def test_a_kubeconfig_env_of_missing_files_does_not_fall_back_to_home(tmp_path: Path, home: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "gone")}
    with pytest.raises(PermanentError, match=r"\$KUBECONFIG \(.*gone: no such file\)"):
        find_cluster(environ=env, home=home)


def test_in_cluster_only_when_nothing_else_exists_and_a_token_is_mounted(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    nohome = tmp_path / "nohome"
    source = find_cluster(environ=POD, home=nohome, token_file=token)
    assert source is not None and source.in_cluster and source.describe() == IN_CLUSTER
    # In a pod without a token: the in-cluster loader names what is missing (the image's test,
    # test_without_the_service_account_mount_the_container_stops_with_one_line); optional users skip it.
    in_pod = find_cluster(environ=POD, home=nohome, token_file=tmp_path / "absent")
    assert in_pod is not None and in_pod.in_cluster
    assert find_cluster(environ=POD, home=nohome, token_file=tmp_path / "absent", required=False) is None
    with pytest.raises(PermanentError, match=r"^no cluster found: .*not in a pod"):
        find_cluster(environ={}, home=nohome, token_file=token)
    assert find_cluster(environ={}, home=nohome, required=False) is None


def test_context_without_any_kubeconfig_is_refused_even_in_a_pod(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    with pytest.raises(PermanentError, match="--context prod needs a kubeconfig"):
        find_cluster(context="prod", environ=POD, home=tmp_path, token_file=token)


def test_a_missing_or_broken_kubeconfig_flag_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"^cannot load kubeconfig .*nope: no such file$"):
        find_cluster(str(tmp_path / "nope"), environ={})
    broken = tmp_path / "broken"
    broken.write_text("[not, a, mapping]\n")
    with pytest.raises(PermanentError, match="not a kubeconfig"):
        find_cluster(str(broken), environ={})


CLUSTER_COMMANDS = [
    ["run"], ["reconcile"], ["get", "canaries"], ["get", "canary"], ["status"], ["dashboard"],
    ["metrics", "check"],
]


@pytest.mark.parametrize("command", CLUSTER_COMMANDS, ids=" ".join)
def test_every_cluster_command_takes_kubeconfig_and_context(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "--kubeconfig" in result.stdout and "--context" in result.stdout and "$KUBECONFIG" in result.stdout


@pytest.mark.parametrize(
    "args", [["get", "canaries"], ["status", "test/podinfo"], ["get", "canary", "test/x"]]
)
def test_cluster_commands_read_kubeconfig_from_the_environment(tmp_path: Path, args: list[str]) -> None:
    broken = tmp_path / "from-env"
    broken.write_text("just a string\n")
    result = CliRunner(env={"KUBECONFIG": str(broken)}).invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot load kubeconfig ") and "from-env" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
