import type { TrainingArgs } from "../../ml/types.js";
import type { ReplyBody } from "../../wire/index.js";

/** The node's caps on one task (config `max_updates`, `max_epochs`, `max_task_seconds`). */
export interface TaskLimits {
  maxUpdates: number;
  maxEpochs: number;
  maxTaskSeconds: number;
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
  const steps = args.updates > 0 ? args.updates : args.epochs * Math.ceil(rows / Math.max(1, args.batchSize));
  if (steps > limits.maxUpdates)
    return refuse(
      `The task takes ${steps.toLocaleString("en-US")} optimizer steps, more than this node's max_updates ${limits.maxUpdates.toLocaleString("en-US")}`,
      "max_updates",
    );
  return undefined;
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
