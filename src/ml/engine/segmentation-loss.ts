/**
 * Binary segmentation's losses on the kernels, as ml/losses.ts computes them on tfjs: soft Dice over every
 * voxel of the batch, 1 − (2 Σ p·y + 1) / (Σ p + Σ y + 1), plus for `diceCrossentropy` the voxels' mean
 * binary cross-entropy (probabilities clipped to [ε, 1 − ε], no gradient outside). Dice is one figure for
 * the whole batch, not a sum over rows: threads sharing a batch each sum their slice's Σ p·y and Σ p + Σ y,
 * exchange them (`combine`, trainer.ts) and all go on with the whole batch's, as batch normalization
 * exchanges its moments. Sums run in float64 over the instance's float32 outputs.
 */

const epsilon = 1e-7;

/** A batch's (or a thread's slice's) sums Dice needs: Σ p·y, Σ p + Σ y, and its rows. */
export interface SegmentationSums {
  overlap: number;
  total: number;
  rows: number;
}

/**
 * Writes ∂L/∂p · rows / divisor into `grad` for the batch loss L of probabilities `p` against 0/1 labels
 * `y` (both `rows × units`), and returns L · rows: the trainer's contract is "Σ loss over rows", and the
 * runner divides that by the batch's rows. With `combine` (a thread's slice of a batch), L is the whole
 * batch's, from the sums `combine` returns for this slice's, `rows` there the batch's: each slice's
 * gradient is then its part of the batch's (they add up to it), and the slices' returned values add up to
 * L · the batch's rows.
 */
export function segmentationLoss(
  kind: "dice" | "diceCrossentropy",
  p: Float32Array,
  y: Float32Array,
  grad: Float32Array,
  rows: number,
  divisor: number,
  combine?: (slice: SegmentationSums) => SegmentationSums,
): number {
  const n = p.length;
  let overlap = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    overlap += p[i] * y[i];
    sum += p[i] + y[i];
  }
  const own = { overlap, total: sum, rows };
  const batch = combine ? combine(own) : own;
  const total = batch.total + 1;
  const numerator = 2 * batch.overlap + 1;
  const dice = 1 - numerator / total;
  const scale = batch.rows / divisor;
  // d/dp_i of −numerator/total = −(2·y_i·total − numerator) / total².
  const diceScale = scale / (total * total);
  for (let i = 0; i < n; i++) grad[i] = -(2 * y[i] * total - numerator) * diceScale;
  if (kind !== "diceCrossentropy" || n === 0) return dice * rows;
  // The mean over the whole batch's voxels: its rows × this slice's voxels per row.
  const voxels = batch.rows * (n / rows);
  let crossentropy = 0;
  const each = scale / voxels;
  for (let i = 0; i < n; i++) {
    const v = p[i];
    const t = y[i];
    const c = Math.min(Math.max(v, epsilon), 1 - epsilon);
    crossentropy -= t * Math.log(c) + (1 - t) * Math.log(1 - c);
    if (v >= epsilon && v <= 1 - epsilon) grad[i] -= (t / c - (1 - t) / (1 - c)) * each;
  }
  return dice * rows + (crossentropy / voxels) * batch.rows;
}
