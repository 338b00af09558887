import type { NamedTensor } from "../../ml/types.js";
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
