"""The rollout report: recorded steps → one self-contained HTML page. Pure.

The steps come from git alone (:mod:`gitflagger.adapters.git.step_log` reads
them); this package only turns them into HTML with server-side SVG charts, so
the page needs no script, style sheet, font or image from anywhere: it can be
attached to an incident ticket and opened offline years later.

Every string that came from git (names, subjects, events, gate messages,
diffs) is escaped on the way in (:func:`html.escape`); nothing is ever put
into the page raw.
"""

from gitflagger.render.report.model import Gate, Metric, Rollout, StepRecord, split_rollouts
from gitflagger.render.report.page import render_report

__all__ = ["Gate", "Metric", "Rollout", "StepRecord", "render_report", "split_rollouts"]
