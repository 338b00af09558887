import { EventEmitter } from "node:events";
import { formatDuration } from "../../common/log.js";
import type {
  FeedbackEnvelope,
  ReplyBody,
  ReplyEnvelope,
  ReplyHead,
  ReplyReceiver,
  TaskBody,
  TaskEnvelope,
} from "../../wire/index.js";
import { HubError, TaskFailure } from "./hub-error.js";
import { createMailbox, type SendOptions } from "./mailbox.js";
import { type Connection, createPresence, type NodeHello, type NodeRecord } from "./presence.js";
import { headProblem, replyBytes } from "./reply-check.js";

/**
 * The researcher's switchboard, free of any transport: nodes long-poll for tasks, the runner sends
 * tasks and awaits replies. A node is online while it polls, replies or sends feedback; silent for
 * `lostAfterMs` it is lost, and its outstanding tasks fail at once instead of waiting for a timeout.
 * Two halves: node presence (presence.ts) and the task mailbox (mailbox.ts); this file joins them and
 * checks replies. Bookkeeping is O(1) per task and per node, so a round of N tasks costs O(N).
 */

export type { NodeHello, NodeRecord } from "./presence.js";

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
  /** Who takes the admitted reply's parameter bytes as they arrive, as its sender asked (`send`'s `receive`). */
  receiver(taskId: string): ReplyReceiver | undefined;
  /** Fails an admitted task whose reply stream then broke or lied (bad_reply), if still outstanding. */
  abandon(taskId: string, nodeId: string, message: string): void;
  /** Fails a task that cannot be encoded for the wire (unsendable_task): resending it would fail the same way. */
  unsendable(taskId: string, nodeId: string, message: string): void;
  /** A node's reply; throws HubError for a task that was not sent to that node, or twice. */
  deliver(reply: ReplyEnvelope): void;
  /** The node's latest proven call came on `connection` (its HTTP/2 session): see presence.ts. */
  connectedBy(nodeId: string, connection: Connection): void;
  /**
   * Counts a node as present while a stream of its own runs (its task going out, its reply coming in),
   * so a large transfer on a slow link is not mistaken for silence; call the returned function at its end.
   */
  streaming(nodeId: string): () => void;
  /**
   * Marks the node alive; emits the feedback only when it concerns a task outstanding for that node, and
   * returns whether it does: false tells the node to stop the task (the run ended or was interrupted, the
   * round timed out, the node was dropped from it), since its reply would be dropped.
   */
  feedback(f: FeedbackEnvelope): boolean;
  /** Queues a task for a node and resolves with its reply (`receive`: see SendOptions). */
  send(nodeId: string, body: TaskBody, options?: SendOptions): Promise<ReplyBody>;
  /** Copies of every node's record (O(nodes): not for per-task use; see `node`). */
  nodes(): NodeRecord[];
  /** A copy of one node's record, O(1); undefined for a node never seen. */
  node(nodeId: string): NodeRecord | undefined;
  /**
   * Whether a node is online, O(1) and without copying its record: what a roster asks of every
   * participant each time it counts them (with a copy each, 5,000 nodes spent ~12 s of the researcher's
   * CPU counting while they registered).
   */
  isOnline(nodeId: string): boolean;
  /**
   * Calls `stop` once the task is no longer outstanding (answered, failed, timed out, stopped), so a
   * stream still sending or receiving it stops holding its memory; at once for a task not outstanding.
   * Returns the undo.
   */
  onSettled(taskId: string, stop: () => void): () => void;
  close(): void;
}

export interface HubOptions {
  /** Longest a poll is held open (default 30 s). */
  pollWindowMs?: number;
  /** Silence after which a node counts as lost (default 2 poll windows + 5 s). */
  lostAfterMs?: number;
  /** Time a node whose connection closed has to call again before it counts as lost (presence.ts). */
  closedGraceMs?: number;
  /** Answered task ids remembered to tell a duplicate reply from an unknown one (default 65,536). */
  answeredMemory?: number;
  now?: () => number;
  /** Warnings: a node id that keeps opening new sessions (see presence.ts `onRestartLoop`). */
  log?: (line: string) => void;
  /** New sessions within a window that make a restart loop (default 5 in 10 minutes). */
  restartLoop?: { count: number; windowMs: number };
}

export function createHub(options: HubOptions = {}): Hub {
  const pollWindowMs = options.pollWindowMs ?? 30_000;
  const lostAfterMs = options.lostAfterMs ?? 2 * pollWindowMs + 5_000;
  const emitter = new EventEmitter<HubEvents>();
  const mailbox = createMailbox({ answeredMemory: options.answeredMemory });
  const presence = createPresence({
    lostAfterMs,
    closedGraceMs: options.closedGraceMs,
    now: options.now ?? Date.now,
    onConnected: (record) => emitter.emit("node", { state: "connected", node: { ...record } }),
    onLost(record) {
      mailbox.dropNode(
        record.nodeId,
        () => new TaskFailure("node_lost", `Node ${record.name} (${record.nodeId}) stopped responding`),
      );
      emitter.emit("node", { state: "lost", node: { ...record } });
    },
    onRestart: (record) =>
      mailbox.dropNode(
        record.nodeId,
        () => new TaskFailure("node_lost", `Node ${record.name} (${record.nodeId}) restarted`),
      ),
    restartLoop: options.restartLoop,
    onRestartLoop: (record, count, windowMs) =>
      options.log?.(
        `Warning: node ${record.nodeId} (${record.name}) opened ${count} new sessions within ${formatDuration(windowMs)}, ` +
          "each retiring the last one's tasks: look for a node restarting in a loop, or two homes sharing one identity",
      ),
  });
  let closed = false;

  const refuseWhenClosed = () => {
    if (closed) throw new HubError("closed", "The researcher is shutting down");
  };

  const hub = Object.assign(emitter, {
    register(hello: NodeHello, opts: { proven?: boolean } = {}): NodeRecord {
      refuseWhenClosed();
      return { ...presence.register(hello, opts.proven === true) };
    },

    async nextTask(
      hello: NodeHello,
      opts: { signal: AbortSignal; waitMs?: number },
    ): Promise<TaskEnvelope | undefined> {
      refuseWhenClosed();
      presence.register(hello, false);
      const release = presence.hold(hello.nodeId);
      try {
        return await mailbox.next(hello.nodeId, {
          signal: opts.signal,
          waitMs: Math.min(opts.waitMs ?? pollWindowMs, pollWindowMs),
        });
      } finally {
        release();
      }
    },

    requeue(nodeId: string, task: TaskEnvelope): void {
      mailbox.requeue(nodeId, task);
    },

    admit(head: ReplyHead): number {
      const o = mailbox.answerable(head);
      // One stream per task: a second one while the first is arriving would double the memory held.
      if (o.receiving) throw new HubError("duplicate_reply", `A reply to task ${head.taskId} is already arriving`);
      const problem = headProblem(o.task.body, head);
      if (problem) {
        mailbox.settle(head.taskId, { failure: new TaskFailure(problem.code, problem.message) });
        throw new HubError("invalid_reply", `Task ${head.taskId} cannot take this reply: ${problem.message}`);
      }
      presence.touch(head.nodeId);
      o.receiving = true;
      return o.task.body.kind === "train" ? replyBytes(o.task.body) : 0;
    },

    receiver(taskId: string): ReplyReceiver | undefined {
      return mailbox.get(taskId)?.receive;
    },

    abandon(taskId: string, nodeId: string, message: string): void {
      if (mailbox.get(taskId)?.nodeId === nodeId)
        mailbox.settle(taskId, { failure: new TaskFailure("bad_reply", message) });
    },

    unsendable(taskId: string, nodeId: string, message: string): void {
      if (mailbox.get(taskId)?.nodeId === nodeId)
        mailbox.settle(taskId, { failure: new TaskFailure("unsendable_task", message) });
    },

    deliver(reply: ReplyEnvelope): void {
      mailbox.answerable(reply);
      presence.touch(reply.nodeId);
      mailbox.settle(reply.taskId, { reply: reply.body });
    },

    /** The node's latest proven call came on `connection` (its HTTP/2 session). */
    connectedBy(nodeId: string, connection: Connection): void {
      presence.connectedBy(nodeId, connection);
    },

    streaming(nodeId: string): () => void {
      return presence.hold(nodeId);
    },

    feedback(f: FeedbackEnvelope): boolean {
      presence.touch(f.nodeId);
      // Progress counts only for a task this node is working on; anything else is dropped.
      if (mailbox.get(f.taskId)?.nodeId !== f.nodeId) return false;
      emitter.emit("feedback", f);
      return true;
    },

    send(nodeId: string, body: TaskBody, opts: SendOptions = {}): Promise<ReplyBody> {
      const record = presence.get(nodeId);
      if (!record?.online) return Promise.reject(new TaskFailure("node_lost", `Node ${nodeId} is not connected`));
      const seconds = Math.round((opts.timeoutMs ?? 0) / 1000);
      return mailbox.send(nodeId, body, {
        ...opts,
        timeoutMessage: `Node ${record.name} did not answer within ${seconds} s`,
      });
    },

    nodes(): NodeRecord[] {
      return [...presence.records()].map((r) => ({ ...r }));
    },

    node(nodeId: string): NodeRecord | undefined {
      const record = presence.get(nodeId);
      return record && { ...record };
    },

    isOnline(nodeId: string): boolean {
      return presence.get(nodeId)?.online === true;
    },

    onSettled(taskId: string, stop: () => void): () => void {
      const entry = mailbox.get(taskId);
      if (entry) return entry.onSettled(stop);
      stop();
      return () => {};
    },

    close(): void {
      closed = true;
      presence.close();
      mailbox.close(() => new TaskFailure("aborted", "The researcher is shutting down"));
    },
  });
  return hub as Hub;
}
