"""``gitflagger history``'s table: every value whole at any width.

A cut commit id or metric value would be a wrong one, so cells wrap (``fold``)
and never end in ``…``. Below :data:`STACKED_BELOW` columns seven columns
cannot fit, so each step becomes a short block of lines instead; ``--wide``
prints one line per row however wide it gets.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gitflagger.adapters.git import HistoryEntry
from gitflagger.cli.tables import print_table, stdout_console
from gitflagger.model.status import format_time

STACKED_BELOW = 110


def metric_text(value: str) -> str:
    """A recorded metric value as Flagger prints it: two decimals (``70.26``); words stay words."""
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return value


def print_history(canary: str, rows: list[HistoryEntry], prefix: str, *, wide: bool) -> None:
    where = f"{prefix.strip('/')}/{canary}/" if prefix.strip("/") else f"{canary}/"
    notes = [] if rows else [f"no steps recorded for {canary} in {where} (see --repo-prefix)"]
    console = stdout_console(wide=wide)
    if not wide and console.width < STACKED_BELOW:
        _print_stacked(console, canary, rows, notes)
        return
    metrics = ["\n".join(f"{name}: {metric_text(v)}" for name, v in row.metrics.items()) for row in rows]
    widest = max((len(line) for text in metrics for line in text.splitlines()), default=7)
    table = Table(title=f"{canary}: recorded steps, newest first")
    for column in ("Time", "Phase", "Weight", "Failed", "Metrics", "Commit", "Subject"):
        table.add_column(
            column,
            justify="right" if column in ("Weight", "Failed") else "left",
            overflow="fold",
            no_wrap=wide or column in ("Time", "Weight", "Failed", "Metrics", "Commit"),
            min_width=widest if column == "Metrics" else None,
        )
    for row, text in zip(rows, metrics, strict=True):
        t = row.trailers
        table.add_row(
            format_time(row.time),
            _phase(row),
            str(t.canary_weight),
            str(t.failed_checks),
            text,
            row.commit[:10],
            _subject(row),
        )
    print_table(table, *notes, console=console)


def _print_stacked(console: Console, canary: str, rows: list[HistoryEntry], notes: list[str]) -> None:
    """One block per step: time, commit, phase and numbers; then the subject; then the metrics."""
    lines = [f"{canary}: recorded steps, newest first", ""]
    for row in rows:
        t = row.trailers
        lines.append(f"{format_time(row.time)}  {row.commit[:10]}  {_phase(row)}  "
                     f"weight {t.canary_weight}  failed {t.failed_checks}")
        lines.append(f"    {_subject(row)}")
        lines += [f"    {name}: {metric_text(value)}" for name, value in row.metrics.items()]
    for line in lines + notes:
        console.print(line, highlight=False, markup=False, overflow="fold")


def _phase(row: HistoryEntry) -> str:
    if row.phase_changed and row.previous_phase:
        return f"{row.previous_phase} → {row.trailers.phase}"
    return row.trailers.phase


def _subject(row: HistoryEntry) -> str:
    """The subject without its ``name.namespace: `` prefix: the title names the Canary."""
    namespace, _, name = row.trailers.canary.partition("/")
    return row.subject.removeprefix(f"{name}.{namespace}: ")
