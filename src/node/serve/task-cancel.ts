import type { ReplyBody } from "../../wire/index.js";

/**
 * Stopping the task a node is running (issue 33): the researcher stops waiting for it (its answer to a
 * feedback says `cancel`), the researcher stays unreachable past the node's window, or the node's operator
 * cancels it (`fbm-node task cancel`, the GUI; see cancel-request.ts). Each aborts the task's own signal,
 * which the training loop checks between batches, and the task ends with a `task_cancelled` reply.
 */

/** Who stopped a task: named in the node's log line and in the reply. */
export type CancelledBy = "researcher" | "lost researcher" | "operator";

/** The abort reason of a cancelled task's signal (what `signal.throwIfAborted()` throws inside it). */
export class TaskCancelled extends Error {
  constructor(
    readonly taskId: string,
    readonly by: CancelledBy,
  ) {
    super(cancelMessage(by));
    this.name = "TaskCancelled";
  }
}

function cancelMessage(by: CancelledBy): string {
  switch (by) {
    case "researcher":
      return "The task was cancelled: the researcher no longer awaits it (its run ended, was interrupted or timed out, or dropped this node)";
    case "lost researcher":
      return "The task was cancelled: the researcher has been unreachable for longer than this node waits";
    case "operator":
      return "The task was cancelled by the node's operator";
  }
}

/** The reply of a task whose signal was aborted by a cancel, or undefined for any other abort (the node stopping). */
export function cancelledReply(signal: AbortSignal): (ReplyBody & { kind: "error" }) | undefined {
  const reason: unknown = signal.reason;
  if (!signal.aborted || !(reason instanceof TaskCancelled)) return undefined;
  return { kind: "error", code: "task_cancelled", message: reason.message };
}

/** The task being run now, and the one way to stop it; shared by the poll loop and whoever cancels. */
export interface RunningTask {
  /** Called by the poll loop as a task starts: its signal (aborted by `parent` or a cancel) and its end. */
  start(taskId: string, parent: AbortSignal): { signal: AbortSignal; end(): void };
  /** The id of the task being run, if any. */
  current(): string | undefined;
  /**
   * Cancels the running task (when `taskId` is given, only if it is that one); false when nothing
   * matching runs. A second cancel of the same task changes nothing (the first one's `by` stays).
   */
  cancel(by: CancelledBy, taskId?: string): boolean;
}

export function createRunningTask(): RunningTask {
  let running: { taskId: string; controller: AbortController } | undefined;
  return {
    start(taskId, parent) {
      const controller = new AbortController();
      const mine = { taskId, controller };
      running = mine;
      return {
        signal: AbortSignal.any([parent, controller.signal]),
        end() {
          if (running === mine) running = undefined;
        },
      };
    },
    current: () => running?.taskId,
    cancel(by, taskId) {
      if (!running || (taskId !== undefined && taskId !== running.taskId)) return false;
      if (!running.controller.signal.aborted) running.controller.abort(new TaskCancelled(running.taskId, by));
      return true;
    },
  };
}

/** `train for "heart", round 3`: how the cancel's log line and `task cancel` name a task. */
export function taskLabel(task: { kind: string; experiment: string; round?: number }): string {
  const round = task.round !== undefined ? `, round ${task.round}` : "";
  return `${task.kind}${task.experiment ? ` for "${task.experiment}"` : ""}${round}`;
}
