"""Go-style number printing and the metric verdict texts."""

from __future__ import annotations

import doctest

import pytest

from gitflagger.decide import machine, messages, weights
from gitflagger.decide.messages import go_float


@pytest.mark.parametrize(
    ("value", "go"),
    [
        (99.0, "99"),
        (99.5, "99.5"),
        (0.5, "0.5"),
        (500.0, "500"),
        (100000.0, "100000"),
        (123456.7, "123456.7"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (1.5e-5, "1.5e-05"),
        (-2.5, "-2.5"),
        (0.0, "0"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
    ],
)
def test_go_float_matches_fmt_v(value: float, go: str) -> None:
    assert go_float(value) == go


@pytest.mark.parametrize("module", [machine, messages, weights], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0
