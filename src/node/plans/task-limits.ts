import type { TrainingArgs } from "../../ml/types.js";
import type { ReplyBody } from "../../wire/index.js";

/**
 * The node's caps on one task (config `max_updates`, `max_epochs`, `max_task_seconds`, `max_task_flops`)
 * and its bounds on the training arguments (`min_batch_size`, `max_batch_size`, `min_test_ratio`,
 * `min_dp_sigma`). The bounds are optional so a runtime built before them keeps working.
 */
export interface TaskLimits {
  maxUpdates: number;
  maxEpochs: number;
  maxTaskSeconds: number;
  minBatchSize?: number;
  maxBatchSize?: number;
  minTestRatio?: number;
  minDpSigma?: number;
  maxTaskFlops?: number;
}

/**
 * Why the node will not train with these arguments, by the operator's bounds on them, as the error
 * reply to send, or undefined: a batch outside [min_batch_size, max_batch_size] (a batch of 1 hands out
 * one row's gradient), a `test_ratio` under min_test_ratio, a DP noise multiplier under min_dp_sigma.
 */
export function argumentBoundsRefusal(
  args: Pick<TrainingArgs, "batchSize" | "testRatio" | "dp" | "epochs" | "updates">,
  limits: TaskLimits,
): (ReplyBody & { kind: "error" }) | undefined {
  const refuse = (what: string, key: string, value: string) => ({
    kind: "error" as const,
    code: "task_out_of_bounds" as const,
    message: `${what}: change the experiment, or the node's operator changes it with \`fbm-node config set ${key} ${value}\``,
  });
  const training = args.epochs > 0 || args.updates > 0;
  const { minBatchSize = 1, maxBatchSize = Number.POSITIVE_INFINITY, minTestRatio = 0, minDpSigma = 0 } = limits;
  if (training && args.batchSize < minBatchSize)
    return refuse(
      `The task asks for batch size ${args.batchSize}, below this node's min_batch_size ${minBatchSize}`,
      "min_batch_size",
      "N",
    );
  if (training && args.batchSize > maxBatchSize)
    return refuse(
      `The task asks for batch size ${args.batchSize}, above this node's max_batch_size ${maxBatchSize}`,
      "max_batch_size",
      "N",
    );
  if (args.testRatio < minTestRatio)
    return refuse(
      `The task asks for test_ratio ${args.testRatio}, below this node's min_test_ratio ${minTestRatio}`,
      "min_test_ratio",
      "R",
    );
  if (args.dp && args.dp.noiseMultiplier < minDpSigma)
    return refuse(
      `The task asks for ${args.dp.mode} DP with noise multiplier ${args.dp.noiseMultiplier}, below this node's min_dp_sigma ${minDpSigma}`,
      "min_dp_sigma",
      "S",
    );
  return undefined;
}

/**
 * Why the node will not train with these arguments on a dataset of `rows` rows, as the error reply to
 * send, or undefined. The steps are what the round takes (`updates`, else epochs × ⌈rows / batch⌉, the
 * same count the privacy ledger charges), so a researcher cannot keep a core busy for days with a huge
 * `updates` or with many epochs of batch 1.
 */
export function trainLimitRefusal(
  args: Pick<TrainingArgs, "epochs" | "updates" | "batchSize">,
  rows: number,
  limits: TaskLimits,
): (ReplyBody & { kind: "error" }) | undefined {
  const refuse = (what: string, key: string) => ({
    kind: "error" as const,
    code: "task_too_large" as const,
    message: `${what}: ask for less, or the node's operator raises it with \`fbm-node config set ${key} N\``,
  });
  if (args.epochs > limits.maxEpochs)
    return refuse(
      `The task asks for ${args.epochs} epochs, more than this node's max_epochs ${limits.maxEpochs}`,
      "max_epochs",
    );
  const steps = stepsOf(args, rows);
  if (steps > limits.maxUpdates)
    return refuse(
      `The task takes ${steps.toLocaleString("en-US")} optimizer steps, more than this node's max_updates ${limits.maxUpdates.toLocaleString("en-US")}`,
      "max_updates",
    );
  return undefined;
}

/** The default `max_task_flops`: see README (node config). */
export const DEFAULT_MAX_TASK_FLOPS = 1e15;

/**
 * The FLOPs a train task costs: `perSample` (forward and backward, planCost in src/ml/plan-size.ts, on
 * the real input width) × batch × steps, plus one forward pass (perSample / 3) over every row for the
 * validation a round may end with.
 */
export function taskFlops(
  perSample: number,
  args: Pick<TrainingArgs, "epochs" | "updates" | "batchSize">,
  rows: number,
): number {
  return perSample * Math.max(1, args.batchSize) * stepsOf(args, rows) + (perSample / 3) * rows;
}

/** Why the node will not run a task of `flops` FLOPs (config `max_task_flops`), as the error reply, or undefined. */
export function flopsRefusal(flops: number, limits: TaskLimits): (ReplyBody & { kind: "error" }) | undefined {
  if (limits.maxTaskFlops === undefined || flops <= limits.maxTaskFlops) return undefined;
  return {
    kind: "error",
    code: "task_too_large",
    message: `The task takes about ${flops.toExponential(2)} FLOPs, more than this node's max_task_flops ${limits.maxTaskFlops.toExponential(2)}: ask for a smaller model or fewer steps, or the node's operator raises it with \`fbm-node config set max_task_flops N\``,
  };
}

/** Optimizer steps a round takes: `updates`, else epochs × ⌈rows / batch⌉ (as the privacy ledger counts). */
function stepsOf(args: Pick<TrainingArgs, "epochs" | "updates" | "batchSize">, rows: number): number {
  return args.updates > 0 ? args.updates : args.epochs * Math.ceil(rows / Math.max(1, args.batchSize));
}

/**
 * A signal that aborts with `signal` or after `seconds`, whichever comes first, and a `timedOut()` to
 * tell the two apart (a node stopping is not a task running too long).
 */
export function taskDeadline(signal: AbortSignal, seconds: number): { signal: AbortSignal; timedOut: () => boolean } {
  const timeout = AbortSignal.timeout(seconds * 1000);
  return { signal: AbortSignal.any([signal, timeout]), timedOut: () => timeout.aborted && !signal.aborted };
}

/**
 * Most parameter bytes a task may carry on a node whose `max_params` is `maxParams`: float32 values of
 * the model and, for SCAFFOLD, as many again for the server's control variates. A task announcing more
 * is refused from its header, before its buffer is allocated (see fromChunks in src/wire/tensor-bytes.ts).
 */
export function paramBytesLimit(maxParams: number): number {
  return 2 * 4 * maxParams;
}
