import type { ColumnStats, NamedTensor } from "../../ml/types.js";
import {
  type ReplyHead,
  replyTensorsFor,
  type TaskBody,
  type TensorSpec,
  type TrainTaskBody,
} from "../../wire/index.js";
import type { TaskFailureReason } from "./hub-error.js";

/**
 * Checks on what a node announces before the researcher reads the rest: a reply of the kind its task
 * asks for, and for training, exactly the tensors of the model that was sent.
 */

const answers: Record<TaskBody["kind"], string> = {
  ping: "ping",
  list: "datasets",
  search: "datasets",
  stats: "stats",
  train: "train",
  analytics: "analytics",
  secagg: "secagg",
  clinical: "clinical",
};

/** Why a reply head cannot answer `task` (and the failure code the runner records), or undefined. */
export function headProblem(
  task: TaskBody,
  head: ReplyHead,
): { code: Extract<TaskFailureReason, "bad_reply" | "invalid_update">; message: string } | undefined {
  if (head.kind !== "error" && head.kind !== answers[task.kind]) {
    return { code: "bad_reply", message: `it answered a ${task.kind} task with a ${head.kind} reply` };
  }
  if (head.kind === "train" && task.kind === "train") {
    const problem = tensorsProblem(head.params.tensors, task.replyTensors ?? replyTensorsFor(task.params));
    if (problem) return { code: "invalid_update", message: problem };
  }
  return undefined;
}

/** The parameter bytes a reply to a train task may carry: those of the tensors it must hold. */
export function replyBytes(task: TrainTaskBody): number {
  const specs = task.replyTensors ?? replyTensorsFor(task.params);
  return specs.reduce((n, t) => n + t.shape.reduce((a, d) => a * d, 1) * 4, 0);
}

/** Why `got` does not describe the same tensors as `want` (names, shapes, dtypes, in order), or undefined. */
export function tensorsProblem(
  got: readonly TensorSpec[],
  want: readonly NamedTensor[] | readonly TensorSpec[],
): string | undefined {
  if (got.length !== want.length) return `it has ${got.length} tensors, the model has ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (g.name !== w.name || g.dtype !== w.dtype || g.shape.join(",") !== w.shape.join(",")) {
      return `tensor ${i} is "${g.name}" [${g.shape}] ${g.dtype}, expected "${w.name}" [${w.shape}] ${w.dtype}`;
    }
  }
  return undefined;
}

/**
 * The index of the first value that is NaN or ±Infinity, or −1. v − v is 0 for every finite number and
 * NaN otherwise: a tight loop, run over millions of values per round.
 */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) return i;
  return -1;
}

/**
 * Why a node's column statistics cannot be true of a dataset of `rows` rows (the size it announced), or
 * undefined: counts that are not whole or exceed the rows (each on its own: a node rounds its missing
 * counts up to a multiple of its min_count, so present + missing may pass the rows), sums that are not finite, a negative
 * variance (Σx² < (Σx)²/n), min above max, or a mean outside [min, max]. A lying node could otherwise
 * set everyone's scaling (one huge sum of squares makes every node's inputs near zero).
 */
export function statsProblem(columns: readonly ColumnStats[], rows: number): string | undefined {
  const whole = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n >= 0 && n <= rows);
  for (const c of columns) {
    const at = `column "${c.name}"`;
    if (!whole(c.count) || !whole(c.missing))
      return `${at} counts ${c.count} value(s) and ${c.missing ?? 0} missing, for a dataset announced with ${rows} rows`;
    if (!Number.isFinite(c.sum) || !Number.isFinite(c.sumSquares) || c.sumSquares < 0)
      return `${at} has sum ${c.sum} and sum of squares ${c.sumSquares}`;
    for (const k of c.categories ?? [])
      if (!whole(k.count) || k.count > c.count + (c.missing ?? 0))
        return `${at} counts ${k.count} rows in one category, of ${c.count}`;
    if (c.count === 0) continue;
    const mean = c.sum / c.count;
    // Σx²/n − mean² ≥ 0 up to float64 rounding of the sums.
    if (c.sumSquares / c.count - mean * mean < -1e-9 * Math.max(1, c.sumSquares / c.count))
      return `${at} has a negative variance (sum ${c.sum}, sum of squares ${c.sumSquares}, count ${c.count})`;
    const spread = 1e-9 * Math.max(1, Math.abs(c.min), Math.abs(c.max));
    if (c.min > c.max || mean < c.min - spread || mean > c.max + spread)
      return `${at} has min ${c.min}, max ${c.max} and mean ${mean}`;
  }
  return undefined;
}
