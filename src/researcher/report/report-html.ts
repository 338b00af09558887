import { WIDE_AUC_BOUND } from "../../ml/metric-counts.js";
import { experimentYaml } from "./experiment-yaml.js";
import type { ReportData } from "./report-data.js";
import { escapeHtml, roundFigure, svgChart } from "./svg-chart.js";

/** The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched. */
export function reportHtml(data: ReportData): string {
  const done = data.done;
  const finalMetrics = done?.metrics
    ? Object.entries(done.metrics)
        .map(([k, v]) => `${escapeHtml(k)} ${v.toFixed(4)}`)
        .join(" · ")
    : "";
  const curves = data.curves
    .map((c) => `<figure><figcaption>${escapeHtml(c.metric)}</figcaption>${svgChart(c)}</figure>`)
    .join("\n");
  const nodeRows = data.nodes
    .map(
      (n) =>
        `<tr data-node="${escapeHtml(n.node)}"><td>${escapeHtml(n.name)}</td><td><code>${escapeHtml(n.node)}</code></td><td>${n.samples}</td><td>${n.rounds}</td><td>${n.failures}</td><td>${n.seconds.toFixed(1)}</td></tr>`,
    )
    .join("\n");
  const failures = data.failures.length
    ? `<h2>Failures</h2><table><tr><th>round</th><th>node</th><th>code</th><th>message</th></tr>${data.failures
        .map(
          (f) =>
            `<tr><td>${f.round}</td><td>${escapeHtml(f.name)}</td><td>${escapeHtml(f.code)}</td><td>${escapeHtml(f.message)}</td></tr>`,
        )
        .join("")}</table>`
    : "";
  // Privacy: the run's ε per round (local dp: the largest over the nodes), δ, and each node's ε.
  const privacyKeys = [...new Set(data.privacy.flatMap((p) => Object.keys(p.values)))];
  const privacyNodes = [...new Set(data.privacy.flatMap((p) => Object.keys(p.nodes)))].sort();
  const local = privacyNodes.length > 0 || done?.privacy?.mode === "local";
  const heading = (k: string) =>
    k === "epsilon" ? (local ? "ε (largest over nodes)" : "ε") : k === "delta" ? "δ" : k.replaceAll("_", " ");
  const privacy =
    data.privacy.length || done?.privacy
      ? `<h2 id="privacy">Privacy</h2>${
          done?.privacy ? `<p>Whole run: ${escapeHtml(describePrivacy(done.privacy))}</p>` : ""
        }<table class="privacy"><tr><th>round</th>${[...privacyKeys.map(heading), ...privacyNodes.map((n) => `ε ${n}`)]
          .map((k) => `<th>${escapeHtml(k)}</th>`)
          .join("")}</tr>${data.privacy
          .map(
            (p) =>
              `<tr><td>${p.round}</td>${[...privacyKeys.map((k) => p.values[k]), ...privacyNodes.map((n) => p.nodes[n])]
                .map(
                  (v) =>
                    `<td>${escapeHtml(v === undefined ? "" : typeof v === "number" ? roundFigure(v) : String(v))}</td>`,
                )
                .join("")}</tr>`,
          )
          .join("")}</table>`
      : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>fbm run ${escapeHtml(data.name)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-weight:600}
svg text{font-size:11px;fill:#444}table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #eee;text-align:left}
pre{background:#f6f6f6;padding:1em;overflow:auto;max-height:40em}
</style></head>
<body>
<h1>fbm run <span id="run-name">${escapeHtml(data.name)}</span></h1>
<p>${data.rounds} round(s) · ${data.nodes.length} node(s)${finalMetrics ? ` · final validation: ${finalMetrics}` : ""}${
    done?.auc_error === undefined
      ? ""
      : done.auc_error > WIDE_AUC_BOUND
        ? ` (auc is an estimate, known only within ±${done.auc_error.toPrecision(2)}: see README, Metrics: pooled, not averaged)`
        : ` (auc within ±${done.auc_error.toPrecision(2)})`
  }</p>
<p>Pooled figures are those of all nodes' test rows together (solid black); each node's own are dashed.</p>
<h2>Curves</h2>
<div class="charts">
${curves}
</div>
<h2>Nodes</h2>
<table class="nodes"><tr><th>name</th><th>id</th><th>samples</th><th>rounds</th><th>failures</th><th>training time (s)</th></tr>
${nodeRows}
</table>
${failures}
${privacy}
<h2>Experiment</h2>
${data.config === undefined ? "<p>No experiment.json in the run folder.</p>" : `<pre id="config">${escapeHtml(experimentYaml(data.config))}</pre>`}
</body></html>
`;
}

/** `ε 2.4, δ 1e-5, local dp (ε: the largest over the nodes)` from done.json's privacy. */
function describePrivacy(values: Record<string, unknown>): string {
  const figure = (v: unknown) => (typeof v === "number" ? roundFigure(v) : String(v));
  const parts = [`ε ${figure(values.epsilon)}`, `δ ${figure(values.delta)}`];
  if (values.mode === "local") parts.push("local dp (ε: the largest over the nodes)");
  else if (values.mode !== undefined) parts.push(`${String(values.mode)} dp`);
  return parts.join(", ");
}
