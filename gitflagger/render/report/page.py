"""The report page: a summary, charts, gates, events and every step of each rollout, in one HTML file.

Everything that came from git goes through :func:`html.escape` (``quote=True``)
before it reaches the page, attributes included; the page has no script at
all, so even a forged message could only ever show up as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from gitflagger.render.report.model import Rollout, StepRecord
from gitflagger.render.report.svg import Band, Chart, Point, Series, draw

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;
color:#1b1f24;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 6px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:18px 0 4px}.muted{color:#57606a}
.summary{padding:8px 12px;border-radius:6px;background:#f6f8fa;border-left:4px solid #8c959f}
.summary.Succeeded{border-color:#1a7f37}.summary.Failed{border-color:#cf222e}
.chart{width:100%;height:auto;background:#fff;border:1px solid #d0d7de;border-radius:6px}
.band{opacity:.13}.phase-initializing,.phase-initialized{fill:#8c959f}.phase-progressing{fill:#0969da}
.phase-promoting,.phase-finalising{fill:#8250df}.phase-succeeded{fill:#1a7f37}.phase-failed{fill:#cf222e}
.phase-waiting,.phase-waitingpromotion{fill:#bf8700}
.grid{stroke:#eaeef2}.axis{font-size:11px;fill:#57606a}.line{fill:none;stroke-width:2}
.threshold{stroke:#cf222e;stroke-dasharray:6 4}
.s0{stroke:#bf3989}.s1{stroke:#0969da}.pt.s0{fill:#bf3989}.pt.s1{fill:#0969da}
.pt.failed{fill:#cf222e;stroke:#cf222e}
.pt.none{stroke:#cf222e;stroke-width:2;fill:none}
.legend span{margin-right:14px}.legend i{display:inline-block;width:12px;height:3px;vertical-align:middle;
margin-right:4px}
table{border-collapse:collapse;width:100%;margin:4px 0}td,th{border-bottom:1px solid #eaeef2;text-align:left;
padding:3px 6px;vertical-align:top}th{font-weight:600}
.pass{color:#1a7f37}.fail{color:#cf222e}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
details{border:1px solid #d0d7de;border-radius:6px;margin:4px 0;padding:4px 8px}summary{cursor:pointer}
pre{overflow-x:auto;background:#f6f8fa;padding:8px;margin:6px 0}.add{color:#1a7f37}.del{color:#cf222e}
.hunk{color:#8250df}
"""


def render_report(canary: str, rollouts: Sequence[Rollout], *, source: str, generated: str) -> str:
    """The whole page: ``canary`` (``ns/name``), its rollouts oldest first, where they were read from."""
    body = [f"<h1>{escape(canary)}</h1>",
            f'<p class="muted">Read from {escape(source)} · generated {escape(generated)} · '
            f"{len(rollouts)} rollout{'s' if len(rollouts) != 1 else ''}</p>"]
    if not rollouts:
        body.append("<p>No steps recorded for this Canary.</p>")
    for rollout in reversed(rollouts):
        body.append(_rollout(rollout))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(canary)}: rollout report</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def render_step_page(canary: str, step: StepRecord) -> str:
    """One step alone, its trailers and diff shown open: what the dashboard links each commit to."""
    body = (f"<h1>{escape(canary)}</h1><p class=\"muted\">{escape(step.subject)}</p>"
            + _step(step).replace("<details ", "<details open ", 1))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(canary)} {escape(step.commit[:10])}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def summary_line(rollout: Rollout) -> str:
    """``Failed after 9m00s, 5 failed checks: Rolling back podinfo.test failed checks …``."""
    checks = f"{rollout.failed_checks} failed check{'s' if rollout.failed_checks != 1 else ''}"
    return (f"{rollout.result} after {_duration(rollout.duration_seconds)}, {checks}: "
            f"{rollout.ended_because}")


def _rollout(rollout: Rollout) -> str:
    steps = rollout.steps
    out = [f'<section class="rollout" id="rollout-{rollout.number}">',
           f'<h2>Rollout {rollout.number} <span class="muted"><code>{escape(rollout.revision[:19])}</code> · '

           f"{escape(steps[0].time.strftime('%Y-%m-%d %H:%M:%S'))} UTC · {len(steps)} steps</span></h2>",
           f'<p class="summary {escape(rollout.result)}" data-result="{escape(rollout.result)}">'
           f"<b>{escape(rollout.result)}</b> · {escape(summary_line(rollout))}</p>"]
    out.append("<h3>Traffic weight</h3>")
    out.append('<p class="legend"><span><i class="s0" style="background:#bf3989"></i>canary</span>'
               '<span><i class="s1" style="background:#0969da"></i>primary</span>'
               '<span class="muted">background: phase</span></p>')
    out.append(f'<div class="weights">{draw(_weight_chart(rollout))}</div>')
    for chart in _metric_charts(rollout):
        out.append(f"<h3>Metric {escape(chart.title)}</h3>")
        out.append(f'<div class="metric" data-metric="{escape(chart.title)}">{draw(chart)}</div>')
    out.append(_gates(steps))
    out.append(_events(steps))
    out.append("<h3>Steps</h3>")
    out += [_step(step) for step in steps]
    out.append("</section>")
    return "".join(out)


def _end(steps: Sequence[StepRecord]) -> list[tuple[StepRecord, datetime]]:
    """Each step with when the next one began (the last holds for one more average interval)."""
    times = [s.time for s in steps]
    gap = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else timedelta(minutes=1)
    return [(s, times[i + 1] if i + 1 < len(times) else s.time + gap) for i, s in enumerate(steps)]


def _weight_chart(rollout: Rollout) -> Chart:
    steps = rollout.steps
    bands: list[Band] = []
    for step, end in _end(steps):
        if bands and bands[-1].phase == step.phase:
            bands[-1] = Band(bands[-1].start, end, step.phase)
        else:
            bands.append(Band(step.time, end, step.phase))
    canary = [Point(s.time, s.canary_weight, f"{s.commit[:10]} {s.phase}: canary {s.canary_weight}%")
              for s in steps]
    primary = [Point(s.time, s.primary_weight, f"{s.commit[:10]} {s.phase}: primary {s.primary_weight}%")
               for s in steps]
    return Chart("traffic weight", [Series("canary", canary, "s0"), Series("primary", primary, "s1")],
                 y_range=(0, 100), bands=bands, unit="%", x_range=(bands[0].start, bands[-1].end))


def _metric_charts(rollout: Rollout) -> list[Chart]:
    names: list[str] = []
    for step in rollout.steps:
        names += [m.name for m in step.metrics if m.name not in names]
    charts = []
    ends = _end(rollout.steps)
    span = (ends[0][0].time, ends[-1][1])
    for name in names:
        points, bounds = [], {}
        for step in rollout.steps:
            for m in step.metrics:
                if m.name != name:
                    continue
                verdict = "pass" if m.passed else "fail"
                label = f"{step.commit[:10]}: {m.name} {m.text} ({verdict})"
                points.append(Point(step.time, m.value, label, failed=not m.passed))
                if m.min is not None:
                    bounds["min"] = m.min
                if m.max is not None:
                    bounds["max"] = m.max
        series = [Series(name, points, "s1")]
        charts.append(Chart(name, series, thresholds=sorted(bounds.items()), x_range=span))
    return charts


def _gates(steps: Sequence[StepRecord]) -> str:
    rows = [(s, g) for s in steps for g in s.gates]
    if not rows:
        return ""
    out = ['<h3>Gates and webhooks</h3><table class="gates"><tr><th>Time</th><th>Commit</th>'
           "<th>Webhook</th><th>Type</th><th>Result</th><th>Message</th></tr>"]
    for s, g in rows:
        verdict = "pass" if g.passed else "fail"
        out.append(f"<tr><td>{_time(s)}</td><td><code>{escape(s.commit[:10])}</code></td>"
                   f"<td>{escape(g.name)}</td><td>{escape(g.kind)}</td>"
                   f'<td class="{verdict}">{verdict}</td><td>{escape(g.message)}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _events(steps: Sequence[StepRecord]) -> str:
    rows = [(s, e) for s in steps for e in s.events]
    out = ["<h3>Events</h3><table class=\"events\"><tr><th>Time</th><th>Phase</th><th>Event</th></tr>"]
    out += [f"<tr><td>{_time(s)}</td><td>{escape(s.phase)}</td><td>{escape(e)}</td></tr>" for s, e in rows]
    out.append("</table>")
    return "".join(out) if rows else ""


def _step(step: StepRecord) -> str:
    trailers = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>"
                       for k, v in step.trailers)
    return (f'<details class="step" id="step-{escape(step.commit[:12])}"><summary>'
            f"<code>{escape(step.commit[:10])}</code> {_time(step)} · {escape(step.subject)}</summary>"
            f"<table class=\"trailers\">{trailers}</table>{_diff(step.diff)}</details>")


def _diff(text: str) -> str:
    if not text:
        return '<p class="muted">No manifest changes.</p>'
    lines = []
    for line in text.splitlines():
        css = ""
        if line.startswith("@@"):
            css = "hunk"
        elif line.startswith("+") and not line.startswith("+++"):
            css = "add"
        elif line.startswith("-") and not line.startswith("---"):
            css = "del"
        lines.append(f'<span class="{css}">{escape(line)}</span>' if css else escape(line))
    return f'<pre class="diff">{chr(10).join(lines)}</pre>'


def _time(step: StepRecord) -> str:
    return escape(step.time.strftime("%H:%M:%S"))


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s" if hours else f"{minutes}m{sec:02d}s"
