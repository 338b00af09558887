import { InputError } from "../common/errors.js";
import type { Plan } from "../ml/plan.js";
import type { DatasetInfo } from "../wire/index.js";

/**
 * The per-sample input shape a plan sees on a dataset, and (csv) its feature columns: the plan's
 * `features`, else every column but the target. Every node applies the same rule to its own file.
 */
export function inputOf(plan: Plan, dataset: DatasetInfo): { sampleShape: number[]; features?: string[] } {
  if (dataset.type === "csv") {
    const columns = dataset.columns.map((c) => c.name);
    const target = plan.data.target;
    if (!target) throw new InputError(`plan.data.target is required for csv datasets (columns: ${columns.join(", ")})`);
    const features = plan.data.features ?? columns.filter((c) => c !== target);
    return { sampleShape: [features.length], features };
  }
  const input = plan.data.input;
  if (input) return { sampleShape: [input.height, input.width, input.channels] };
  const [, h, w, c] = dataset.shape;
  if (h && w) return { sampleShape: [h, w, c ?? 1] };
  throw new InputError(`plan.data.input {height, width, channels} is required for ${dataset.type} datasets`);
}

/** Every participant must present the same inputs, or their updates could not be averaged. */
export function commonInput(plan: Plan, datasets: { name: string; dataset: DatasetInfo }[]): { sampleShape: number[]; features?: string[] } {
  const first = inputOf(plan, datasets[0].dataset);
  const classNames = (d: DatasetInfo) => d.classes.map((c) => c.name).join(", ");
  for (const { name, dataset } of datasets.slice(1)) {
    // Image folders number their classes by sorted folder name: a missing class would shift the labels.
    if (dataset.type === "images" && datasets[0].dataset.type === "images" && classNames(dataset) !== classNames(datasets[0].dataset)) {
      throw new InputError(
        `Node ${name}'s dataset "${dataset.name}" has classes [${classNames(dataset)}] but ${datasets[0].name}'s has ` +
          `[${classNames(datasets[0].dataset)}]: every node needs the same class folders`,
      );
    }
    const other = inputOf(plan, dataset);
    if (JSON.stringify(other) !== JSON.stringify(first)) {
      throw new InputError(
        `Node ${name}'s dataset "${dataset.name}" has inputs ${describe(other)} but ${datasets[0].name}'s has ${describe(first)}: ` +
          `list plan.data.features, or register datasets with the same columns`,
      );
    }
  }
  return first;
}

function describe(input: { sampleShape: number[]; features?: string[] }): string {
  return input.features ? `[${input.features.join(", ")}]` : `[${input.sampleShape.join("×")}]`;
}
