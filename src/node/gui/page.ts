/**
 * The GUI's one page: plain HTML, CSS and JavaScript inlined (no CDN, nothing to bundle, so it works
 * offline and inside the single executable). Every text from the files or from researchers is set
 * with textContent, never as HTML: an experiment name is a researcher's text.
 */
export function guiPage(token: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fbm-node</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${css}</style></head>
<body>
<header><h1>fbm-node <span id="node-name"></span></h1><span id="node-id"></span></header>
<main>
<section id="status-section"><h2>Now</h2><div id="status"></div><h3>Recent tasks</h3><table id="recent"></table></section>
<section id="plans-section"><h2>Training plans</h2><table id="plans"></table></section>
<section id="datasets-section"><h2>Datasets</h2>
<p>A dataset's ε budget is its own, else the node's <code>max_epsilon</code> (node); ε spent sums every experiment's DP rounds on its files, at the node's <code>dp_delta</code>.</p>
<div class="scroll"><table id="datasets"></table></div><div id="preview"></div>
<h3>Add a dataset</h3>
<form id="add-dataset">
<label>Type <select name="type"><option value="csv">csv</option><option value="idx">idx</option><option value="images">images</option></select></label>
<label>Path <input name="path" required placeholder="/data/cohort.csv"></label>
<label>Tags <input name="tags" required placeholder="breast-cancer,site-a"></label>
<label>Name <input name="name" placeholder="(default: type and id)"></label>
<label>Description <input name="description"></label>
<label>Target column (csv) <input name="target"></label>
<label>Labels file (idx) <input name="labels"></label>
<button type="submit">Add</button> <span id="add-result" role="status"></span>
</form></section>
<section id="config-section"><h2>Config</h2><p>Change with <code>fbm-node config set KEY VALUE</code>.</p><table id="config"></table></section>
</main>
<script>const TOKEN = ${JSON.stringify(token)};
${script}</script>
</body></html>`;
}

const css = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#234;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:baseline}
h1{font-size:18px;margin:0}main{padding:0 16px 32px}section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:12px 0;padding:8px 16px}
h2{font-size:16px}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
.pending{color:#a60}.approved{color:#070}.rejected{color:#a00}.error{color:#a00}.ok{color:#070}
form.budget{display:inline;white-space:nowrap}form label{display:inline-block;margin:4px 12px 4px 0}input{padding:3px}button{margin:2px}
.scroll{overflow-x:auto;max-width:100%}#preview{max-width:100%}#preview .scroll td{white-space:nowrap}
#preview .images{display:flex;flex-wrap:wrap;gap:4px}#preview figure{margin:4px}#preview img{height:64px;image-rendering:pixelated}code{background:#f3f3f3;padding:1px 3px}
`;

const script = `
const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v); else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}
async function call(method, path, body) {
  const res = await fetch(path, { method, headers: { "x-fbm-token": TOKEN, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const value = await res.json();
  if (!res.ok) throw new Error(value.error || res.statusText);
  return value;
}
// Dates as ISO 8601 in UTC (as the files hold them): the same on every operator's screen.
const ago = (iso) => iso ? iso.slice(0, 19).replace("T", " ") + " UTC" : "";
function row(cells, attrs) { return h("tr", attrs, cells.map((c) => h("td", {}, c))); }
function table(el, head, rows) { el.replaceChildren(h("tr", {}, head.map((x) => h("th", {}, x))), ...rows); }
// The rows \`fbm-node plan show\` draws (plan-format.ts): a graph's layers say what they read.
function layerText(l) { return l.label + ": " + l.kind + " ← " + l.from + (l.options === "-" ? "" : ", " + l.options) + (l.frozen ? " (frozen)" : ""); }

function renderStatus(s) {
  if (!s) { $("status").replaceChildren("This node has not served yet: start it with fbm-node serve."); table($("recent"), [], []); return; }
  const state = !s.alive ? "not running (last seen " + ago(s.updatedAt) + ")" : s.connected ? "connected to " + s.researcher : "running, not connected to " + s.researcher;
  const parts = [h("div", { id: "serve-state" }, "Serve: " + state)];
  if (s.alive && s.current) {
    const c = s.current, p = c.progress;
    parts.push(h("div", { id: "current-task" }, "Running a " + c.kind + " task for " + (c.experiment || "?") + (c.round !== undefined ? ", round " + c.round : "") +
      (p ? ": epoch " + p.epoch + ", step " + p.step + "/" + p.totalSteps + (p.loss === undefined ? "" : ", loss " + p.loss.toFixed(4)) : ""),
      p ? [" ", h("progress", { id: "task-progress", max: p.totalSteps, value: p.step })] : null,
      // As \`fbm-node task cancel ID\`: this very task, behind a confirmation (the researcher is told task_cancelled).
      c.taskId ? [" ", h("button", { id: "cancel-task", "data-task": c.taskId, onclick: () =>
        confirm("Cancel the running " + c.kind + " task for \\"" + (c.experiment || "?") + "\\"? It stops within one training batch and the researcher is told task_cancelled.") &&
        act(() => call("POST", "/api/task/cancel", { taskId: c.taskId })) }, "Cancel")] : null));
  } else if (s.alive) parts.push(h("div", { id: "current-task" }, "Idle: waiting for a task"));
  $("status").replaceChildren(...parts);
  table($("recent"), ["ended", "task", "experiment", "round", "outcome"], s.recent.map((t) =>
    row([ago(t.endedAt), t.kind, t.experiment, t.round ?? "", [h("span", { class: t.outcome === "ok" ? "ok" : "error", title: t.message || "" }, t.outcome),
      t.count > 1 ? h("span", { "data-repeated": t.count }, " ×" + t.count + " (last at " + ago(t.endedAt) + ")") : null]])));
}

function renderPlans(plans) {
  if (plans.length === 0) { table($("plans"), ["No plans yet: a plan appears here when a researcher first asks this node to run it."], []); return; }
  // Pending plans come first (the server sorts them); only a pending plan has a Reject button, behind a
  // confirmation: an approved plan is revoked with the CLI, so one click cannot revoke the wrong one.
  table($("plans"), ["plan", "status", "experiment", "data", "model", "parameters", "decision"], plans.map((p) => {
    const decide = [];
    if (p.status !== "approved") decide.push(h("button", { "data-approve": p.id, onclick: () => act(() => call("POST", "/api/plans/" + p.id + "/approve")) }, "Approve"));
    if (p.status === "pending") {
      const note = h("input", { placeholder: "note (for rejecting)", "data-note": p.id });
      decide.push(note, h("button", { "data-reject": p.id, onclick: () =>
        confirm("Reject plan " + p.id.slice(0, 12) + " from experiment \\"" + p.experiment + "\\"? The node will refuse it until it is approved.") &&
        act(() => call("POST", "/api/plans/" + p.id + "/reject", { note: note.value })) }, "Reject"));
    }
    if (p.status === "approved") decide.push(h("small", {}, "approved " + ago(p.decidedAt) + "; revoke with fbm-node plan reject " + p.id.slice(0, 12)));
    return row([
      h("code", { title: p.id }, p.id.slice(0, 12)),
      h("span", { class: p.status }, p.status + (p.note ? ": " + p.note : "")),
      [p.experiment, h("br"), h("small", {}, "asked " + ago(p.requestedAt) + " by " + p.researcher)],
      h("span", { "data-plan-data": p.id }, p.data),
      [h("ol", {}, p.layers.map((l) => h("li", {}, layerText(l)))), h("small", {}, "loss " + p.loss + ", optimizer " + p.optimizer)],
      h("span", { "data-params": p.id }, p.params ? p.params.count.toLocaleString("en") + " on " + p.params.dataset : "-"),
      decide,
    ], { "data-plan": p.id });
  }));
}

// ε as \`fbm-node dataset show\` prints it: the budget and where it comes from, spent and left to 3 decimals.
function budgetCells(d) {
  const p = d.privacy;
  return [
    h("span", { "data-budget-of": d.id }, p.budget === undefined ? "none" : p.budget + " (" + p.budgetFrom + ")"),
    h("span", { "data-spent-of": d.id, title: p.rounds + " DP round(s), at δ " + p.delta }, p.spent.toFixed(3)),
    h("span", { "data-left-of": d.id }, p.left === undefined ? "-" : p.left.toFixed(3)),
  ];
}
// The budget form of one dataset: \`dataset set ID max_epsilon E|none\` (the server checks E as the CLI does).
function budgetForm(d) {
  const input = h("input", { name: "max_epsilon", size: 6, placeholder: "ε or none", "data-budget-input": d.id });
  const set = (value) => act(async () => { await call("POST", "/api/datasets/" + d.id + "/max_epsilon", { value }); input.value = ""; });
  const form = h("form", { class: "budget", "data-budget-form": d.id, onsubmit: (e) => { e.preventDefault(); set(input.value); } },
    input, h("button", { type: "submit" }, "Set budget"));
  if (d.privacy.budgetFrom === "dataset") form.append(h("button", { type: "button", "data-budget-clear": d.id, onclick: () => set("none") }, "Clear"));
  return form;
}
function renderDatasets(datasets) {
  if (datasets.length === 0) { table($("datasets"), ["No datasets registered: add one below."], []); return; }
  // A budget being typed survives a redraw (the ε spent changes while DP training runs).
  const typed = {};
  for (const el of document.querySelectorAll("[data-budget-input]")) typed[el.dataset.budgetInput] = el.value;
  table($("datasets"), ["id", "name", "type", "samples", "shape", "tags", "path", "ε budget", "ε spent", "ε left", "", ""], datasets.map((d) => row([
    h("code", {}, d.id), d.name, d.type, d.sampleCount, d.shape.join("×"), d.tags.join(", "), h("small", {}, d.path),
    ...budgetCells(d), budgetForm(d),
    [h("button", { onclick: () => preview(d) }, "Preview"),
     h("button", { "data-remove": d.id, onclick: () => confirm("Remove " + d.name + " from the catalogue? Its files stay.") && act(() => call("DELETE", "/api/datasets/" + d.id)) }, "Remove")],
  ], { "data-dataset": d.id })));
  for (const [id, value] of Object.entries(typed)) {
    const el = document.querySelector('[data-budget-input="' + CSS.escape(id) + '"]');
    if (el) el.value = value;
  }
}

const CATEGORIES_SHOWN = 20;
async function preview(d) {
  $("preview").replaceChildren("Reading " + d.name + "…");
  try {
    const p = await call("GET", "/api/datasets/" + d.id + "/preview");
    const parts = [h("h3", {}, "Preview of " + d.name)];
    // Wide tables scroll inside the preview instead of widening the page.
    const scroll = (t) => h("div", { class: "scroll" }, t);
    if (p.rows.length) { const t = h("table", { "data-preview": "rows" }); table(t, p.columns, p.rows.map((r) => row(r))); parts.push(scroll(t)); }
    if (p.images.length) parts.push(h("div", { class: "images" }, p.images.map((i) => h("figure", {}, h("img", { src: i.src, alt: i.label }), h("figcaption", {}, i.label)))));
    if (p.classCounts.length) {
      const t = h("table", { "data-preview": "classes" });
      table(t, ["class", "samples"], p.classCounts.map((c) => row([c.name, c.count])));
      parts.push(h("h4", {}, "Samples per class"), scroll(t));
    }
    if (p.categories.length) {
      // The most frequent categories first; a long tail is counted, not listed.
      const listed = (cs) => cs.slice(0, CATEGORIES_SHOWN).map((c) => c.name + " (" + c.count + ")").join(", ") + (cs.length > CATEGORIES_SHOWN ? ", … " + (cs.length - CATEGORIES_SHOWN) + " more" : "");
      const t = h("table", { "data-preview": "categories" });
      table(t, ["column", "categories", "values (rows)"], p.categories.map((c) => row([c.column, c.categories.length, listed(c.categories)])));
      parts.push(h("h4", {}, "Categorical columns"), t);
    }
    const s = h("table"); const f = (x) => Number.isFinite(x) ? Number(x.toPrecision(5)) : "";
    table(s, ["column", "count", "missing", "mean", "std", "min", "max"], p.stats.map((c) => row([c.name, c.count, c.missing, f(c.mean), f(c.std), f(c.min), f(c.max)])));
    parts.push(h("h4", {}, "Column statistics"), scroll(s));
    $("preview").replaceChildren(...parts);
  } catch (e) { $("preview").replaceChildren(h("span", { class: "error" }, e.message)); }
}

function renderConfig(config) {
  table($("config"), ["key", "value", "applies", "meaning"], config.map((c) => row([h("code", {}, c.key), String(c.value), c.live ? "live" : "on restart", c.meaning])));
}

// Each section is redrawn only when its own data changed: training progress must not wipe a note being typed.
const shown = {};
function show(name, value, render) {
  const text = JSON.stringify(value);
  if (name in shown && shown[name] === text) return; // "in": an absent status (undefined) is drawn too
  shown[name] = text;
  render(value);
}
async function refresh() {
  try {
    const res = await fetch("/api/state", { headers: { "x-fbm-token": TOKEN } });
    const text = await res.text();
    if (!res.ok) throw new Error(text);
    const s = JSON.parse(text);
    $("node-name").textContent = s.node.name; $("node-id").textContent = s.node.id;
    show("status", s.status, renderStatus); show("plans", s.plans, renderPlans);
    show("datasets", s.datasets, renderDatasets); show("config", s.config, renderConfig);
  } catch (e) { $("node-id").textContent = "cannot reach fbm-node gui: " + e.message; }
}
async function act(action) {
  try { await action(); } catch (e) { alert(e.message); }
  await refresh();
}
$("add-dataset").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $("add-result").textContent = "Checking the files…"; $("add-result").className = "";
  try {
    const d = await call("POST", "/api/datasets", Object.fromEntries(form));
    $("add-result").textContent = "Registered " + d.id + " \\"" + d.name + "\\" (" + d.sampleCount + " samples)"; $("add-result").className = "ok";
    event.target.reset();
  } catch (e) { $("add-result").textContent = e.message; $("add-result").className = "error"; }
  await refresh();
});
refresh(); setInterval(refresh, 1000);
`;
