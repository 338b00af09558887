import { createHmac } from "node:crypto";
import type { TrainingArgs } from "../../ml/types.js";
import type { ReplyBody } from "../../wire/index.js";
import type { DatasetEntry } from "../catalogue/catalogue.js";
import { budgetOf, liftBudgetCommand } from "./dataset-privacy.js";

/**
 * Validation as the node allows it. The test split is the node's: its seed comes from the dataset's
 * own fingerprint (which never leaves the node) and id, not from the task's seed, so no experiment
 * can move which rows are tested; and it holds at least `min_count` rows, so no metric describes a
 * handful of rows. Validation on a dataset with a privacy budget is refused: a model the researcher
 * chose, validated on fixed rows, can read their labels through the metrics (a model that predicts
 * one class for one row only), and nothing of that is charged to the budget.
 */

/** The test split a node uses for a dataset: its seed and least rows (min_count), for trainLocal and the accountant. */
export function nodeTestSplit(entry: Pick<DatasetEntry, "id" | "sha256">, minCount: number) {
  const digest = createHmac("sha256", entry.sha256).update(`fbm/test-split/${entry.id}`).digest();
  return { seed: digest.readUInt32BE(0), minRows: minCount };
}

/** The refusal of a task that would validate on a dataset with a privacy budget, or undefined. */
export function validationRefusal(
  entry: DatasetEntry,
  args: TrainingArgs,
  maxEpsilon: "none" | number,
  options: { secagg: boolean },
): (ReplyBody & { kind: "error" }) | undefined {
  const validates = args.testRatio > 0 && (args.testOnGlobal || args.testOnLocal);
  const { budget, budgetFrom } = budgetOf(entry, maxEpsilon);
  if (!validates || budget === undefined) return undefined;
  // Training without local or distributed DP on a budgeted dataset is refused anyway, as privacy_budget
  // (the bigger matter); under either, the metrics of its test rows would not be covered by the budget.
  const allowedDp = args.dp?.mode === "local" || (args.dp?.mode === "central" && options.secagg);
  if ((args.epochs > 0 || args.updates > 0) && !allowedDp) return undefined;
  const setting = liftBudgetCommand(entry, budgetFrom);
  return {
    kind: "error",
    code: "validation_refused",
    message:
      `Dataset "${entry.name}" (${entry.id}) has a privacy budget (ε ${budget}): this node does not validate ` +
      "models on it (validation metrics are not covered by the budget); set `test_ratio: 0` in the " +
      `experiment's training section, or the operator can lift the budget with \`${setting}\``,
  };
}
