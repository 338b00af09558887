import { type Plan, planLayers } from "../../ml/plan.js";
import { formatTable } from "../cli/cli-format.js";
import type { PlanEntry } from "./plan-registry.js";

/** What `plan list --json` / `plan show --json` print: the entry with the plan as an object. */
export function planToJson(entry: PlanEntry): Omit<PlanEntry, "planJson"> & { plan: unknown } {
  const { planJson, ...rest } = entry;
  return { ...rest, plan: JSON.parse(planJson) as unknown };
}

/** The `plan list` table: short ids, status, who asked, the layer stack. */
export function planTable(entries: PlanEntry[]): string {
  if (entries.length === 0)
    return "No plans yet: a plan is recorded here when a researcher first asks this node to run it.";
  return formatTable(
    ["ID", "STATUS", "EXPERIMENT", "REQUESTED", "MODEL", "NOTE"],
    entries.map((e) => [
      e.id.slice(0, 12),
      e.status,
      e.requestedBy.experiment || "-",
      e.requestedAt.slice(0, 19).replace("T", " "),
      modelSummary(JSON.parse(e.planJson) as Plan),
      e.note,
    ]),
  );
}

/** A plan's size on one dataset: parameters and estimated FLOPs per training sample (forward and backward). */
export interface PlanCost {
  dataset: string;
  params: number;
  flops: number;
}

/** The `plan show` listing: status and request, then the plan's data, size, layers, loss and optimizer. */
export function planDetails(entry: PlanEntry, cost?: PlanCost): string {
  const plan = JSON.parse(entry.planJson) as Plan;
  const lines: [string, string][] = [
    ["id", entry.id],
    ["status", entry.status],
    [
      "requested",
      `${entry.requestedAt} by experiment "${entry.requestedBy.experiment}" at ${entry.requestedBy.researcher}`,
    ],
  ];
  if (entry.decidedAt !== "") lines.push([entry.status === "rejected" ? "rejected" : "approved", entry.decidedAt]);
  if (entry.note !== "") lines.push(["note", entry.note]);
  lines.push(["data", planDataText(plan)]);
  if (cost)
    lines.push([
      "size",
      `${cost.params.toLocaleString("en-US")} parameters, about ${cost.flops.toExponential(2)} FLOPs per training sample ` +
        `(forward and backward) on dataset "${cost.dataset}"; a task costs that × batch × steps (max_task_flops)`,
    ]);
  lines.push(["model", `${plan.model.length} layer(s)`]);
  const layers = planLayers(plan);
  const nameWidth = Math.max(...layers.map((l) => l.name.length));
  const layerLines = layers.map((l, i) =>
    `  ${String(i + 1).padStart(String(layers.length).length)}  ${l.name.padEnd(nameWidth)}  ${describe(leading(l.options))}`.trimEnd(),
  );
  const { name, ...optimizer } = plan.optimizer;
  const tail: [string, string][] = [
    ["loss", plan.loss],
    ["optimizer", `${name}, ${describe(optimizer)}`],
  ];
  const width = Math.max(...[...lines, ...tail].map(([key]) => key.length)) + 2;
  const show = (rows: [string, string][]) => rows.map(([key, value]) => `${`${key}:`.padEnd(width)}${value}`);
  return [...show(lines), ...layerLines, ...show(tail)].join("\n");
}

/** The plan's `data:` block in one line (`target y, normalize standard, …`), as `plan show` prints it. */
export function planDataText(plan: Plan): string {
  // A registry row is a plan as received; one without a data block shows "-" rather than failing the page.
  const { input, ...data } = plan.data ?? {};
  return describe({ ...data, ...(input ? { input: [input.height, input.width, input.channels] } : {}) });
}

/** `dense 16 relu → dropout 0.2 → dense 1 sigmoid`: the gist of a layer stack in one cell. */
function modelSummary(plan: Plan): string {
  return planLayers(plan)
    .map(({ name, options: o }) => {
      const gist = [o.units ?? o.filters ?? o.rate, o.kernelSize, o.activation]
        .filter((v) => v !== undefined)
        .map(value);
      return [name, ...gist].join(" ");
    })
    .join(" → ");
}

/** The layer's size first (units, filters, kernel, rate), then the rest as stored. */
function leading(options: Record<string, unknown>): Record<string, unknown> {
  const first = ["units", "filters", "kernelSize", "poolSize", "rate"].filter((k) => k in options);
  return Object.fromEntries(
    [...first, ...Object.keys(options).filter((k) => !first.includes(k))].map((k) => [k, options[k]]),
  );
}

/** `key value, key value` with arrays as 3×3 and nested objects in braces. */
function describe(options: Record<string, unknown>): string {
  const parts = Object.entries(options)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${value(v)}`);
  return parts.length > 0 ? parts.join(", ") : "-";
}

function value(v: unknown): string {
  if (Array.isArray(v)) return v.every((x) => typeof x === "number") ? v.join("×") : v.join(", ");
  if (v !== null && typeof v === "object") return `{${describe(v as Record<string, unknown>)}}`;
  return String(v);
}
