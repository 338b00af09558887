import { randomUUID } from "node:crypto";
import { setTimeout as wait } from "node:timers/promises";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/log.js";
import { type ExperimentBuffers, leaseOf } from "../../wire/buffer-pool.js";
import {
  type FeedbackBody,
  isUnimplemented,
  type ReplyBody,
  type ReplyEnvelope,
  type ResearcherClient,
  type TaskEnvelope,
  UnreadableTaskError,
} from "../../wire/index.js";
import type { StatusRecorder } from "./node-status.js";
import { cancelledReply, createRunningTask, type RunningTask, type TaskCancelled, taskLabel } from "./task-cancel.js";

/**
 * The node's main loop: poll the researcher for a task, run it, reply, poll again. When the
 * researcher is unreachable it retries with capped exponential backoff and says so once per outage.
 */

export interface TaskContext {
  /** Aborted when the node stops or the task is cancelled (its reason is then a TaskCancelled). */
  signal: AbortSignal;
  /** Best-effort progress/log to the researcher; never throws. */
  feedback: (body: FeedbackBody) => void;
  /**
   * Present when a train task's parameters were received into a buffer kept between rounds (the poll
   * loop's `taskBuffers`): call it once their values have been copied into memory the executor owns and
   * nothing will read the task's tensors again, the reply included; the next round is then received into
   * the same buffer. Never called (any path that may keep a view: tfjs, an echo of the task's tensors,
   * secure aggregation, SCAFFOLD, central DP), the buffer is adopted out of the pool when the task ends.
   */
  paramsCopied?: () => void;
}

export type TaskExecutor = (task: TaskEnvelope, context: TaskContext) => Promise<ReplyBody>;

export interface PollLoopOptions {
  client: ResearcherClient;
  researcherUrl: string;
  nodeId: string;
  name: string;
  version: string;
  execute: TaskExecutor;
  signal: AbortSignal;
  log: (line: string) => void;
  waitSeconds?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** How the loop waits between attempts (tests record the delays); default a timer the signal ends. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How often a running task says it is alive (default 10 s; the researcher's loss timeout is ~65 s). */
  heartbeatMs?: number;
  /**
   * How long a running task's feedback may keep failing before the node gives the researcher up and
   * cancels the task (default LOST_RESEARCHER_MS, the researcher's own window for a silent node).
   */
  lostResearcherMs?: number;
  /** The running task, for cancels from outside the loop (the operator's; see cancel-request.ts). */
  running?: RunningTask;
  maxParamBytes?: number;
  /** This process's session id (default: a new random one); the transport signs it into every call. */
  sessionId?: string;
  /** Applied to every text sent to the researcher (error replies, log feedback); see redact.ts. */
  redact?: (message: string) => string;
  /**
   * Warnings (failed tasks, lost researcher) go here when given: a failure repeated on every poll
   * (a plan awaiting approval) is then logged once, then at most once a minute. Default: `log`.
   */
  logger?: Pick<Logger, "warn" | "throttled">;
  /**
   * Open one Session call for tasks and replies (default true); false polls with GetTask and answers
   * with ReplyTask calls, as nodes before Session did, and so does a node whose researcher answers the
   * Session Unimplemented (an older one). A reply fails as soon as its Session ends, also while the task
   * runs (the client reads the call's end then, wire/read-ahead.ts), and the loop reconnects: a node
   * whose researcher is killed mid-round does not wait on a dead call.
   */
  sessions?: boolean;
  /**
   * Receive each train task's parameters into buffers kept from one round to the next
   * (wire/buffer-pool.ts, Session calls only), so the copy out of the stream goes into memory already
   * touched instead of paying a page fault per 4 KiB every round (`fbm-node serve` sets it). A task's
   * buffer goes back to the pool only when its executor calls `paramsCopied` (TaskContext); otherwise it
   * is adopted out when the task's reply has been handed over, and the next task gets a fresh one. Where
   * a task's parameter arrays flow and why each is safe: see `paramsCopied` in executors/train.ts.
   */
  taskBuffers?: ExperimentBuffers;
  /** Told what the loop is doing, for `status.json` (node-status.ts). */
  status?: Pick<StatusRecorder, "connected" | "taskStarted" | "feedback" | "taskEnded">;
  /**
   * Called once a task's reply has gone, while the node waits for the next task: `fbm-node serve`
   * collects its garbage there rather than during the next round's steps (idle-gc.ts).
   */
  afterTask?: () => void;
}

/** Said after a task refused for its parameter bytes (see paramBytesLimit in task-limits.ts). */
const PARAM_LIMIT_HINT =
  " (a node takes at most 8 bytes per parameter of its max_params; its operator can raise that with `fbm-node config set max_params N`)";
/**
 * Reconnect delays: doubling from ½ s and capped at 5 s (jitter included), so a node is back within
 * 5 s of the researcher starting however long it was down.
 */
export const RECONNECT_BACKOFF = { initialMs: 500, maxMs: 5_000 };

/**
 * A running task whose feedback has failed for this long is cancelled: the researcher that sent it is
 * gone (its process ended, or it has been unreachable for as long as it would wait for a silent node:
 * 2 poll windows + 5 s, see hub.ts), so nobody will take its reply.
 */
export const LOST_RESEARCHER_MS = 65_000;

/** A failure logged once is repeated at most this often while it recurs. */
export const REPEAT_EVERY_MS = 60_000;

export async function runPollLoop(options: PollLoopOptions): Promise<void> {
  const { client, signal, log } = options;
  const sessionId = options.sessionId ?? randomUUID();
  const running = options.running ?? createRunningTask();
  const backoff = options.backoff ?? RECONNECT_BACKOFF;
  const sleep = options.sleep ?? ((ms: number, until: AbortSignal) => wait(ms, undefined, { signal: until }));
  let delay = backoff.initialMs;
  let connected: boolean | undefined;
  const markConnected = () => {
    if (connected !== true) log(`Connected to researcher at ${options.researcherUrl}`);
    connected = true;
    options.status?.connected(true);
    delay = backoff.initialMs;
  };
  const hello = {
    nodeId: options.nodeId,
    name: options.name,
    sessionId,
    version: options.version,
    waitSeconds: options.waitSeconds ?? 30,
  };
  // Tasks and replies on one Session call, until a researcher says it does not serve it.
  let sessions = options.sessions ?? true;
  /** How replies travel: on the Session that brought the task, else a ReplyTask call. */
  const replyCall = (reply: ReplyEnvelope) => client.reply(reply, { timeoutMs: 600_000 });
  while (!signal.aborted) {
    try {
      const opened = { signal, maxBytes: options.maxParamBytes, onOpen: markConnected };
      if (sessions) {
        const buffers = options.taskBuffers;
        const session = client.session(hello, { ...opened, buffers });
        for await (const task of session.tasks) {
          markConnected();
          const lease =
            buffers && task.body.kind === "train" ? leaseOf(buffers.of(task.experiment), task.body.params) : undefined;
          try {
            await runTask(task, options, running, session.reply, lease && (() => void lease.release()));
          } finally {
            // Not given back by its executor: something may still hold a view of it (the reply's chunks,
            // a tfjs tensor), so the pool forgets it.
            lease?.adopt();
          }
        }
      } else {
        // One call carries task after task (keep_open) until a poll window passes without one.
        for await (const task of client.tasks(hello, opened)) {
          markConnected();
          await runTask(task, options, running, replyCall);
        }
      }
      markConnected();
    } catch (error) {
      if (signal.aborted) break;
      if (sessions && isUnimplemented(error)) {
        log("The researcher does not serve sessions (an older version): polling it with GetTask/ReplyTask calls");
        sessions = false;
        continue;
      }
      if (error instanceof UnreadableTaskError) {
        // Polling again would not make it readable: answer it, so the researcher hears why at once
        // (on a call of its own: the session ended with the error).
        await sendReply(options, replyCall, error.taskId, "task", {
          kind: "error",
          code: "invalid_input",
          message: `Cannot read the task: ${error.message}${error.message.includes("exceed the limit") ? PARAM_LIMIT_HINT : ""}`,
        });
        continue;
      }
      options.status?.connected(false);
      if (connected !== false) {
        (options.logger?.warn ?? log)(
          `Researcher at ${options.researcherUrl} is not reachable (${errorMessage(error)}); retrying with backoff up to ${backoff.maxMs / 1000} s`,
        );
      }
      connected = false;
      await sleep(Math.min(jitter(delay), backoff.maxMs), signal).catch(() => undefined); // aborted: the loop ends
      delay = Math.min(delay * 2, backoff.maxMs);
    }
  }
}

async function runTask(
  task: TaskEnvelope,
  options: PollLoopOptions,
  running: RunningTask,
  send: (reply: ReplyEnvelope) => Promise<void>,
  paramsCopied?: () => void,
): Promise<void> {
  const { client } = options;
  const { signal, end } = running.start(task.taskId, options.signal);
  const lostAfter = options.lostResearcherMs ?? LOST_RESEARCHER_MS;
  /** When this task's feedback started failing without a success since. */
  let failingSince: number | undefined;
  /** The last progress report on its way: the reply waits for it, so the researcher hears it first. */
  let lastProgress: Promise<unknown> = Promise.resolve();
  const feedback = (body: FeedbackBody) => {
    options.status?.feedback(body);
    const sent = body.kind === "log" && options.redact ? { ...body, message: options.redact(body.message) } : body;
    const call = client.feedback({ nodeId: options.nodeId, taskId: task.taskId, body: sent }).then(
      (answer) => {
        failingSince = undefined;
        if (answer.cancel) running.cancel("researcher", task.taskId);
      },
      () => {
        const now = Date.now();
        failingSince ??= now;
        if (now - failingSince >= lostAfter) running.cancel("lost researcher", task.taskId);
      },
    );
    if (body.kind === "progress") lastProgress = call;
  };
  let body: ReplyBody;
  options.status?.taskStarted(task);
  const heartbeat = setInterval(() => feedback({ kind: "heartbeat" }), options.heartbeatMs ?? 10_000);
  try {
    body = await options.execute(task, { signal, feedback, ...(paramsCopied ? { paramsCopied } : {}) });
  } catch (error) {
    body = { kind: "error", code: options.signal.aborted ? "node_stopping" : "internal", message: errorMessage(error) };
  } finally {
    clearInterval(heartbeat);
    end();
  }
  // A cancelled task answers task_cancelled even if it got to its end meanwhile: nothing of it leaves.
  const cancelled = options.signal.aborted ? undefined : cancelledReply(signal);
  if (cancelled) body = cancelled;
  options.status?.taskEnded(task, body);
  // Settles either way (its handlers catch), within the feedback call's 10-s timeout.
  await lastProgress;
  if (!cancelled) {
    await sendReply(options, send, task.taskId, task.body.kind, body);
    options.afterTask?.();
    return;
  }
  const { by } = signal.reason as TaskCancelled; // cancelledReply checked it
  const round = task.body.kind === "train" ? task.body.round : undefined;
  const label = taskLabel({ kind: task.body.kind, experiment: task.experiment, round });
  options.log(`Task ${task.taskId} (${label}) cancelled by the ${by}; polling for the next task`);
  // A researcher that cancelled it, or is gone, awaits no reply; the operator's cancel is told to the researcher.
  if (by === "operator") await sendReply(options, send, task.taskId, task.body.kind, body);
}

/** Sends a reply; an error's message is logged here in full and leaves redacted. */
async function sendReply(
  options: PollLoopOptions,
  send: (reply: ReplyEnvelope) => Promise<void>,
  taskId: string,
  kind: string,
  body: ReplyBody,
): Promise<void> {
  // The plan gate already said, once per plan and then as a reminder, which command approves it; a
  // cancel has its own line (runTask).
  if (body.kind === "error" && body.code !== "plan_not_approved" && body.code !== "task_cancelled") {
    const line = `Task ${kind} failed: ${body.message}`;
    if (options.logger) options.logger.throttled(line, REPEAT_EVERY_MS, "warn", line);
    else options.log(line);
  }
  const sent = body.kind === "error" && options.redact ? { ...body, message: options.redact(body.message) } : body;
  try {
    await send({ taskId, nodeId: options.nodeId, body: sent });
  } catch (error) {
    options.log(`Could not send the ${kind} reply: ${errorMessage(error)}`);
  }
}

function jitter(ms: number): number {
  return ms * (0.8 + Math.random() * 0.4);
}
