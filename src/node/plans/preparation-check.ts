import type { Plan } from "../../ml/plan.js";
import { planInput } from "../../ml/plan-input.js";
import { featureKinds, inputWidth, type TablePreparation } from "../../ml/table-prep.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { TaskRefusal } from "./task-refusal.js";

/**
 * Most model inputs one task's table preparation may have (numeric columns plus one-hot categories).
 * A fixed cap, checked before anything is allocated: a researcher could otherwise send a million
 * "categories" and have the node build and train a model far past `max_params`.
 */
export const MAX_PREPARED_INPUTS = 10_000;

/**
 * Whether a task's resolved preparation is the one the approved plan declares on this dataset: the same
 * columns, in the plan's order (its `features`, else every column but the target and `drop`), one-hot
 * exactly where the plan says, never the target. The approval covers the plan; the preparation travels
 * beside it, unsigned by the operator, so it may only fill in what the plan already fixed (categories,
 * fills), never choose which columns are read. Throws a TaskRefusal (preparation_mismatch,
 * preparation_too_large) before anything is read or allocated.
 */
export function checkPreparation(
  plan: Pick<Plan, "data">,
  entry: DatasetEntry,
  preparation: TablePreparation | undefined,
): void {
  if (preparation === undefined || entry.type !== "csv") return;
  const where = `dataset "${entry.name}"`;
  const features = featureKinds(plan, planInput(plan as Plan, entry).features ?? [], entry.columns, where);
  const declared = features.map((f) => f.name).join(", ");
  const refuse = (message: string) =>
    new TaskRefusal(
      "preparation_mismatch",
      `${message}; the approved plan reads ${declared || "no columns"} (the researcher resolves the preparation from the plan: update it, or send the plan to approve)`,
    );
  for (const [i, column] of preparation.columns.entries()) {
    if (column.name === plan.data.target)
      throw refuse(`The task's table preparation uses the plan's target "${column.name}" as an input`);
    const feature = features[i];
    if (feature === undefined || feature.name !== column.name) {
      const at = features.some((f) => f.name === column.name) ? "out of the plan's order" : "not declared by the plan";
      throw refuse(`The task's table preparation reads column "${column.name}" at position ${i + 1}, ${at}`);
    }
    if ((column.kind === "onehot") !== feature.categorical)
      throw refuse(
        `The task's table preparation makes column "${column.name}" ${column.kind}, which the plan does not declare`,
      );
  }
  if (preparation.columns.length < features.length)
    throw refuse(`The task's table preparation leaves out column "${features[preparation.columns.length].name}"`);
  const inputs = preparedInputCount(preparation);
  if (inputs > MAX_PREPARED_INPUTS)
    throw new TaskRefusal(
      "preparation_too_large",
      `The task's table preparation has ${inputs.toLocaleString("en-US")} model inputs, more than a node prepares for one task (${MAX_PREPARED_INPUTS.toLocaleString("en-US")}): declare fewer categorical columns in the plan`,
    );
}

/** The model's input width under a preparation: the sum of its columns' widths (table-prep.ts inputWidth). */
export function preparedInputCount(preparation: TablePreparation): number {
  return preparation.columns.reduce((n, c) => n + inputWidth(c), 0);
}
