import { join } from "node:path";
import { writeFileAtomic } from "../common/atomic-write.js";
import { saveModel, type SaveOptions } from "../ml/export.js";
import { planId } from "../ml/plan.js";
import { toSafetensors } from "../ml/safetensors.js";

/**
 * The final model: a TensorFlow.js model directory with the plan and input preparation, plus
 * `model.safetensors` (the same weights, names as in the plan) for users of other frameworks.
 */
export async function exportModel(dir: string, options: SaveOptions): Promise<void> {
  await saveModel(dir, options);
  const metadata = { format: "pt", producer: "fbm", plan_id: planId(options.plan) };
  await writeFileAtomic(join(dir, "model.safetensors"), toSafetensors(options.params, metadata));
}
