import type { ColumnReport, StatsResult } from "../stats/stats-result.js";

/** `fbm-researcher stats` for a person: the pooled table, then one per node (stderr). */
export function formatStatsTable(result: StatsResult): string {
  const usable = result.nodes.filter((n) => !n.error && !n.size);
  const lines = [
    `Pooled over ${usable.length} node(s)${usable.length ? ` (${usable.map((n) => n.name).join(", ")})` : ""}:`,
  ];
  lines.push(...columnTable(result.pooled), "");
  for (const node of result.nodes) {
    lines.push(`${node.name} (${node.node}), dataset "${node.dataset}", min_count ${node.min_count}:`);
    if (node.size) lines.push(`  fewer rows than the node's min_count (${node.size}): no figures`);
    if (node.error) lines.push(`  no figures: ${node.error}`);
    if (!node.size && !node.error) lines.push(...columnTable(node.columns));
    lines.push("");
  }
  if (Object.values(result.pooled).some((c) => c.minmax_grid)) {
    lines.push("~ min/max rounded outward to a multiple of the grid (the node's stats_minmax is false)");
  }
  return `${lines.join("\n")}\n`;
}

function columnTable(columns: Record<string, ColumnReport>): string[] {
  const entries = Object.entries(columns);
  if (entries.length === 0) return ["  (no columns)"];
  const qs = [...new Set(entries.flatMap(([, c]) => Object.keys(c.quantiles ?? {})))];
  const head = ["column", "count", "missing", "mean", "std", "min", "max", ...qs.map((q) => `q${q}`), "±q"];
  const rows = entries.map(([name, c]) => [
    name,
    String(c.count),
    String(c.missing),
    num(c.mean),
    num(c.std),
    `${num(c.min)}${c.minmax_grid ? "~" : ""}`,
    `${num(c.max)}${c.minmax_grid ? "~" : ""}`,
    ...qs.map((q) => num(c.quantiles?.[q])),
    num(c.quantile_error),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `  ${cells.map((cell, i) => cell.padEnd(widths[i])).join("  ")}`.trimEnd();
  const out = [line(head), ...rows.map(line)];
  for (const [name, c] of entries) {
    if (c.histogram)
      out.push(
        `  ${name} histogram [${num(c.histogram.edges[0])}, ${num(c.histogram.edges.at(-1))}]: ${c.histogram.counts.join(" ")}`,
      );
    // Counts of each value (a 0/1 column, a target's classes) or category (a text column): no quantiles there.
    if (c.classes)
      out.push(
        `  ${name} counts: ${Object.entries(c.classes)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
      );
  }
  return out;
}

function num(value: number | null | undefined): string {
  if (value === undefined || value === null) return "-";
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(5)));
}
