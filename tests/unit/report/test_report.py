"""``gitflagger report``: one self-contained page from git alone, with the right numbers, and nothing raw."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner

from gitflagger.cli.main import cli
from gitflagger.render.report import Gate, Metric, Rollout, StepRecord, render_report
from tests.unit.cli.test_simulate_cli import simulate_json


def report(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args])
    return result.exit_code, result.stdout, result.stderr


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def points(doc: Elements, series: str) -> list[str]:
    return [a["data-value"] for t, a in doc.tags if a.get("data-series") == series]


@pytest.fixture
def rollback(tmp_path: Path) -> Path:
    repo = tmp_path / "rollback.git"
    simulate_json(repo, "rollback")
    return repo


def test_the_report_of_a_rollback_carries_its_numbers(rollback: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, stdout, err = report("test/podinfo", "--repo", str(rollback), "--out", str(out))
    assert (code, err) == (0, "")
    assert stdout.startswith("rollout 2: Failed after 8m00s, 5 failed checks: Rolling back podinfo.test "
                             "failed checks threshold reached 5\nwrote ")
    doc = parse(out.read_text())
    assert points(doc, "canary") == ["0", "10", "20", "20", "20", "20", "20", "20", "0"]
    assert points(doc, "primary") == ["100", "90", "80", "80", "80", "80", "80", "80", "100"]
    rate = [(a["data-value"], "failed" in a["class"]) for t, a in doc.tags
            if a.get("data-series") == "request-success-rate"]
    assert rate == [("99.9", False)] + [("95.5", True)] * 5
    thresholds = {a["data-threshold"] for t, a in doc.tags if "data-threshold" in a}
    assert thresholds == {"99", "500"}  # min 99 success rate, max 500 ms
    (summary,) = [a for t, a in doc.tags if "data-result" in a]
    assert summary["data-result"] == "Failed"
    text = " ".join(doc.text)
    assert "Halt podinfo.test advancement success rate 95.50% < 99%" in text  # Flagger's event text
    assert "load-test" in text and "rollout" in text  # the gate and its type
    steps = [a for t, a in doc.tags if t == "details"]
    assert len(steps) == 9 and all("open" not in a for a in steps)  # every step, collapsed
    assert "+  canaryWeight: 10" in text  # a step's manifest diff


def test_the_page_loads_nothing_from_anywhere(rollback: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert report("test/podinfo", "--repo", str(rollback), "--out", str(out), "--rollout", "all")[0] == 0
    page = out.read_text()
    doc = parse(page)
    assert not [t for t, _ in doc.tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [a for _, a in doc.tags if {"src", "href"} & set(a)]
    assert "url(" not in page and "@import" not in page and "@font-face" not in page
    assert len([a for _, a in doc.tags if a.get("class") == "rollout"]) == 2


def test_rollout_selection(rollback: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "r.html")
    assert report("test/podinfo", "--repo", str(rollback), "--out", out, "--rollout", "1")[1].startswith(
        "rollout 1: Initialized")
    code, _, err = report("test/podinfo", "--repo", str(rollback), "--out", out, "--rollout", "3")
    assert (code, err) == (1, "error: test/podinfo: --rollout 3: there are 2 rollouts\n")
    code, _, err = report("test/podinfo", "--repo", str(rollback), "--out", out, "--rollout", "newest")
    assert code == 2 and "expected latest, all or a rollout number" in err
    code, _, err = report("test/other", "--repo", str(rollback), "--out", out)
    assert (code, err) == (1, "error: test/other: no steps recorded (check the name and --repo-prefix)\n")


EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def test_html_from_a_commit_is_escaped(rollback: Path, tmp_path: Path) -> None:
    """A step commit whose subject, events, gate message and files carry markup: all of it shows as text."""
    git = pygit2.Repository(str(rollback))
    head = git.references["refs/heads/main"].peel(pygit2.Commit)
    message = head.message.replace("podinfo.test: rollback", f"podinfo.test: {EVIL}", 1)
    message = message.replace("- Canary failed! Scaling down podinfo.test", f"- {EVIL}")
    message = message.replace("\n\nCanary: ", f"\n\nGates:\n- load-test (rollout): fail: {EVIL}\n\nCanary: ")
    message = message.replace(f"Previous-Step: {head.parents[0].id}",
                              f"Previous-Step: {head.parents[0].id}\nNote: {EVIL}")
    builder = git.TreeBuilder(head.tree)
    evil_blob = git.create_blob(f"data: '{EVIL}'\n".encode())
    local = git[head.tree["local"].id]
    test = git[local["test"].id]
    podinfo = git.TreeBuilder(git[test["podinfo"].id])
    podinfo.insert("evil.yaml", evil_blob, pygit2.enums.FileMode.BLOB)
    t = git.TreeBuilder(test)
    t.insert("podinfo", podinfo.write(), pygit2.enums.FileMode.TREE)
    lb = git.TreeBuilder(local)
    lb.insert("test", t.write(), pygit2.enums.FileMode.TREE)
    builder.insert("local", lb.write(), pygit2.enums.FileMode.TREE)
    parents = [head.parents[0].id]
    forged = git.create_commit(None, head.author, head.committer, message, builder.write(), parents)
    git.references.create("refs/heads/main", forged, force=True)
    out = tmp_path / "r.html"

    code, _, err = report("test/podinfo", "--repo", str(rollback), "--out", str(out))

    assert (code, err) == (0, "")
    page = out.read_text()
    doc = parse(page)
    assert not [t for t, _ in doc.tags if t in ("script", "img")]
    assert not [a for _, a in doc.tags if any(k.startswith("on") for k in a)]
    assert "<script" not in page and "<img" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # subject, event, gate, trailer, diff
    assert EVIL in " ".join(doc.text)  # shown to the reader as the text it is


def test_an_evil_canary_name_and_metric_name_are_text() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    step = StepRecord(commit="a" * 40, time=t0, subject=EVIL, phase=EVIL, canary_weight=10, primary_weight=90,
                      failed_checks=1, revision=EVIL, trailers=(("Canary", EVIL),), events=(EVIL,),
                      metrics=(Metric(EVIL, 1.0, "1", min=2.0, passed=False),),
                      gates=(Gate(EVIL, EVIL, False, EVIL),),
                      diff=f"+{EVIL}")
    later = StepRecord(**{**step.__dict__, "time": t0 + timedelta(minutes=1), "commit": "b" * 40})
    page = render_report(EVIL, [Rollout(1, (step, later))], source=EVIL, generated=EVIL)
    doc = parse(page)
    assert [t for t, _ in doc.tags if t in ("script", "img")] == []
    assert not re.search(r"<(script|img)", page)


def test_no_values_found_is_a_cross_on_the_axis() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    steps = tuple(
        StepRecord(commit=c * 40, time=t0 + timedelta(minutes=i), subject="s", phase="Progressing",
                   canary_weight=10, primary_weight=90, failed_checks=i, revision="r",
                   metrics=(Metric("p99", None, "no values found", max=5.0, passed=False),))
        for i, c in enumerate("ab")
    )
    doc = parse(render_report("t/p", [Rollout(1, steps)], source="s", generated="g"))
    crosses = [a for t, a in doc.tags if a.get("data-series") == "p99"]
    shown = [(t["data-value"], "none" in t["class"], "failed" in t["class"]) for t in crosses]
    assert shown == [("", True, True)] * 2
