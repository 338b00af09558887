import { InputError } from "../../common/errors.js";
import type { Plan } from "../../ml/plan.js";
import { planInput } from "../../ml/plan-input.js";
import type { DatasetInfo } from "../../wire/index.js";

/** Every participant must present the same inputs, or their updates could not be averaged. */
export function commonInput(
  plan: Plan,
  datasets: { name: string; dataset: DatasetInfo }[],
): { sampleShape: number[]; features?: string[] } {
  const first = planInput(plan, datasets[0].dataset);
  const classNames = (d: DatasetInfo) => d.classes.map((c) => c.name).join(", ");
  for (const { name, dataset } of datasets.slice(1)) {
    // Image folders number their classes by sorted folder name: a missing class would shift the labels.
    if (
      dataset.type === "images" &&
      datasets[0].dataset.type === "images" &&
      classNames(dataset) !== classNames(datasets[0].dataset)
    ) {
      throw new InputError(
        `Node ${name}'s dataset "${dataset.name}" has classes [${classNames(dataset)}] but ${datasets[0].name}'s has ` +
          `[${classNames(datasets[0].dataset)}]: every node needs the same class folders`,
      );
    }
    const other = planInput(plan, dataset);
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
