"""Pytest plugin: the order and grouping of tests for ``make test``'s pytest-xdist run.

``make test`` runs ``pytest -n N --dist loadgroup``: each worker is a pytest session of its own
(its own testbed, Prometheus and git server, started when its first test needs them), and the
controller hands out tests one by one in collection order to whichever worker is free. So:

- **Slow first.** Testbed tests wait on controllers and intervals for seconds to minutes; the
  rest are quick and CPU-bound. Testbed tests go first, so the long ones start early and the
  quick ones fill the gaps at the end instead of one long test running alone at the end.
- **Module fixtures once.** A test that uses a module- or class-scoped fixture (an unpacked
  image, an installed chart) gets an ``xdist_group`` named after its module, so that fixture
  is set up on one worker, once, as in a serial run; an explicit ``xdist_group`` mark counts
  too. xdist's own loadgroup passes groups by appending them to node ids, which pytest 9.2 no
  longer lets it do (pytest-xdist issue 1386): every test then ran on any worker. So the
  workers write each grouped test's group to a file named in their ``workerinput``, and
  :class:`GroupScheduling` (the ``loadgroup`` scheduler here) reads it once all have collected.
- **The same terminal.** Workers are started with ``COLUMNS=80 LINES=24`` in their environment
  where the controller had none (or others); rich sizes the CLI's output by ``COLUMNS``, so a
  long line would wrap in a worker and not in a serial run. Each worker gets the controller's.

Without xdist (a plain ``pytest``) the order changes the same way and the groups do nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

SHARED_SCOPES = {"module", "class", "package"}
TERMINAL_VARIABLES = ("COLUMNS", "LINES")
GROUPS_KEY = "gitflagger_groups_file"


def uses_shared_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(d.scope in SHARED_SCOPES for defs in info.name2fixturedefs.values() for d in defs)


def group_of(item: pytest.Item) -> str | None:
    marks = item.iter_markers("xdist_group")
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks}
    if names:
        return "_".join(sorted(names))
    return item.nodeid.split("::", 1)[0] if uses_shared_fixture(item) else None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads (and appends) xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("testbed") is None)  # stable: files keep their order
    target = getattr(config, "workerinput", {}).get(GROUPS_KEY)
    if target is None:
        return
    groups = {item.nodeid: g for item in items if (g := group_of(item)) is not None}
    part = Path(f"{target}.{os.getpid()}")
    part.write_text(json.dumps(groups))
    part.replace(target)  # every worker collects the same tests: the last complete file wins


# ---- controller side --------------------------------------------------------------------------

@pytest.hookimpl(optionalhook=True)  # an xdist hook: called in the controller, once per worker
def pytest_configure_node(node: Any) -> None:
    config = node.config
    if not hasattr(config, "_gitflagger_groups_dir"):
        config._gitflagger_groups_dir = tempfile.mkdtemp(prefix="gitflagger-xdist-")
    node.workerinput[GROUPS_KEY] = str(Path(config._gitflagger_groups_dir) / "groups.json")
    node.workerinput["gitflagger_terminal"] = {name: os.environ.get(name) for name in TERMINAL_VARIABLES}


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own loadgroup scheduler
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """Tests one by one, except that a group's tests all go to one worker, one after another."""

        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:  # first called once every worker has collected (and written)
                directory = getattr(config, "_gitflagger_groups_dir", None)
                path = Path(directory or "/nonexistent") / "groups.json"
                self._groups = json.loads(path.read_text()) if path.is_file() else {}
            plain = nodeid.rsplit("@", 1)[0] if nodeid.rfind("@") > nodeid.rfind("]") else nodeid
            group = self._groups.get(plain)
            return f"group:{group}" if group is not None else nodeid

    return GroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    controller: dict[str, str | None] = getattr(config, "workerinput", {}).get("gitflagger_terminal", {})
    for name, value in controller.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = getattr(config, "_gitflagger_groups_dir", None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
