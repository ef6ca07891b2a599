"""``gitflagger simulate`` on the DaemonSet and KEDA fixtures: the promote timeline, and what it records.

The simulated apply keeps the primary of the target's own kind, so a
DaemonSet's promotion records the new image in ``daemonset-podinfo-primary.yaml``
and a ScaledObject's primary copy is recorded beside the primary Deployment.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from ruamel.yaml import YAML

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import GitRecorder
from gitflagger.engine.simulate import simulate
from gitflagger.engine.timeline import load_timeline
from gitflagger.engine.workload import workload_from_documents

ROOT = Path(__file__).resolve().parents[3]
FILES = {
    "daemonset": [ROOT / "fixtures" / "daemonset" / n for n in ("daemonset.yaml", "canary.yaml")],
    "keda": [
        ROOT / "fixtures" / "podinfo" / "deployment.yaml",
        *(ROOT / "fixtures" / "keda" / n for n in ("scaledobject.yaml", "canary.yaml")),
    ],
}
PRIMARY = {"daemonset": "daemonset-podinfo-primary.yaml", "keda": "deployment-podinfo-primary.yaml"}


@pytest.mark.parametrize("fixture", sorted(FILES))
def test_the_promote_timeline_promotes_and_records_the_primary(fixture: str, tmp_path: Path) -> None:
    workload = workload_from_documents(load_documents(FILES[fixture]))
    recorder = GitRecorder(tmp_path / "repo")
    ticks = list(
        simulate(workload, load_timeline(ROOT / "fixtures" / "timelines" / "promote.yaml"), recorder)
    )

    assert [t.phase for t in ticks][-3:] == ["Promoting", "Finalising", "Succeeded"]
    assert ticks[-1].events == ("Promotion completed! Scaling down podinfo.test",)
    repo = pygit2.Repository(str(tmp_path / "repo"))
    tree = repo.revparse_single("main").peel(pygit2.Commit).tree / "local" / "test" / "podinfo"
    names = {str(e.name) for e in tree}  # type: ignore[union-attr]
    primary = YAML(typ="safe").load((tree / PRIMARY[fixture]).data)  # type: ignore[operator]
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    if fixture == "keda":
        assert "scaledobject-podinfo-so-primary.yaml" in names
        assert not [n for n in names if n.startswith("horizontalpodautoscaler-")]
    else:
        assert not [n for n in names if n.startswith("deployment-")]
