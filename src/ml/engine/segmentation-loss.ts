/**
 * Binary segmentation's losses on the kernels, as ml/losses.ts computes them on tfjs: soft Dice over every
 * voxel of the batch, 1 − (2 Σ p·y + 1) / (Σ p + Σ y + 1), plus for `diceCrossentropy` the voxels' mean
 * binary cross-entropy (probabilities clipped to [ε, 1 − ε], no gradient outside). Dice is one figure for
 * the whole batch, not a sum over rows, so a batch cannot be split across threads: such plans train on one.
 * Sums run in float64 over the instance's float32 outputs.
 */

const epsilon = 1e-7;

/**
 * Writes ∂L/∂p · rows / divisor into `grad` for the batch loss L of probabilities `p` against 0/1 labels
 * `y` (both `rows × units`), and returns L · rows: the trainer's contract is "Σ loss over rows", and the
 * runner divides that by the batch's rows.
 */
export function segmentationLoss(
  kind: "dice" | "diceCrossentropy",
  p: Float32Array,
  y: Float32Array,
  grad: Float32Array,
  rows: number,
  divisor: number,
): number {
  const n = p.length;
  let overlap = 0;
  let total = 1;
  for (let i = 0; i < n; i++) {
    overlap += p[i] * y[i];
    total += p[i] + y[i];
  }
  const numerator = 2 * overlap + 1;
  let loss = 1 - numerator / total;
  const scale = rows / divisor;
  // d/dp_i of −numerator/total = −(2·y_i·total − numerator) / total².
  const diceScale = scale / (total * total);
  for (let i = 0; i < n; i++) grad[i] = -(2 * y[i] * total - numerator) * diceScale;
  if (kind === "diceCrossentropy") {
    let sum = 0;
    const each = scale / n;
    for (let i = 0; i < n; i++) {
      const v = p[i];
      const t = y[i];
      const c = Math.min(Math.max(v, epsilon), 1 - epsilon);
      sum -= t * Math.log(c) + (1 - t) * Math.log(1 - c);
      if (v >= epsilon && v <= 1 - epsilon) grad[i] -= (t / c - (1 - t) / (1 - c)) * each;
    }
    loss += sum / n;
  }
  return loss * rows;
}
