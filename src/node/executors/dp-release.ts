import { dpPlanProblem } from "../../ml/dp-plan-check.js";
import type { Plan } from "../../ml/plan.js";
import type { DpArgs, TrainResult } from "../../ml/types.js";
import type { ReplyBody } from "../../wire/index.js";

/**
 * What a node lets leave under differential privacy. The researcher is the adversary DP protects
 * against, so the node checks for itself whatever the researcher's `validate` already refused.
 */

/** The refusal of a plan that cannot train under dp (batch normalization's raw moving statistics), or undefined. */
export function dpPlanRefusal(plan: Plan, dp: DpArgs | undefined): (ReplyBody & { kind: "error" }) | undefined {
  const problem = dp && dpPlanProblem(plan);
  if (!problem) return undefined;
  return {
    kind: "error",
    code: "dp_unsupported",
    message: `This node does not train this plan under dp (${dp.mode}): ${problem.message} (${problem.path.slice(0, 2).join(".")} in experiment.yaml)`,
  };
}

/**
 * A DP round's result as it may leave: the parameters (clipped and noised by DP-SGD, or clipped for the
 * researcher's central noise) and counts, but not the training loss nor the metrics of the trained model
 * on the node's test rows, which are computed on raw rows and neither clipped nor noised (with batch 1 and
 * one update the loss is a function of one patient's label). Both modes withhold them: under central DP the
 * node's loss is just as raw. The metrics of the received global model are the validation's to govern.
 */
export function releaseUnderDp<T extends TrainResult>(result: T, dp: DpArgs | undefined): TrainResult {
  if (!dp) return result;
  const { trainLoss: _, localMetrics: __, ...released } = result;
  return released;
}
