"""tests/xdist_order.py, in a pytest run of its own: what ``make test``'s xdist run relies on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SUITE = textwrap.dedent('''
    import os
    from pathlib import Path

    import pytest

    LOG = Path(__file__).with_name("setups.log")


    @pytest.fixture(scope="module")
    def unpacked():
        with LOG.open("a") as log:
            log.write(os.environ.get("PYTEST_XDIST_WORKER", "-") + "\\n")


    def test_quick():
        pass


    @pytest.mark.parametrize("i", range(12))
    def test_uses_a_module_fixture(unpacked, i):
        pass


    @pytest.mark.testbed
    def test_on_the_testbed():
        pass


    def test_the_terminal_is_the_controllers():
        assert os.environ.get("COLUMNS") == os.environ.get("EXPECTED_COLUMNS")
        assert "LINES" not in os.environ
''')


def _pytest(tmp_path: Path, *args: str, columns: str | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PYTEST_XDIST_WORKER")}
    env.update(PYTHONPATH=str(REPO), EXPECTED_COLUMNS=columns or "")
    if columns is not None:
        env["COLUMNS"] = columns
    else:
        env.pop("EXPECTED_COLUMNS")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.xdist_order", "-p", "no:cacheprovider", "-q",
         "-o", "markers=testbed", "--rootdir", str(tmp_path), *args, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_under_xdist_a_module_fixture_is_set_up_once_and_workers_see_the_controllers_terminal(
    tmp_path: Path,
) -> None:
    run = _pytest(tmp_path, "-n", "3", "--dist", "loadgroup")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "15 passed" in run.stdout
    assert len((tmp_path / "setups.log").read_text().splitlines()) == 1

    wide = _pytest(tmp_path, "-n", "2", "--dist", "loadgroup", columns="123")
    assert wide.returncode == 0, wide.stdout + wide.stderr


def test_testbed_tests_are_collected_first(tmp_path: Path) -> None:
    run = _pytest(tmp_path, "--collect-only")
    names = [line.split("::", 1)[1] for line in run.stdout.splitlines() if "::" in line]
    assert names[0] == "test_on_the_testbed" and names[1] == "test_quick", names
    assert len(names) == 15
