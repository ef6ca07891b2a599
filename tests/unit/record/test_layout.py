"""Where a Canary's files go, and the names that must never be used."""

from __future__ import annotations

import dataclasses

import pytest

from gitflagger.adapters.git.layout import canary_directory, directory_files
from gitflagger.errors import PermanentError
from gitflagger.model.status import State
from gitflagger.render import Manifest
from tests.unit.record.steps import manifests, obj, podinfo


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        pytest.param("local", ("local", "test", "podinfo"), id="default"),
        pytest.param("", ("test", "podinfo"), id="no-prefix"),
        pytest.param("/clusters/eu-1/", ("clusters", "eu-1", "test", "podinfo"), id="nested-slashes-trimmed"),
    ],
)
def test_canary_directory(prefix: str, expected: tuple[str, ...]) -> None:
    assert canary_directory(prefix, "test", "podinfo") == expected


@pytest.mark.parametrize(
    ("prefix", "namespace", "name", "message"),
    [
        pytest.param("a/../b", "test", "app", "invalid path component '..' in a/../b/test/app", id="dotdot"),
        pytest.param(".git", "test", "app", "invalid path component '.git'", id="dot-git"),
        pytest.param("local", "te/st", "app", "canary namespace 'te/st' must not contain '/'", id="slash"),
    ],
)
def test_canary_directory_refuses_escaping_paths(
    prefix: str, namespace: str, name: str, message: str
) -> None:
    with pytest.raises(PermanentError) as err:
        canary_directory(prefix, namespace, name)
    assert message in str(err.value)


def test_file_names_come_from_the_manifests_plus_the_snapshot() -> None:
    files = directory_files(podinfo(), State(), manifests(secret=True))
    assert sorted(files) == ["canary.yaml", "deployment-podinfo-primary.yaml", "service-podinfo.yaml"]
    assert files["service-podinfo.yaml"] == manifests()[0].to_yaml().encode()


def test_two_objects_with_one_file_name_are_an_error() -> None:
    twice = (Manifest(obj("Service", "podinfo")), Manifest(obj("Service", "PODINFO")))
    with pytest.raises(PermanentError, match=r"'service-podinfo\.yaml' is invalid or used twice"):
        directory_files(podinfo(), State(), twice)


def test_an_object_may_not_shadow_the_snapshot() -> None:
    class Snapshot:
        path = "canary.yaml"
        secret = False
        checksum = ""

        def to_yaml(self) -> str:
            return "kind: Canary\n"

    with pytest.raises(PermanentError, match=r"'canary\.yaml' is invalid or used twice"):
        directory_files(podinfo(), State(), [Snapshot()])


def test_the_snapshot_keeps_webhook_credentials_out_of_git() -> None:
    canary = podinfo()
    spec = dict(canary.raw["spec"])
    spec["analysis"] = {
        **spec["analysis"],
        "webhooks": [
            {
                "name": "load-test",
                "url": "https://bot:hunter2@loadtester.test:8443/run",
                "metadata": {"cmd": "hey -z 1m http://podinfo-canary.test:9898/", "token": "s3cr3t-t0ken",
                             "Authorization": "Bearer abc.def"},
            }
        ],
    }
    leaky = dataclasses.replace(canary, raw={**canary.raw, "spec": spec})

    text = directory_files(leaky, State(), ())["canary.yaml"].decode()

    for secret in ("hunter2", "bot:", "s3cr3t-t0ken", "abc.def"):
        assert secret not in text
    assert "url: https://<redacted>@loadtester.test:8443/run" in text
    assert "cmd: hey -z 1m http://podinfo-canary.test:9898/" in text
    assert text.count("<redacted>") == 3
