/**
 * Why a node answered a task with an error reply (`ErrorReply.code` on the wire). Nodes send them
 * (plan-gate.ts, executors/index.ts, poll-loop.ts); the researcher decides per code what to do while it
 * awaits plan approval (run/approval.ts) and reports each in its `error` events.
 */
export const replyErrorCodes = [
  /** The node's operator has not decided on the plan yet (it may still approve it). */
  "plan_not_approved",
  /** The node's operator rejected the plan. */
  "plan_rejected",
  /** The plan's model has more parameters than the node's `max_params`. */
  "plan_too_large",
  /** The node's privacy budget refuses the round (over budget, or not DP on a dataset with a budget). */
  "privacy_budget",
  /** The node validates no model on a dataset with a privacy budget (test_on, the final evaluation). */
  "validation_refused",
  /** The task cannot run on this node's data or with this plan (an InputError on the node). */
  "invalid_input",
  /** The task failed on the node (a RuntimeFailure there). */
  "failed",
  /** An unexpected error on the node; the node logs its stack. */
  "internal",
  /** The node is shutting down. */
  "node_stopping",
  /** The node's operator requires secure aggregation (config `require_secagg`) and the task has none. */
  "secagg_required",
  /** The plan cannot train under differential privacy (a layer with state computed from raw rows, e.g. batchNormalization). */
  "dp_unsupported",
  /** A clinical model has more parameters than a third of the node's rows (the node's fixed rule, after DataSHIELD's nfilter.glm). */
  "too_many_parameters",
  /** A clinical analysis would rest on fewer rows (or events, or outcome cases) than the node's `min_count`. */
  "below_min_count",
  /** An analysis asked the node for more iterations than its cap (MAX_CLINICAL_ITERATIONS). */
  "iteration_cap",
  /** Secure aggregation with fewer nodes than the node's `secagg_min_nodes`, or a survivor graph that is split. */
  "secagg_cohort",
  /** Secure aggregation with `verify`: a signature, identity or survivor set did not check out. */
  "secagg_verify",
  /**
   * Secure aggregation: the node already put this exact update into a sum over another set of nodes
   * (a second sum would reveal an update by subtraction; src/node/privacy/contribution-record.ts).
   */
  "secagg_repeat",
  /** A task's table preparation names columns (or kinds) the approved plan does not declare, or the target as an input. */
  "preparation_mismatch",
  /** A task's table preparation has more model inputs than a node prepares for one task (MAX_PREPARED_INPUTS). */
  "preparation_too_large",
  /** A task asks for more work than the node's caps allow (config `max_updates`, `max_epochs`, `max_task_seconds`). */
  "task_too_large",
  /** A task ran past the node's `max_task_seconds` and was stopped. */
  "task_timeout",
  /**
   * A task's training arguments are outside the operator's bounds (config `min_batch_size`,
   * `max_batch_size`, `min_test_ratio`, `min_dp_sigma`).
   */
  "task_out_of_bounds",
  /**
   * The task was stopped while it ran: its researcher no longer awaited it (the run ended, was interrupted
   * or timed out, or dropped the node), the researcher stayed unreachable past the node's window, or the
   * node's operator cancelled it (`fbm-node task cancel`, the GUI). Nothing of it is sent.
   */
  "task_cancelled",
  /**
   * A relay (`fbm-researcher relay`) cannot answer the task for its nodes without breaking what the
   * task promises: secure aggregation, an aggregator that needs each update, SCAFFOLD, differential
   * privacy accounted per node, statistics and analyses (src/researcher/relay/relay-policy.ts).
   */
  "relay_unsupported",
] as const;

export type ReplyErrorCode = (typeof replyErrorCodes)[number];

/**
 * An error reply's code and message as read off the wire: a code we do not know (a node of another
 * version) becomes "failed", and the message keeps it.
 */
export function readErrorCode(code: string, message: string): { code: ReplyErrorCode; message: string } {
  if ((replyErrorCodes as readonly string[]).includes(code)) return { code: code as ReplyErrorCode, message };
  return { code: "failed", message: `${message} (code "${code.slice(0, 64)}")` };
}
