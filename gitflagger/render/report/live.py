"""The dashboard's page and script: a table of Canaries that refreshes itself from ``/api/canaries``.

Static text, no data: the script fetches the JSON every two seconds and writes
each cell with ``textContent`` (never ``innerHTML``), so nothing a Canary or a
commit says can become markup. The server sends it with a Content-Security-
Policy that allows only its own script and its own JSON.
"""

from __future__ import annotations

REFRESH_MS = 2000

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>gitflagger dashboard</title><style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;
color:#1b1f24;padding:0 16px}h1{font-size:22px;margin:0 0 4px}.muted{color:#57606a}
table{border-collapse:collapse;width:100%;margin-top:12px}
td,th{border-bottom:1px solid #eaeef2;text-align:left;padding:6px 8px;vertical-align:middle}
th{font-weight:600}
.bar{display:inline-block;width:120px;height:10px;background:#0969da33;border-radius:5px;vertical-align:middle;
margin-right:8px;overflow:hidden}.bar i{display:block;height:100%;background:#bf3989}
.phase{font-weight:600}.Succeeded{color:#1a7f37}.Failed{color:#cf222e}.Progressing,.Promoting,.Finalising{color:#0969da}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}a{color:#0969da;text-decoration:none}
a:hover{text-decoration:underline}
</style></head><body>
<h1>Canaries</h1>
<p class="muted" id="source">loading…</p>
<table><thead><tr><th>Namespace</th><th>Name</th><th>Phase</th><th>Weight</th><th>Failed checks</th>
<th>Last step</th><th>Commit</th></tr></thead><tbody id="canaries"></tbody></table>
<p class="muted">Read-only. Each name opens its rollout report; each commit opens that step and its diff.</p>
<script src="/app.js"></script>
</body></html>
"""

SCRIPT = """"use strict";
function cell(row, text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  row.appendChild(td);
  return td;
}
function link(td, href, text) {
  td.textContent = "";
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  td.appendChild(a);
}
function draw(data) {
  document.getElementById("source").textContent =
    data.source + " \\u00b7 updated " + new Date().toLocaleTimeString();
  const body = document.getElementById("canaries");
  const rows = [];
  for (const c of data.canaries) {
    const row = document.createElement("tr");
    row.dataset.canary = c.namespace + "/" + c.name;
    row.dataset.phase = c.phase;
    row.dataset.weight = String(c.canaryWeight);
    const report = "/report/" + encodeURIComponent(c.namespace) + "/" + encodeURIComponent(c.name);
    cell(row, c.namespace);
    link(cell(row, ""), report, c.name);
    cell(row, c.phase || "-", "phase " + (c.phase || ""));
    const weight = cell(row, "");
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = Math.max(0, Math.min(100, c.canaryWeight)) + "%";
    bar.appendChild(fill);
    weight.appendChild(bar);
    weight.appendChild(document.createTextNode(c.canaryWeight + "%"));
    weight.className = "weight";
    cell(row, String(c.failedChecks), "failed");
    cell(row, c.lastStep || "-", "step");
    const commit = cell(row, "");
    const step = "/step/" + encodeURIComponent(c.namespace) + "/" + encodeURIComponent(c.name) + "/";
    if (c.lastCommit) link(commit, step + c.lastCommit, c.lastCommit.slice(0, 10));
    rows.push(row);
  }
  body.replaceChildren(...rows);
}
async function refresh() {
  try {
    const response = await fetch("/api/canaries", {cache: "no-store"});
    if (response.ok) draw(await response.json());
  } catch (err) {
    document.getElementById("source").textContent = "cannot reach the dashboard server: " + err;
  }
}
refresh();
setInterval(refresh, REFRESH_MS);
""".replace("REFRESH_MS", str(REFRESH_MS))
