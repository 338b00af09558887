/** Why the hub refused something a node sent; the service maps `reason` to a Connect code. */
export type HubErrorReason =
  | "unknown_task"
  | "wrong_node"
  | "duplicate_reply"
  | "invalid_reply"
  | "identity_in_use"
  | "closed";

export class HubError extends Error {
  override name = "HubError";
  constructor(
    readonly reason: HubErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Why the researcher gave up on a task: its node went away, it timed out, the run stopped, or the reply was unusable. */
export type TaskFailureReason =
  | "node_lost"
  | "timeout"
  | "aborted"
  | "bad_reply"
  | "invalid_update"
  | "unsendable_task";

/** A task's node went away (stopped polling), the task timed out, or the node's reply was refused on arrival. */
export class TaskFailure extends Error {
  override name = "TaskFailure";
  constructor(
    readonly reason: TaskFailureReason,
    message: string,
  ) {
    super(message);
  }
}
