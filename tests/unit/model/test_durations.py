"""Go durations: parsed from Canary fields and printed exactly as Go's ``Duration.String()``."""

from __future__ import annotations

import pytest

from gitflagger.model import Duration, format_go, format_go_seconds, parse_duration

NS, US, MS, S = 1, 1_000, 1_000_000, 1_000_000_000
M, H = 60 * S, 3600 * S

GO_STRINGS = [
    (1515 * MS, "1.515s"),
    (500 * MS, "500ms"),
    (90 * S, "1m30s"),
    (2 * H, "2h0m0s"),
    (1500 * NS, "1.5µs"),
    (0, "0s"),
    (1 * NS, "1ns"),
    (1 * MS + 1 * NS, "1.000001ms"),
    (10 * S, "10s"),
    (H + M + S, "1h1m1s"),
    (H + S, "1h0m1s"),
    (100 * H, "100h0m0s"),
    (59 * S + 999 * MS, "59.999s"),
    (-1500 * MS, "-1.5s"),
]


@pytest.mark.parametrize(("nanoseconds", "text"), GO_STRINGS, ids=[t for _, t in GO_STRINGS])
def test_format_go(nanoseconds: int, text: str) -> None:
    assert format_go(nanoseconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "500ms"), (1.515, "1.515s"), (0.0015, "1.5ms")],
    ids=["500ms", "1.515s", "1.5ms"],
)
def test_format_go_seconds(seconds: float, text: str) -> None:
    assert format_go_seconds(seconds) == text


PARSED = [
    ("1m30s", 90 * S),
    ("500ms", 500 * MS),
    ("1.5h", 90 * M),
    ("300us", 300 * US),
    ("300µs", 300 * US),
    ("0", 0),
    (".5s", 500 * MS),
    ("1h2m3s4ms", H + 2 * M + 3 * S + 4 * MS),
    ("10s", 10 * S),
]


@pytest.mark.parametrize(("text", "nanoseconds"), PARSED, ids=[t for t, _ in PARSED])
def test_parse_duration(text: str, nanoseconds: int) -> None:
    parsed = parse_duration(text)
    assert parsed == Duration(nanoseconds, text)
    assert str(parsed) == text


@pytest.mark.parametrize("text", ["1x", "", "10", "-1s", "1m 30s", "m", "1.5.5s", "1d"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == (
        f'invalid duration "{text}" (use a number with a unit: ns, us, ms, s, m, h, e.g. 30s or 1m30s)'
    )


def test_duration_keeps_the_users_text_but_compares_by_value_for_ordering() -> None:
    assert str(parse_duration("60s")) == "60s"
    assert parse_duration("60s").nanoseconds == parse_duration("1m").nanoseconds
    assert str(Duration(90 * S)) == "1m30s"
    assert Duration.of_seconds(1.5) == Duration(1500 * MS, "1.5s")
