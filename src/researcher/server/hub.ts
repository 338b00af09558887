import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  type FeedbackEnvelope,
  type ReplyBody,
  type ReplyEnvelope,
  type ReplyHead,
  type TaskBody,
  type TaskEnvelope,
  toParamsHeader,
} from "../../wire/index.js";
import { HubError, TaskFailure } from "./hub-error.js";
import { headProblem } from "./reply-check.js";

/**
 * The researcher's switchboard, free of any transport: nodes long-poll for tasks, the runner sends
 * tasks and awaits replies. A node is online while it polls, replies or sends feedback; silent for
 * `lostAfterMs` it is lost, and its outstanding tasks fail at once instead of waiting for a timeout.
 */

export interface NodeHello {
  nodeId: string;
  name: string;
  sessionId: string;
  version: string;
}

export interface NodeRecord extends NodeHello {
  online: boolean;
  connectedAt: number;
  lastSeen: number;
}

export interface HubEvents {
  node: [{ state: "connected" | "lost"; node: NodeRecord }];
  feedback: [FeedbackEnvelope];
}

export interface Hub extends EventEmitter<HubEvents> {
  /**
   * Marks a node online; throws HubError when another live process already holds its id, unless the
   * caller is `proven` (signed with, or presenting, the key bound to the id): then the node restarted,
   * and its old session is retired at once (its outstanding tasks fail as node_lost).
   */
  register(hello: NodeHello, options?: { proven?: boolean }): NodeRecord;
  /** Long poll: the next task for this node, or undefined when the window ends or `signal` aborts. */
  nextTask(hello: NodeHello, options: { signal: AbortSignal; waitMs?: number }): Promise<TaskEnvelope | undefined>;
  /** Puts back a task whose sending failed half-way (the node's stream broke). */
  requeue(nodeId: string, task: TaskEnvelope): void;
  /**
   * Checks a reply's head before its parameter bytes are read (same checks as `deliver`, plus the reply
   * kind and a train reply's tensors against the model sent) and returns the parameter bytes it may
   * carry. A head that cannot answer the task fails the task at once (TaskFailure) and throws.
   */
  admit(head: ReplyHead): number;
  /** Fails an admitted task whose reply stream then broke or lied (bad_reply), if still outstanding. */
  abandon(taskId: string, nodeId: string, message: string): void;
  /** Fails a task that cannot be encoded for the wire (unsendable_task): resending it would fail the same way. */
  unsendable(taskId: string, nodeId: string, message: string): void;
  /** A node's reply; throws HubError for a task that was not sent to that node, or twice. */
  deliver(reply: ReplyEnvelope): void;
  /** Marks the node alive; emits the feedback only when it concerns a task outstanding for that node. */
  feedback(f: FeedbackEnvelope): void;
  /** Queues a task for a node and resolves with its reply. */
  send(
    nodeId: string,
    body: TaskBody,
    options?: { timeoutMs?: number; signal?: AbortSignal; experiment?: string },
  ): Promise<ReplyBody>;
  nodes(): NodeRecord[];
  close(): void;
}

export interface HubOptions {
  /** Longest a poll is held open (default 30 s). */
  pollWindowMs?: number;
  /** Silence after which a node counts as lost (default 2 poll windows + 5 s). */
  lostAfterMs?: number;
  now?: () => number;
}

interface Outstanding {
  nodeId: string;
  task: TaskEnvelope;
  resolve: (body: ReplyBody) => void;
  reject: (error: Error) => void;
}

interface Waiter {
  resolve: (task: TaskEnvelope | undefined) => void;
}

export function createHub(options: HubOptions = {}): Hub {
  const pollWindowMs = options.pollWindowMs ?? 30_000;
  const lostAfterMs = options.lostAfterMs ?? 2 * pollWindowMs + 5_000;
  const now = options.now ?? Date.now;
  const emitter = new EventEmitter<HubEvents>();
  const records = new Map<string, NodeRecord>();
  const queues = new Map<string, TaskEnvelope[]>();
  const waiters = new Map<string, Waiter>();
  const polling = new Map<string, number>();
  const outstanding = new Map<string, Outstanding>();
  const answered = new Set<string>();
  const receiving = new Set<string>(); // admitted replies whose bytes are still arriving
  let closed = false;

  const sweep = setInterval(
    () => {
      for (const record of records.values()) {
        if (record.online && (polling.get(record.nodeId) ?? 0) === 0 && now() - record.lastSeen > lostAfterMs) {
          markLost(record);
        }
      }
    },
    Math.min(1000, Math.max(50, lostAfterMs / 4)),
  );

  function failOutstanding(record: NodeRecord, message: string): void {
    for (const [taskId, o] of outstanding) {
      if (o.nodeId === record.nodeId) {
        outstanding.delete(taskId);
        o.reject(new TaskFailure("node_lost", message));
      }
    }
  }

  function markLost(record: NodeRecord): void {
    record.online = false;
    failOutstanding(record, `Node ${record.name} (${record.nodeId}) stopped responding`);
    queues.delete(record.nodeId);
    emitter.emit("node", { state: "lost", node: { ...record } });
  }

  function touch(nodeId: string): void {
    const record = records.get(nodeId);
    if (record) record.lastSeen = now();
  }

  function register(hello: NodeHello, proven = false): NodeRecord {
    const existing = records.get(hello.nodeId);
    if (existing?.online && existing.sessionId !== hello.sessionId && proven) {
      failOutstanding(existing, `Node ${existing.name} (${existing.nodeId}) restarted`);
      waiters.get(hello.nodeId)?.resolve(undefined);
      Object.assign(existing, hello, { lastSeen: now() });
      return existing;
    }
    if (existing?.online && existing.sessionId !== hello.sessionId) {
      throw new HubError(
        "identity_in_use",
        `Node id ${hello.nodeId} is already connected from another process (${existing.name}); each node needs its own home (fbm-node init)`,
      );
    }
    if (existing?.online) {
      existing.lastSeen = now();
      return existing;
    }
    const record: NodeRecord = { ...hello, online: true, connectedAt: now(), lastSeen: now() };
    records.set(hello.nodeId, record);
    emitter.emit("node", { state: "connected", node: { ...record } });
    return record;
  }

  function answerable(reply: { taskId: string; nodeId: string }): Outstanding {
    const o = outstanding.get(reply.taskId);
    if (!o) {
      if (answered.has(reply.taskId))
        throw new HubError("duplicate_reply", `Task ${reply.taskId} was already answered`);
      throw new HubError("unknown_task", `No task ${reply.taskId} is waiting for a reply`);
    }
    if (o.nodeId !== reply.nodeId) {
      throw new HubError("wrong_node", `Task ${reply.taskId} was not sent to node ${reply.nodeId}`);
    }
    return o;
  }

  /** Takes a task out of the outstanding set as answered; the caller resolves or rejects it. */
  function settle(taskId: string, o: Outstanding): Outstanding {
    outstanding.delete(taskId);
    receiving.delete(taskId);
    answered.add(taskId);
    return o;
  }

  const hub = Object.assign(emitter, {
    register(hello: NodeHello, opts: { proven?: boolean } = {}): NodeRecord {
      if (closed) throw new HubError("closed", "The researcher is shutting down");
      return { ...register(hello, opts.proven === true) };
    },

    async nextTask(
      hello: NodeHello,
      opts: { signal: AbortSignal; waitMs?: number },
    ): Promise<TaskEnvelope | undefined> {
      if (closed) throw new HubError("closed", "The researcher is shutting down");
      register(hello);
      const queue = queues.get(hello.nodeId);
      if (queue?.length) return queue.shift();
      const waitMs = Math.min(opts.waitMs ?? pollWindowMs, pollWindowMs);
      polling.set(hello.nodeId, (polling.get(hello.nodeId) ?? 0) + 1);
      try {
        return await new Promise<TaskEnvelope | undefined>((resolve) => {
          const finish = (task: TaskEnvelope | undefined) => {
            clearTimeout(timer);
            opts.signal.removeEventListener("abort", onAbort);
            if (waiters.get(hello.nodeId) === waiter) waiters.delete(hello.nodeId);
            resolve(task);
          };
          const waiter: Waiter = { resolve: finish };
          const onAbort = () => finish(undefined);
          const timer = setTimeout(() => finish(undefined), waitMs);
          waiters.get(hello.nodeId)?.resolve(undefined);
          waiters.set(hello.nodeId, waiter);
          opts.signal.addEventListener("abort", onAbort, { once: true });
        });
      } finally {
        polling.set(hello.nodeId, (polling.get(hello.nodeId) ?? 1) - 1);
        touch(hello.nodeId);
      }
    },

    requeue(nodeId: string, task: TaskEnvelope): void {
      if (!outstanding.has(task.taskId)) return;
      const queue = queues.get(nodeId) ?? [];
      queue.unshift(task);
      queues.set(nodeId, queue);
    },

    admit(head: ReplyHead): number {
      const o = answerable(head);
      // One stream per task: a second one while the first is arriving would double the memory held.
      if (receiving.has(head.taskId))
        throw new HubError("duplicate_reply", `A reply to task ${head.taskId} is already arriving`);
      const problem = headProblem(o.task.body, head);
      if (problem) {
        settle(head.taskId, o).reject(new TaskFailure(problem.code, problem.message));
        throw new HubError("invalid_reply", `Task ${head.taskId} cannot take this reply: ${problem.message}`);
      }
      touch(head.nodeId);
      receiving.add(head.taskId);
      return o.task.body.kind === "train" ? toParamsHeader(o.task.body.params).totalBytes : 0;
    },

    abandon(taskId: string, nodeId: string, message: string): void {
      const o = outstanding.get(taskId);
      if (o?.nodeId === nodeId) settle(taskId, o).reject(new TaskFailure("bad_reply", message));
    },

    unsendable(taskId: string, nodeId: string, message: string): void {
      const o = outstanding.get(taskId);
      if (o?.nodeId === nodeId) settle(taskId, o).reject(new TaskFailure("unsendable_task", message));
    },

    deliver(reply: ReplyEnvelope): void {
      const o = answerable(reply);
      touch(reply.nodeId);
      settle(reply.taskId, o).resolve(reply.body);
    },

    feedback(f: FeedbackEnvelope): void {
      touch(f.nodeId);
      // Progress counts only for a task this node is working on; anything else is dropped.
      if (outstanding.get(f.taskId)?.nodeId === f.nodeId) emitter.emit("feedback", f);
    },

    send(
      nodeId: string,
      body: TaskBody,
      opts: { timeoutMs?: number; signal?: AbortSignal; experiment?: string } = {},
    ): Promise<ReplyBody> {
      const record = records.get(nodeId);
      if (!record?.online) return Promise.reject(new TaskFailure("node_lost", `Node ${nodeId} is not connected`));
      const task: TaskEnvelope = { taskId: randomUUID(), experiment: opts.experiment ?? "", body };
      return new Promise<ReplyBody>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const cleanup = () => {
          if (timer) clearTimeout(timer);
          receiving.delete(task.taskId);
          opts.signal?.removeEventListener("abort", onAbort);
          const queue = queues.get(nodeId);
          if (queue)
            queues.set(
              nodeId,
              queue.filter((t) => t.taskId !== task.taskId),
            );
        };
        const fail = (error: Error) => {
          if (!outstanding.delete(task.taskId)) return;
          cleanup();
          reject(error);
        };
        const onAbort = () => fail(new TaskFailure("aborted", "Stopped"));
        outstanding.set(task.taskId, {
          nodeId,
          task,
          resolve: (reply) => {
            cleanup();
            resolve(reply);
          },
          reject: (error) => {
            cleanup();
            reject(error);
          },
        });
        if (opts.timeoutMs) {
          timer = setTimeout(
            () =>
              fail(
                new TaskFailure(
                  "timeout",
                  `Node ${record.name} did not answer within ${Math.round(opts.timeoutMs! / 1000)} s`,
                ),
              ),
            opts.timeoutMs,
          );
        }
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        const waiter = waiters.get(nodeId);
        if (waiter) waiter.resolve(task);
        else queues.set(nodeId, [...(queues.get(nodeId) ?? []), task]);
      });
    },

    nodes(): NodeRecord[] {
      return [...records.values()].map((r) => ({ ...r }));
    },

    close(): void {
      closed = true;
      clearInterval(sweep);
      for (const w of waiters.values()) w.resolve(undefined);
      waiters.clear();
      for (const [taskId, o] of outstanding) {
        outstanding.delete(taskId);
        o.reject(new TaskFailure("aborted", "The researcher is shutting down"));
      }
    },
  });
  return hub as Hub;
}
