import { isGraphPlan, type Plan, planLayers } from "../../ml/plan.js";
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
  const graph = isGraphPlan(plan);
  lines.push([
    "model",
    `${plan.model.length} layer(s)${graph ? ", a graph: each layer reads the layers after ←" : ""}`,
  ]);
  const rows = planLayerRows(plan);
  const width = (column: (r: PlanLayerRow) => string) => Math.max(...rows.map((r) => column(r).length));
  const [labelWidth, kindWidth, fromWidth] = [width((r) => r.label), width((r) => r.kind), width((r) => r.from)];
  const layerLines = rows.map((r, i) => {
    const number = String(i + 1).padStart(String(rows.length).length);
    const wiring = graph
      ? `${r.label.padEnd(labelWidth)}  ${r.kind.padEnd(kindWidth)}  ← ${r.from.padEnd(fromWidth)}`
      : r.kind.padEnd(kindWidth);
    return `  ${number}  ${wiring}  ${r.options}${r.frozen ? " (frozen)" : ""}`.trimEnd();
  });
  const { name, ...optimizer } = plan.optimizer;
  const tail: [string, string][] = [
    ["loss", plan.loss],
    ["optimizer", `${name}, ${describe(optimizer)}`],
  ];
  const keyWidth = Math.max(...[...lines, ...tail].map(([key]) => key.length)) + 2;
  const show = (pairs: [string, string][]) => pairs.map(([key, value]) => `${`${key}:`.padEnd(keyWidth)}${value}`);
  return [...show(lines), ...layerLines, ...show(tail)].join("\n");
}

/** The plan's `data:` block in one line (`target y, normalize standard, …`), as `plan show` prints it. */
export function planDataText(plan: Plan): string {
  // A registry row is a plan as received; one without a data block shows "-" rather than failing the page.
  const { input, ...data } = plan.data ?? {};
  return describe({ ...data, ...(input ? { input: [input.height, input.width, input.channels] } : {}) });
}

/** One layer as `plan show` and the GUI's plan review draw it. */
export interface PlanLayerRow {
  /** The plan's name for it, or its kind and position (`conv2d#3`). */
  label: string;
  kind: string;
  /** What it reads: "input" or earlier layers' labels, comma-separated. */
  from: string;
  /** Its options, size first (`filters 8, kernelSize 3, …`), or "-". */
  options: string;
  frozen: boolean;
}

/** The plan's layers with what each reads, for `plan show` and the GUI (one drawing for both). */
export function planLayerRows(plan: Plan): PlanLayerRow[] {
  const layers = planLayers(plan);
  return layers.map((l) => ({
    label: l.label,
    kind: l.name,
    from: l.inputs.map((i) => (i === -1 ? "input" : (layers[i]?.label ?? "?"))).join(", "),
    options: describe(leading(l.options)),
    frozen: !l.trainable,
  }));
}

/**
 * `dense 16 relu → dropout 0.2 → dense 1 sigmoid`: the gist of a layer stack in one cell; a graph's joins
 * name what they join, `concatenate(up1, enc1)`.
 */
function modelSummary(plan: Plan): string {
  const layers = planLayers(plan);
  const graph = isGraphPlan(plan);
  return layers
    .map(({ name, options: o, label, inputs }, index) => {
      const gist = [o.units ?? o.filters ?? o.rate, o.kernelSize, o.activation]
        .filter((v) => v !== undefined)
        .map(value);
      const reads =
        inputs.length === 1 && inputs[0] === index - 1
          ? ""
          : `(${inputs.map((i) => (i === -1 ? "input" : layers[i].label)).join(", ")})`;
      return [`${graph ? `${label}=` : ""}${name}${reads}`, ...gist].join(" ");
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
