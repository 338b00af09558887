import type { DatasetEntry } from "../catalogue/catalogue.js";
import type { DatasetPrivacy } from "../privacy/dataset-privacy.js";

/** Plain-text table: a header row and left-aligned columns two spaces apart. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** The `dataset list` table. */
export function datasetTable(entries: DatasetEntry[]): string {
  if (entries.length === 0) return "No datasets registered; add one with `fbm-node dataset add`.";
  return formatTable(
    ["ID", "NAME", "TYPE", "SAMPLES", "SHAPE", "TAGS"],
    entries.map((e) => [e.id, e.name, e.type, String(e.sampleCount), e.shape.join("×"), e.tags.join(",")]),
  );
}

/** The `dataset show` key/value listing. */
/** `age (int64)`, `ldl (float64, 12 missing)`, `smoking (categorical: never 40, former 12, 3 missing)`. */
function describeColumn(c: DatasetEntry["columns"][number]): string {
  const parts: string[] = [c.kind === "categorical" || c.kind === "text" || c.kind === "binary" ? c.kind : c.dtype];
  if (c.categories) parts[0] += `: ${c.categories.map((k) => `${k.name} ${k.count}`).join(", ")}`;
  if (c.missing) parts.push(`${c.missing} missing`);
  return `${c.name} (${parts.join(", ")})`;
}

/** The `dataset show` key/value listing. */
export function datasetDetails(entry: DatasetEntry, privacy?: DatasetPrivacy): string {
  const lines: [string, string][] = [
    ["id", entry.id],
    ["name", entry.name],
    ["type", entry.type],
    ["tags", entry.tags.join(", ")],
    ["samples", String(entry.sampleCount)],
    ["shape", entry.shape.join(" × ")],
  ];
  if (entry.description !== "") lines.splice(4, 0, ["description", entry.description]);
  if (entry.columns.length > 0) lines.push(["columns", entry.columns.map(describeColumn).join(", ")]);
  for (const m of entry.modalities ?? []) {
    const missing = m.missing > 0 ? `, ${m.missing} subjects without it` : "";
    const shapes = m.shapes.map((s) => s.join("×")).join(", ");
    lines.push([
      `modality ${m.name}`,
      `${m.subjects} subjects, ${shapes}, spacing ${m.spacing.join("×")}, ${m.datatypes.join("/")}${missing}`,
    ]);
  }
  if (entry.demographicsPath) lines.push(["demographics", `${entry.demographicsPath} (index ${entry.indexCol})`]);
  if (entry.target !== "") lines.push(["target", entry.target]);
  if (entry.missingTarget > 0 && entry.type === "medical-folder")
    lines.push(["demographics", `${entry.missingTarget} subjects without a row`]);
  else if (entry.missingTarget > 0) lines.push(["skipped", `${entry.missingTarget} rows without a target`]);
  if (entry.classes.length > 0) lines.push(["classes", entry.classes.map((c) => `${c.name} (${c.count})`).join(", ")]);
  if (privacy) {
    const budget = privacy.budget === undefined ? "none" : `${privacy.budget} (${privacy.budgetFrom})`;
    lines.push(["ε budget", budget], ["ε spent", `${privacy.spent.toFixed(3)} at δ ${privacy.delta}`]);
    if (privacy.left !== undefined) lines.push(["ε left", privacy.left.toFixed(3)]);
  }
  lines.push(["sha256", entry.sha256], ["created", entry.createdAt], ["path", entry.path]);
  if (entry.labelsPath !== "") lines.push(["labels", entry.labelsPath]);
  const width = Math.max(...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${value}`).join("\n");
}
