/**
 * The dashboard's page: one HTML document with its script inline (no
 * build step, no external requests). The script keeps the run's state from
 * the event stream and draws at most once per animation frame: the graph on
 * a canvas (layered by dependency level), the counts, the per-task timings
 * and the last events.
 *
 * @module
 */
import { TASK_STATUSES } from "../src/tables.ts";

/**
 * The dashboard page.
 *
 * @param title The page title.
 * @param colors Fill, stroke and text colour per task status.
 * @returns The HTML document.
 */
export function dashboardPage(title: string, colors: unknown): string {
  const json = JSON.stringify(colors).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; }
  * { box-sizing: border-box; }
  body { margin: 0; height: 100vh; display: grid; grid-template-rows: auto 1fr; background: #f9fafb; }
  header { display: flex; gap: 16px; align-items: center; padding: 8px 14px; background: #111827; color: #f9fafb; flex-wrap: wrap; }
  header h1 { font-size: 15px; margin: 0; font-weight: 600; }
  header .status { padding: 2px 8px; border-radius: 10px; font-weight: 600; background: #374151; }
  header .stat b { font-variant-numeric: tabular-nums; }
  #bar { flex: 1; min-width: 120px; height: 8px; background: #374151; border-radius: 4px; overflow: hidden; display: flex; }
  #bar span { display: block; height: 100%; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) 380px; min-height: 0; }
  #graph { position: relative; min-height: 0; }
  canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
  #tip { position: absolute; pointer-events: none; background: #111827; color: #fff; padding: 4px 8px; border-radius: 4px; font-size: 12px; display: none; white-space: pre; }
  aside { border-left: 1px solid #e5e7eb; display: grid; grid-template-rows: auto minmax(0, 1fr) minmax(0, 1fr); min-height: 0; background: #fff; }
  aside h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: #6b7280; margin: 8px 10px 4px; }
  .legend { display: flex; flex-wrap: wrap; gap: 6px 10px; padding: 8px 10px; border-bottom: 1px solid #e5e7eb; }
  .legend span { display: inline-flex; align-items: center; gap: 4px; }
  .legend i { width: 10px; height: 10px; border-radius: 2px; display: inline-block; }
  .panel { overflow: auto; min-height: 0; border-bottom: 1px solid #e5e7eb; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 2px 10px; white-space: nowrap; }
  th { position: sticky; top: 0; background: #fff; color: #6b7280; font-weight: 500; }
  td.n { text-align: right; }
  td .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 4px; }
  #events { font: 11px/1.4 ui-monospace, Menlo, Consolas, monospace; margin: 0; padding: 4px 10px; white-space: pre; }
</style>
</head>
<body>
<header>
  <h1 id="title">${escapeHtml(title)}</h1>
  <span class="status" id="status">waiting</span>
  <span class="stat"><b id="done">0</b>/<b id="total">0</b> done</span>
  <span class="stat"><b id="running">0</b> running</span>
  <span class="stat"><b id="failed">0</b> failed</span>
  <span class="stat"><b id="elapsed">0.0 s</b></span>
  <span class="stat"><b id="rate">0</b> tasks/s</span>
  <div id="bar"></div>
</header>
<main>
  <div id="graph"><canvas id="canvas"></canvas><div id="tip"></div></div>
  <aside>
    <div class="legend" id="legend"></div>
    <div class="panel"><h2>Task timings</h2><table><thead><tr><th>task</th><th>status</th><th>att.</th><th>start</th><th>duration</th></tr></thead><tbody id="timings"></tbody></table></div>
    <div class="panel"><h2>Events</h2><pre id="events"></pre></div>
  </aside>
</main>
<script>
"use strict";
(function () {
  var COLORS = ${json};
  var STATUSES = ${JSON.stringify(TASK_STATUSES)};
  var TERMINAL = { completed: 1, failed: 1, skipped: 1, cancelled: 1 };
  var TYPE_STATUS = {
    "task.pending": "pending", "task.ready": "ready", "task.started": "running", "task.retrying": "retrying",
    "task.completed": "completed", "task.failed": "failed", "task.skipped": "skipped", "task.cancelled": "cancelled"
  };
  var MAX_EVENTS = 300, MAX_ROWS = 200;
  var pinned = new URLSearchParams(location.search).get("run");
  var run = null, lastSeq = 0, batches = 0;
  var $ = function (id) { return document.getElementById(id); };
  var canvas = $("canvas"), ctx = canvas.getContext("2d"), tip = $("tip");
  var dirty = { graph: true, side: true }, layoutDirty = true, frameAsked = false, lastSide = 0;

  function newRun(id, name, taskIds, t) {
    var r = { id: id, name: name, status: "created", createdAt: t, startedAt: null, endedAt: null,
      ids: [], index: new Map(), tasks: [], counts: {}, events: [], lastTs: t, layout: null };
    STATUSES.forEach(function (s) { r.counts[s] = 0; });
    (taskIds || []).forEach(function (k) { taskOf(r, k); });
    return r;
  }
  function taskOf(r, id) {
    var i = r.index.get(id);
    if (i !== undefined) return r.tasks[i];
    var t = { id: id, i: r.ids.length, status: "pending", deps: [], attempts: 0, startedAt: null, endedAt: null,
      note: "", x: 0, y: 0 };
    r.index.set(id, t.i); r.ids.push(id); r.tasks.push(t); r.counts.pending++;
    layoutDirty = true;
    return t;
  }
  function setStatus(r, t, s) {
    if (t.status === s) return;
    r.counts[t.status]--; r.counts[s]++; t.status = s;
  }

  function apply(e) {
    var seq = e[0], type = e[1], runId = e[2], taskId = e[3], attempt = e[4], ts = e[5], x = e[6];
    // A reconnected stream repeats the run's history: keep each event once.
    if (seq <= lastSeq) return;
    lastSeq = seq;
    if (type === "workflow.created") {
      if (run === null || (run.id !== runId && (pinned === null || pinned === runId))) {
        run = newRun(runId, x.name, x.taskIds, ts);
        layoutDirty = true;
      }
    }
    if (run === null || run.id !== runId) return;
    run.lastTs = Math.max(run.lastTs, ts);
    run.events.push(e);
    if (run.events.length > MAX_EVENTS * 2) run.events = run.events.slice(-MAX_EVENTS);
    if (type.indexOf("workflow.") === 0) {
      if (type === "workflow.started") { run.status = "running"; run.startedAt = ts; }
      else if (type !== "workflow.created") { run.status = type.slice(9); run.endedAt = ts; }
      return;
    }
    if (taskId === null) return;
    var t = taskOf(run, taskId);
    var s = TYPE_STATUS[type];
    if (type === "task.pending" && x && x.length) { t.deps = x; layoutDirty = true; }
    if (type === "task.started") { t.attempts = attempt || t.attempts + 1; if (t.startedAt === null) t.startedAt = ts; }
    if (s && TERMINAL[s] && !TERMINAL[t.status]) t.endedAt = ts;
    if (x && x.message) t.note = x.message;
    if (type === "task.skipped") t.note = "after " + x.dependency + " " + x.status;
    if (s) setStatus(run, t, s);
  }

  // ---- layout: x by dependency level (wide levels wrap into sub-columns), y by order ----
  function layout() {
    layoutDirty = false;
    var r = run, n = r.tasks.length, level = new Int32Array(n), indeg = new Int32Array(n), out = [];
    for (var i = 0; i < n; i++) out.push([]);
    r.tasks.forEach(function (t) {
      t.deps.forEach(function (d) { var j = r.index.get(d); if (j !== undefined) { out[j].push(t.i); indeg[t.i]++; } });
    });
    var queue = [], head = 0;
    for (i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
    while (head < queue.length) {
      var k = queue[head++];
      out[k].forEach(function (d) { if (level[d] < level[k] + 1) level[d] = level[k] + 1; if (--indeg[d] === 0) queue.push(d); });
    }
    var levels = [];
    for (i = 0; i < n; i++) (levels[level[i]] = levels[level[i]] || []).push(i);
    r.layout = { levels: levels.filter(Boolean), out: out };
    place();
  }
  function place() {
    var r = run, L = r.layout, W = canvas.clientWidth, H = canvas.clientHeight, pad = 12;
    if (!L || W === 0) return;
    var rowsMax = Math.max(1, Math.floor((H - 2 * pad) / 6));
    var cols = 0, sub = L.levels.map(function (lv) { var c = Math.ceil(lv.length / rowsMax); cols += c; return c; });
    var colW = (W - 2 * pad) / Math.max(1, cols), col = 0;
    var maxRows = 1;
    L.levels.forEach(function (lv, li) { maxRows = Math.max(maxRows, Math.ceil(lv.length / sub[li])); });
    var rowH = Math.min(44, (H - 2 * pad) / maxRows);
    L.cell = { w: Math.max(2, Math.min(colW * 0.8, 160)), h: Math.max(2, rowH * 0.72) };
    L.levels.forEach(function (lv, li) {
      var per = Math.ceil(lv.length / sub[li]);
      lv.forEach(function (ti, k) {
        var t = r.tasks[ti], c = Math.floor(k / per), row = k % per, rowsHere = Math.min(per, lv.length - c * per);
        t.x = pad + (col + c + 0.5) * colW;
        t.y = H / 2 + (row - (rowsHere - 1) / 2) * rowH;
      });
      col += sub[li];
    });
    dirty.graph = true;
  }

  function resize() {
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(canvas.clientWidth * dpr);
    canvas.height = Math.round(canvas.clientHeight * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (run && run.layout) place();
    ask();
  }

  function drawGraph() {
    dirty.graph = false;
    var W = canvas.clientWidth, H = canvas.clientHeight;
    ctx.clearRect(0, 0, W, H);
    if (!run || !run.layout) return;
    var r = run, L = r.layout, cw = L.cell.w, ch = L.cell.h, tasks = r.tasks;
    var edges = 0;
    L.out.forEach(function (o) { edges += o.length; });
    ctx.lineWidth = 1;
    ctx.strokeStyle = edges > 4000 ? "rgba(156,163,175,0.18)" : "rgba(107,114,128,0.35)";
    ctx.beginPath();
    for (var i = 0; i < tasks.length; i++) {
      var a = tasks[i], o = L.out[i];
      for (var k = 0; k < o.length; k++) {
        var b = tasks[o[k]];
        ctx.moveTo(a.x + cw / 2, a.y);
        ctx.lineTo(b.x - cw / 2, b.y);
      }
    }
    ctx.stroke();
    var byStatus = {};
    STATUSES.forEach(function (s) { byStatus[s] = []; });
    tasks.forEach(function (t) { byStatus[t.status].push(t); });
    var radius = Math.min(4, ch / 4), labels = cw >= 36 && ch >= 12;
    STATUSES.forEach(function (s) {
      var list = byStatus[s];
      if (list.length === 0) return;
      ctx.fillStyle = COLORS[s].fill;
      ctx.strokeStyle = COLORS[s].stroke;
      ctx.beginPath();
      list.forEach(function (t) {
        if (ctx.roundRect && radius >= 1) ctx.roundRect(t.x - cw / 2, t.y - ch / 2, cw, ch, radius);
        else ctx.rect(t.x - cw / 2, t.y - ch / 2, cw, ch);
      });
      ctx.fill();
      if (ch >= 6) ctx.stroke();
      if (labels) {
        ctx.fillStyle = COLORS[s].text;
        ctx.font = Math.min(12, Math.floor(ch * 0.5)) + "px system-ui, sans-serif";
        ctx.textAlign = "center"; ctx.textBaseline = "middle";
        list.forEach(function (t) { ctx.fillText(fit(t.id, cw - 6), t.x, t.y); });
      }
    });
  }
  function fit(text, width) {
    if (ctx.measureText(text).width <= width) return text;
    while (text.length > 1 && ctx.measureText(text + "\\u2026").width > width) text = text.slice(0, -1);
    return text + "\\u2026";
  }

  function fmtMs(ms) { return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s"; }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }

  function drawSide(now) {
    dirty.side = false; lastSide = now;
    var r = run;
    if (!r) return;
    var c = r.counts, total = r.tasks.length;
    var done = c.completed + c.failed + c.skipped + c.cancelled;
    var end = r.endedAt !== null ? r.endedAt : r.lastTs;
    var elapsed = r.startedAt === null ? 0 : end - r.startedAt;
    $("title").textContent = r.name + " \\u00b7 " + r.id;
    $("status").textContent = r.status;
    $("status").style.background = r.status === "completed" ? COLORS.completed.stroke
      : r.status === "failed" ? COLORS.failed.stroke : r.status === "cancelled" ? COLORS.cancelled.stroke : "#374151";
    $("done").textContent = done; $("total").textContent = total;
    $("running").textContent = c.running; $("failed").textContent = c.failed;
    $("elapsed").textContent = (elapsed / 1000).toFixed(1) + " s";
    $("rate").textContent = elapsed > 0 ? Math.round(done / (elapsed / 1000)) : 0;
    var bar = "";
    ["completed", "failed", "skipped", "cancelled", "running", "retrying"].forEach(function (s) {
      if (c[s] > 0 && total > 0) bar += '<span style="width:' + (100 * c[s] / total) + '%;background:' + COLORS[s].fill + '"></span>';
    });
    $("bar").innerHTML = bar;
    // Timings: live tasks first, then the slowest finished ones.
    var live = [], ended = [];
    r.tasks.forEach(function (t) {
      if (t.status === "running" || t.status === "retrying") live.push(t);
      else if (t.endedAt !== null && t.startedAt !== null) ended.push(t);
    });
    live.sort(function (a, b) { return a.startedAt - b.startedAt; });
    ended.sort(function (a, b) { return (b.endedAt - b.startedAt) - (a.endedAt - a.startedAt); });
    var rows = live.concat(ended).slice(0, MAX_ROWS), html = "";
    rows.forEach(function (t) {
      var dur = (t.endedAt !== null ? t.endedAt : end) - t.startedAt;
      html += "<tr title=\\"" + esc(t.note) + "\\"><td>" + esc(t.id) + "</td><td><span class=\\"dot\\" style=\\"background:" +
        COLORS[t.status].fill + "\\"></span>" + t.status + "</td><td class=\\"n\\">" + t.attempts + "</td><td class=\\"n\\">+" +
        fmtMs(t.startedAt - (r.startedAt || t.startedAt)) + "</td><td class=\\"n\\">" + fmtMs(dur) + "</td></tr>";
    });
    $("timings").innerHTML = html;
    var lines = [], evs = r.events, from = Math.max(0, evs.length - MAX_EVENTS);
    for (var i = evs.length - 1; i >= from; i--) {
      var e = evs[i], line = "+" + fmtMs(e[5] - (r.startedAt || r.createdAt)) + "  " + e[1];
      if (e[3] !== null) line += "  " + e[3];
      if (e[4] !== null) line += " #" + e[4];
      if (e[6] && e[6].message) line += "  " + e[6].message;
      lines.push(line);
    }
    $("events").textContent = lines.join("\\n");
    document.body.dataset.runId = r.id;
    document.body.dataset.status = r.status;
    document.body.dataset.total = String(total);
    STATUSES.forEach(function (s) { document.body.dataset[s] = String(c[s]); });
  }

  function ask() { if (!frameAsked) { frameAsked = true; requestAnimationFrame(frame); } }
  function frame(now) {
    frameAsked = false;
    if (!run) return;
    if (layoutDirty) layout();
    if (dirty.graph) drawGraph();
    // The side panel (DOM) is refreshed at most every 200 ms.
    if (dirty.side) { if (now - lastSide >= 200 || run.status !== "running") drawSide(now); else ask(); }
  }

  $("legend").innerHTML = STATUSES.map(function (s) {
    return '<span><i style="background:' + COLORS[s].fill + ';border:1px solid ' + COLORS[s].stroke + '"></i>' + s + "</span>";
  }).join("");

  canvas.addEventListener("mousemove", function (ev) {
    if (!run || !run.layout) return;
    var rect = canvas.getBoundingClientRect(), x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    var cw = run.layout.cell.w, ch = run.layout.cell.h, hit = null;
    for (var i = 0; i < run.tasks.length && hit === null; i++) {
      var t = run.tasks[i];
      if (Math.abs(t.x - x) <= cw / 2 && Math.abs(t.y - y) <= ch / 2) hit = t;
    }
    if (hit === null) { tip.style.display = "none"; return; }
    var end = hit.endedAt !== null ? hit.endedAt : run.lastTs;
    tip.textContent = hit.id + "\\n" + hit.status + (hit.attempts ? "  attempt " + hit.attempts : "") +
      (hit.startedAt !== null ? "\\n" + fmtMs(end - hit.startedAt) : "") + (hit.note ? "\\n" + hit.note : "");
    tip.style.display = "block";
    tip.style.left = Math.min(x + 12, canvas.clientWidth - 200) + "px";
    tip.style.top = (y + 12) + "px";
  });

  var source = new EventSource("events" + (pinned ? "?run=" + encodeURIComponent(pinned) : ""));
  source.addEventListener("hello", function (m) {
    if (JSON.parse(m.data).runId === null) $("status").textContent = "waiting for a run";
  });
  source.onmessage = function (m) {
    var batch = JSON.parse(m.data);
    batches++;
    for (var i = 0; i < batch.length; i++) apply(batch[i]);
    dirty.graph = true; dirty.side = true;
    ask();
  };
  source.onerror = function () {
    if (run && run.status !== "running") source.close();
  };
  window.addEventListener("resize", resize);
  window.nerv = { get run() { return run; }, get batches() { return batches; } };
  resize();
})();
</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
