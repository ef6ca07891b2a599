"""Go-style durations: parsed from Canary fields, printed the way Flagger's Go code prints them.

Flagger's event texts embed Go's ``time.Duration.String()`` (``1.515s``, ``500ms``,
``1m30s``), and its PromQL range selectors embed the user's own text (``[1m]``).
So a :class:`Duration` keeps both the parsed value and the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


@dataclass(frozen=True, order=True)
class Duration:
    """A non-negative duration with nanosecond precision, remembering how it was written."""

    nanoseconds: int
    text: str = ""

    @property
    def seconds(self) -> float:
        return self.nanoseconds / 1e9

    @classmethod
    def of_seconds(cls, seconds: float) -> Duration:
        d = cls(round(seconds * 1e9))
        return cls(d.nanoseconds, format_go(d.nanoseconds))

    def __str__(self) -> str:
        return self.text or format_go(self.nanoseconds)


def parse_duration(text: str) -> Duration:
    """Parse ``"1m30s"``, ``"500ms"``, ``"10s"`` like Go's ``time.ParseDuration``.

    Negative durations are refused: no Canary field accepts one.

    >>> parse_duration("1m30s").seconds
    90.0
    >>> parse_duration("1x")
    Traceback (most recent call last):
    ...
    ValueError: invalid duration "1x" (use a number with a unit: ns, us, ms, s, m, h, e.g. 30s or 1m30s)
    """
    raw = text.strip()
    if raw == "0":
        return Duration(0, raw)
    pos = 0
    total = Decimal(0)
    for m in _PART.finditer(raw):
        if m.start() != pos:
            break
        total += Decimal(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or not raw:
        raise ValueError(
            f'invalid duration "{text}" (use a number with a unit: ns, us, ms, s, m, h, e.g. 30s or 1m30s)'
        )
    return Duration(int(total), raw)


def format_go(nanoseconds: int) -> str:
    """Print a duration exactly like Go's ``time.Duration.String()``.

    >>> format_go(1_515_000_000), format_go(500_000_000), format_go(90 * 10**9), format_go(0)
    ('1.515s', '500ms', '1m30s', '0s')
    """
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    ns = abs(nanoseconds)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rem = divmod(ns, 3600 * 1_000_000_000)
    minutes, rem = divmod(rem, 60 * 1_000_000_000)
    secs = _fraction(rem, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return sign + secs


def format_go_seconds(seconds: float) -> str:
    """``format_go`` for a value in seconds (metric results arrive as floats)."""
    return format_go(round(seconds * 1e9))


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
