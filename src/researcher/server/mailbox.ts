import { randomUUID } from "node:crypto";
import type { ReplyBody, ReplyReceiver, TaskBody, TaskEnvelope } from "../../wire/index.js";
import { HubError, TaskFailure } from "./hub-error.js";

/**
 * Tasks on their way to nodes and back: a queue and at most one waiting poll per node, the outstanding
 * tasks indexed by id and by node (so a lost node fails its own tasks without scanning everyone's),
 * and a bounded memory of answered tasks to tell a duplicate reply from an unknown one.
 * Every operation is O(1) in the number of nodes.
 */

export interface Outstanding {
  nodeId: string;
  task: TaskEnvelope;
  /**
   * Calls `stop` once the task is settled (answered, failed, timed out): its streams stop there.
   * Returns the undo. A plain list, not an AbortSignal: a signal and its listeners per node and round
   * were a measurable share of the researcher's CPU at a thousand nodes.
   */
  onSettled(stop: () => void): () => void;
  /** A reply stream for it has been admitted and its bytes are still arriving. */
  receiving: boolean;
  /** Who takes its reply's parameter bytes as they arrive (the sender's), instead of the whole-reply assembly. */
  receive?: ReplyReceiver;
}

export interface SendOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  experiment?: string;
  /** Takes the reply's parameter bytes as they arrive (see `ReplyReceiver`); default: the reply is assembled whole. */
  receive?: ReplyReceiver;
}

export interface Mailbox {
  /** Queues a task for a node (or hands it to the node's waiting poll) and resolves with its reply. */
  send(nodeId: string, body: TaskBody, options: SendOptions & { timeoutMessage: string }): Promise<ReplyBody>;
  /** The next queued task for a node, or waits for one until `waitMs` ends or `signal` aborts. */
  next(nodeId: string, options: { signal: AbortSignal; waitMs: number }): Promise<TaskEnvelope | undefined>;
  /** Puts back at the front a task whose sending broke, if still outstanding (to a waiting poll at once). */
  requeue(nodeId: string, task: TaskEnvelope): void;
  /** The outstanding task a reply answers; throws HubError for an unknown, foreign or answered task. */
  answerable(reply: { taskId: string; nodeId: string }): Outstanding;
  get(taskId: string): Outstanding | undefined;
  /** Settles a task with its reply (resolve) or a failure (reject), remembering it as answered. */
  settle(taskId: string, outcome: { reply: ReplyBody } | { failure: Error }): void;
  /** Fails every outstanding task of a node and drops its queue; ends its waiting poll. */
  dropNode(nodeId: string, failure: () => Error): void;
  /** Fails every outstanding task; ends every waiting poll. */
  close(failure: () => Error): void;
  /** Tasks outstanding, and answered ids remembered (for tests of the bounds). */
  size(): { outstanding: number; answered: number };
}

interface Entry extends Outstanding {
  resolve: (body: ReplyBody) => void;
  reject: (error: Error) => void;
  /** What `onSettled` registered (a task has one or two: its sending, its reply's receiving). */
  stops: (() => void)[];
  timer?: NodeJS.Timeout;
  cleanup: () => void;
}

/** How many answered task ids are remembered (a duplicate older than that reads as unknown). */
export const ANSWERED_MEMORY = 65_536;

export function createMailbox(options: { answeredMemory?: number } = {}): Mailbox {
  const answeredMemory = options.answeredMemory ?? ANSWERED_MEMORY;
  const queues = new Map<string, TaskEnvelope[]>();
  const waiters = new Map<string, (task: TaskEnvelope | undefined) => void>();
  const outstanding = new Map<string, Entry>();
  const byNode = new Map<string, Set<string>>();
  const answered = new Set<string>(); // insertion order: the oldest is evicted first

  function remember(taskId: string): void {
    answered.add(taskId);
    if (answered.size > answeredMemory) answered.delete(answered.values().next().value as string);
  }

  function unqueue(nodeId: string, taskId: string): void {
    const queue = queues.get(nodeId);
    if (!queue) return;
    const at = queue.findIndex((t) => t.taskId === taskId);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) queues.delete(nodeId);
  }

  function settle(taskId: string, outcome: { reply: ReplyBody } | { failure: Error }, asAnswered = true): void {
    const entry = outstanding.get(taskId);
    if (!entry) return;
    outstanding.delete(taskId);
    const mine = byNode.get(entry.nodeId);
    mine?.delete(taskId);
    if (mine?.size === 0) byNode.delete(entry.nodeId);
    if (asAnswered) remember(taskId);
    entry.cleanup();
    const stops = entry.stops;
    entry.stops = [];
    for (const stop of stops) stop();
    if ("reply" in outcome) entry.resolve(outcome.reply);
    else entry.reject(outcome.failure);
  }

  return {
    send(nodeId, body, opts) {
      const task: TaskEnvelope = { taskId: randomUUID(), experiment: opts.experiment ?? "", body };
      return new Promise<ReplyBody>((resolve, reject) => {
        const onAbort = () => settle(task.taskId, { failure: new TaskFailure("aborted", "Stopped") }, false);
        const entry: Entry = {
          nodeId,
          task,
          onSettled(stop) {
            entry.stops.push(stop);
            return () => {
              const at = entry.stops.indexOf(stop);
              if (at >= 0) entry.stops.splice(at, 1);
            };
          },
          receiving: false,
          receive: opts.receive,
          resolve,
          reject,
          stops: [],
          cleanup: () => {
            if (entry.timer) clearTimeout(entry.timer);
            opts.signal?.removeEventListener("abort", onAbort);
            unqueue(nodeId, task.taskId);
          },
        };
        outstanding.set(task.taskId, entry);
        const mine = byNode.get(nodeId) ?? new Set<string>();
        byNode.set(nodeId, mine);
        mine.add(task.taskId);
        if (opts.timeoutMs) {
          entry.timer = setTimeout(
            () => settle(task.taskId, { failure: new TaskFailure("timeout", opts.timeoutMessage) }, false),
            opts.timeoutMs,
          );
        }
        if (opts.signal?.aborted) return onAbort();
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        const waiter = waiters.get(nodeId);
        if (waiter) waiter(task);
        else {
          const queue = queues.get(nodeId);
          if (queue) queue.push(task);
          else queues.set(nodeId, [task]);
        }
      });
    },

    next(nodeId, opts) {
      const queue = queues.get(nodeId);
      if (queue?.length) {
        const task = queue.shift();
        if (queue.length === 0) queues.delete(nodeId);
        return Promise.resolve(task);
      }
      return new Promise<TaskEnvelope | undefined>((resolve) => {
        const finish = (task: TaskEnvelope | undefined) => {
          clearTimeout(timer);
          opts.signal.removeEventListener("abort", onAbort);
          if (waiters.get(nodeId) === finish) waiters.delete(nodeId);
          resolve(task);
        };
        const onAbort = () => finish(undefined);
        const timer = setTimeout(() => finish(undefined), opts.waitMs);
        // One poll per node: a newer one replaces (and ends) the older.
        waiters.get(nodeId)?.(undefined);
        waiters.set(nodeId, finish);
        opts.signal.addEventListener("abort", onAbort, { once: true });
      });
    },

    requeue(nodeId, task) {
      if (!outstanding.has(task.taskId)) return;
      // The node may already be waiting again (a new session): hand it the task now.
      const waiter = waiters.get(nodeId);
      if (waiter) return waiter(task);
      const queue = queues.get(nodeId);
      if (queue) queue.unshift(task);
      else queues.set(nodeId, [task]);
    },

    answerable(reply) {
      const entry = outstanding.get(reply.taskId);
      if (!entry) {
        if (answered.has(reply.taskId))
          throw new HubError("duplicate_reply", `Task ${reply.taskId} was already answered`);
        throw new HubError("unknown_task", `No task ${reply.taskId} is waiting for a reply`);
      }
      if (entry.nodeId !== reply.nodeId) {
        throw new HubError("wrong_node", `Task ${reply.taskId} was not sent to node ${reply.nodeId}`);
      }
      return entry;
    },

    get: (taskId) => outstanding.get(taskId),

    settle: (taskId, outcome) => settle(taskId, outcome),

    dropNode(nodeId, failure) {
      for (const taskId of [...(byNode.get(nodeId) ?? [])]) settle(taskId, { failure: failure() }, false);
      queues.delete(nodeId);
      waiters.get(nodeId)?.(undefined);
    },

    close(failure) {
      for (const waiter of [...waiters.values()]) waiter(undefined);
      waiters.clear();
      for (const taskId of [...outstanding.keys()]) settle(taskId, { failure: failure() }, false);
    },

    size: () => ({ outstanding: outstanding.size, answered: answered.size }),
  };
}
