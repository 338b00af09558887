import { type Plan, planLayers } from "./plan.js";

/**
 * Layers whose weights are not trained by gradients but computed from the rows themselves: batch
 * normalization's moving mean and variance. DP-SGD clips and noises gradients only (Abadi et al. 2016,
 * Algorithm 1), so such state would leave the node raw: with momentum near 0 and batch 1 its moving mean
 * is one patient's row. Under `dp` these plans are refused, by the researcher and again by the node.
 */
const statefulLayers: Record<string, string> = { batchNormalization: "layerNormalization" };

/**
 * Why the plan cannot train under dp (slices of medical volumes; the first stateful layer and the
 * alternative), or undefined; `path` is the experiment.yaml key to change.
 */
export function dpPlanProblem(plan: Plan): { index: number; message: string; path: (string | number)[] } | undefined {
  // DP-SGD bounds what one sample changes; a subject's volume gives many slice samples, so ε would
  // protect one slice, not one patient. Refused until sampling and clipping work per subject.
  if (plan.data.slices !== undefined) {
    return {
      index: -1,
      path: ["plan", "data", "slices"],
      message:
        plan.data.slices === "none"
          ? "differential privacy is not yet tested on whole volumes (slices: none; the kernels' per-sample clipping covers dense and conv2d only): run without dp"
          : "differential privacy protects one sample, and each subject gives many slices (ε would hold per slice, not per patient): run without dp",
    };
  }
  const layers = planLayers(plan);
  const index = layers.findIndex((layer) => layer.name in statefulLayers);
  if (index < 0) return undefined;
  const name = layers[index].name;
  return {
    index,
    path: ["plan", "model", index],
    message:
      `layer ${index} (${name}) keeps moving statistics computed from raw rows, which differential privacy ` +
      `neither clips nor noises: use ${statefulLayers[name]} instead, or run without dp`,
  };
}
