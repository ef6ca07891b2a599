"""Large manifests: a 5 MB Deployment through the canonical YAML writer and ``gitflagger simulate``.

The Deployment is the podinfo fixture with what makes real manifests big:
thousands of ``env`` entries (names and values, each distinct) and an embedded
multi-line config file in a pod annotation, about half the bytes each.

Rows, each a median over repeated runs, CPU time (``time.process_time``, or the
child's user+system time), so other work on the machine does not count:

* ``canonical YAML, 5 MB``: :func:`dump_canonical` of the 5 MB Deployment (what
  the record stage writes at every step); its baseline is the same at 1 MB in
  the same run, and the ratio per megabyte shows the writer is linear (1.0);
* ``ruamel reference, 1 MB``: ruamel.yaml's emitter on the 1 MB object, the writer
  that used to take over for such manifests; the ratio is fast / ruamel;
* ``simulate, 5 MB JSON`` and ``simulate, 5 MB YAML``: a whole ``gitflagger simulate``
  of the promote timeline (about 12 steps) as a separate process, target < 5 s,
  against the same with the 9 KB fixture. A JSON file (``kubectl get -o json``)
  is read by the C JSON parser, a YAML file by libyaml (:mod:`gitflagger.model.fast_yaml`).
"""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gitflagger.adapters.files import load_documents
from gitflagger.render.yaml import _dump_ruamel, canonical_order, dump_canonical, strip_noise
from tests.bench.harness import Row, Sample, at_most

ROOT = Path(__file__).resolve().parents[2]
PODINFO = ROOT / "fixtures" / "podinfo"
TIMELINE = ROOT / "fixtures" / "timelines" / "promote.yaml"
TARGET_SECONDS = 5.0
MB = 1_000_000


def deployment(size: int) -> dict[str, Any]:
    """The podinfo Deployment grown to about ``size`` bytes of canonical YAML."""
    doc = _grown(size)
    return _grown(int(size * size / len(dump_canonical(doc))))  # once more, at the measured scale


def _grown(size: int) -> dict[str, Any]:
    [base] = load_documents([PODINFO / "deployment.yaml"])
    doc = copy.deepcopy(base)
    template = doc["spec"]["template"]
    template["spec"]["containers"][0]["env"] = [
        {"name": f"FEATURE_FLAG_{i:06d}", "value": f"tenant-{i % 97}.region-{i % 7}/v{i}-{'x' * 24}"}
        for i in range(size // 2 // 100)
    ]
    template["metadata"]["annotations"]["example.com/config"] = "".join(
        f"setting.{i:06d} = {'y' * 40}  # line {i}\n" for i in range(size // 2 // 68)
    )
    return doc


def cpu(fn: Any) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def simulate_cpu(files: list[Path]) -> float:
    """User+system seconds of one ``gitflagger simulate`` process over the promote timeline."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [str(Path(sys.executable).parent / "gitflagger"), "simulate", *map(str, files),
             "--timeline", str(TIMELINE), "--repo", str(Path(tmp) / "repo.git")],
            check=True, capture_output=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(quick: bool) -> list[Row]:
    runs = 2 if quick else 3
    big, small = deployment(5 * MB), deployment(1 * MB)
    big_bytes, small_bytes = len(dump_canonical(big)), len(dump_canonical(small))
    rows = []
    five = Sample.of([cpu(lambda: dump_canonical(big)) for _ in range(runs)])
    one = Sample.of([cpu(lambda: dump_canonical(small)) for _ in range(runs)])
    per_mb = (five.median / big_bytes) / (one.median / small_bytes)
    rows.append(five.row(
        f"canonical YAML of a {big_bytes / MB:.1f} MB Deployment", "s", baseline=one.median, ratio=per_mb,
        notes=f"baseline: the {small_bytes / MB:.1f} MB one; ratio: seconds per MB against it (1: linear)",
    ))
    ordered = canonical_order(strip_noise(small))
    reference = Sample.of([cpu(lambda: _dump_ruamel(ordered)) for _ in range(1 if quick else 2)])
    rows.append(reference.row(
        f"ruamel.yaml reference writer, {small_bytes / MB:.1f} MB", "s", baseline=one.median,
        ratio=reference.median / one.median,
        notes="the writer such manifests used to fall back to; ratio: ruamel / fast on the same object",
    ))
    with tempfile.TemporaryDirectory() as tmp:
        as_json, as_yaml = Path(tmp) / "big.json", Path(tmp) / "big.yaml"
        as_json.write_text(json.dumps(big))
        as_yaml.write_text(dump_canonical(big))
        rest = [PODINFO / "hpa.yaml", PODINFO / "canary.yaml"]
        fixture = Sample.of([simulate_cpu([PODINFO / "deployment.yaml", *rest]) for _ in range(runs)])
        for label, path in (("JSON", as_json), ("YAML", as_yaml)):
            if quick and label == "YAML":
                continue
            sample = Sample.of([simulate_cpu([path, *rest]) for _ in range(runs)])
            rows.append(sample.row(
                f"gitflagger simulate, {path.stat().st_size / MB:.1f} MB Deployment as {label}", "s CPU",
                target=f"< {TARGET_SECONDS:.0f} s", met=at_most(sample.median, TARGET_SECONDS),
                baseline=fixture.median, ratio=sample.median / fixture.median,
                notes="promote timeline, ~12 steps; baseline: the same with the 9 KB fixture",
            ))
    return rows
