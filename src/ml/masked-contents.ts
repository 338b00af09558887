import type { MetricCounts } from "./metric-counts.js";
import { type TaskKind, taskKind } from "./metrics.js";
import { type Plan, planLayers } from "./plan.js";
import type { MetricValues, TrainingArgs } from "./types.js";

/**
 * What a node's masked vector holds after the model update and its weight (issue 24, finding 5): its
 * training loss and its validation counts, so the researcher learns only their sums. Both sides derive
 * the layout from the plan and the task (no field of it travels), so a node cannot be asked for, and
 * cannot send, anything else. Per validation set (global, then local, as the task asks): its row count,
 * its loss sum, then the confusion matrix (classification) or Σy, Σy², Σ(y − ŷ)², Σ|y − ŷ| (regression).
 * AUC's score histograms are not carried (2 × 65,536 words per class): under secure aggregation the
 * researcher gets no AUC.
 *
 * Real values (loss sums, regression sums) are fixed point with 16 fractional bits in three 16-bit limbs
 * (low, middle, signed high word): the low limbs of n nodes sum to less than n·2^16, so no carry is lost
 * modulo 2^32 for n < 2^15, and a sum up to 2^47 is exact to 2^−16.
 */
export interface ContentsLayout {
  kind: TaskKind;
  /** Classification: the confusion matrix is classes × classes. */
  classes: number;
  /** The validation sets the task asks for, in this order. */
  sets: ("global" | "local")[];
}

/** One validation set as the vector carries it. */
export interface SetContents {
  rows: number;
  lossSum: number;
  counts: MetricCounts;
}

const LIMBS = 3;
const FRACTION = 2 ** 16;
const LIMB = 2 ** 16;
/** Largest magnitude one node's real value may have: its fixed-point form stays a safe integer. */
const LARGEST = 2 ** 36;

/** The layout for a plan and a task's arguments: the classes are the output layer's units (binary: 2). */
export function contentsLayout(plan: Plan, args: Pick<TrainingArgs, "testOnGlobal" | "testOnLocal">): ContentsLayout {
  const kind = taskKind(plan);
  const dense = planLayers(plan).filter((l) => l.name === "dense");
  const units = (dense.at(-1)?.options as { units?: number } | undefined)?.units ?? 2;
  const sets: ContentsLayout["sets"] = [];
  if (args.testOnGlobal) sets.push("global");
  if (args.testOnLocal) sets.push("local");
  return { kind, classes: kind === "binary" ? 2 : Math.max(units, 2), sets };
}

/** A validation result as the contents carry it (undefined: no test rows, or no counts to pool). */
export function setContents(metrics: MetricValues | undefined): SetContents | undefined {
  if (!metrics?.counts || metrics.samples === 0) return undefined;
  return { rows: metrics.samples, lossSum: (metrics.values.loss ?? 0) * metrics.samples, counts: metrics.counts };
}

/** Words the contents take after the update and its weight. */
export function contentsLength(layout: ContentsLayout): number {
  const set = 1 + LIMBS + (layout.kind === "regression" ? 4 * LIMBS : layout.classes * layout.classes);
  return LIMBS + layout.sets.length * set;
}

/**
 * One node's contents: `weight` · its training loss, then each set of `sets` (undefined: no test rows).
 * Throws a RangeError for a value the encoding cannot hold (not finite, or beyond ±2^36).
 */
export function encodeContents(
  layout: ContentsLayout,
  train: { loss: number; weight: number },
  sets: (SetContents | undefined)[],
): Int32Array {
  const out = new Int32Array(contentsLength(layout));
  let k = 0;
  const real = (v: number, what: string) => {
    if (!Number.isFinite(v) || Math.abs(v) > LARGEST) throw new RangeError(`The ${what} (${v}) cannot be encoded`);
    const q = Math.round(v * FRACTION);
    const low = ((q % LIMB) + LIMB) % LIMB;
    const rest = (q - low) / LIMB;
    const middle = ((rest % LIMB) + LIMB) % LIMB;
    out[k++] = low;
    out[k++] = middle;
    out[k++] = (rest - middle) / LIMB;
  };
  real(train.loss * train.weight, "training loss");
  layout.sets.forEach((name, i) => {
    const set = sets[i];
    out[k++] = set?.rows ?? 0;
    real(set?.lossSum ?? 0, `${name} validation loss`);
    if (layout.kind === "regression") {
      const s = set?.counts.sums ?? { y: 0, y2: 0, sse: 0, sae: 0 };
      for (const key of ["y", "y2", "sse", "sae"] as const) real(s[key], `${name} regression sum`);
      return;
    }
    const confusion = set?.counts.confusion ?? new Array<number>(layout.classes ** 2).fill(0);
    if (confusion.length !== layout.classes ** 2) {
      throw new RangeError(`The ${name} confusion matrix has ${confusion.length} cells, not ${layout.classes ** 2}`);
    }
    for (const c of confusion) out[k++] = c;
  });
  return out;
}

/** The sum of every node's contents: Σ weight·loss and each set's pooled rows, loss sum and counts. */
export function decodeContents(
  layout: ContentsLayout,
  words: Int32Array,
): { trainLossSum: number; sets: SetContents[] } {
  let k = 0;
  const real = () => {
    // Low and middle limbs are sums of non-negative words: read them unsigned.
    const value = (words[k] >>> 0) + (words[k + 1] >>> 0) * LIMB + words[k + 2] * LIMB * LIMB;
    k += LIMBS;
    return value / FRACTION;
  };
  const trainLossSum = real();
  const sets = layout.sets.map((): SetContents => {
    const rows = words[k++] >>> 0;
    const lossSum = real();
    if (layout.kind === "regression") {
      const [y, y2, sse, sae] = [real(), real(), real(), real()];
      return { rows, lossSum, counts: { rows, sums: { y, y2, sse, sae } } };
    }
    const confusion = Array.from(words.subarray(k, k + layout.classes ** 2), (c) => c >>> 0);
    k += layout.classes ** 2;
    return { rows, lossSum, counts: { rows, classes: layout.classes, confusion } };
  });
  return { trainLossSum, sets };
}
