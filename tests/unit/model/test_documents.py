"""Multi-document YAML files: every object in order, and bad YAML named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitflagger.adapters.files import load_documents
from gitflagger.errors import PermanentError, ValidationError
from gitflagger.model import load_yaml_text
from gitflagger.model.documents import parse_yaml
from tests.unit.model.canaries import FIXTURES


def test_fixture_files_load_in_order() -> None:
    docs = load_documents([FIXTURES / "podinfo" / n for n in ("deployment.yaml", "hpa.yaml", "canary.yaml")])
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "podinfo"),
        ("HorizontalPodAutoscaler", "podinfo"),
        ("Canary", "podinfo"),
    ]


def test_deployment_fixture_matches_the_tutorial() -> None:
    [deployment] = load_documents([FIXTURES / "podinfo" / "deployment.yaml"])
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["metadata"]["namespace"] == "test"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "podinfo"}
    assert container["image"] == "ghcr.io/stefanprodan/podinfo:6.0.0"
    assert {"name": "http", "containerPort": 9898, "protocol": "TCP"} in container["ports"]
    assert {"livenessProbe", "readinessProbe", "resources"} <= set(container)


def test_multi_document_text_skips_empty_documents() -> None:
    text = "---\nkind: A\n---\n---\n# only a comment\n---\nkind: B\n"
    assert load_yaml_text(text) == [{"kind": "A"}, {"kind": "B"}]


BAD_YAML = [
    (
        "unclosed-flow",
        "kind: A\nspec: [1\n",
        "invalid YAML: bad.yaml:3:1: expected ',' or ']', but got '<stream end>'",
    ),
    ("bad-indent", "kind: A\n  name: x\n", "invalid YAML: bad.yaml:2:7: mapping values are not allowed here"),
    (
        "duplicate-key",
        "kind: A\nkind: B\n",
        'invalid YAML: bad.yaml:2:1: found duplicate key "kind" with value "B" (original value: "A")',
    ),
    (
        "python-tag",
        "kind: !!python/object:os.system x\n",
        "invalid YAML: bad.yaml:1:7: could not determine a constructor",
    ),
    (
        "not-a-mapping",
        "kind: A\n---\n- 1\n",
        "invalid YAML: bad.yaml: document 2: must be a mapping, got a list",
    ),
]


@pytest.mark.parametrize(("text", "message"), [b[1:] for b in BAD_YAML], ids=[b[0] for b in BAD_YAML])
def test_bad_yaml_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_documents([path])
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)
    assert "\n" not in str(info.value)


def test_unreadable_file_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"cannot read .*missing\.yaml: No such file or directory"):
        load_documents([tmp_path / "missing.yaml"])


@pytest.mark.parametrize(
    "text",
    [
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},'
        ' "data": {"a": "x\\ny", "b": "\\u00e9"}}',
        '{"a": [1, -0, 1.5, 1e3, 123456789012345678901234567890, true, false, null, "", "yes", "0755"]}',
        '{"a": 1, "a": 2}',  # a duplicate key: the YAML parser's clear error
        '{"a": NaN}',  # not JSON: YAML reads NaN as a string
        '[{"a": 1}]',
        '  {"a": {"b": [{}, []]}}\n',
    ],
)
def test_a_json_text_reads_exactly_as_the_yaml_parser_reads_it(text: str) -> None:
    try:
        expected: object = list(YAML(typ="safe", pure=True).load_all(text))
    except Exception as err:  # the YAML parser refuses it: so must we, with its message
        with pytest.raises(ValidationError, match="duplicate key"):
            load_yaml_text(text)
        assert "duplicate key" in str(err)
        return
    assert repr(parse_yaml(text)) == repr(expected)  # types too: 1e3 is a float either way
