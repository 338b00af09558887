import { randomUUID } from "node:crypto";
import { setTimeout as wait } from "node:timers/promises";
import { errorMessage } from "../common/errors.js";
import type { FeedbackBody, ReplyBody, ResearcherClient, TaskEnvelope } from "../wire/index.js";

/**
 * The node's main loop: poll the researcher for a task, run it, reply, poll again. When the
 * researcher is unreachable it retries with capped exponential backoff and says so once per outage.
 */

export interface TaskContext {
  signal: AbortSignal;
  /** Best-effort progress/log to the researcher; never throws. */
  feedback: (body: FeedbackBody) => void;
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
  /** How often a running task says it is alive (default 10 s; the researcher's loss timeout is ~65 s). */
  heartbeatMs?: number;
  maxParamBytes?: number;
}

export async function runPollLoop(options: PollLoopOptions): Promise<void> {
  const { client, signal, log } = options;
  const sessionId = randomUUID();
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30_000 };
  let delay = backoff.initialMs;
  let connected: boolean | undefined;
  const markConnected = () => {
    if (connected !== true) log(`Connected to researcher at ${options.researcherUrl}`);
    connected = true;
    delay = backoff.initialMs;
  };
  while (!signal.aborted) {
    let task: TaskEnvelope | undefined;
    try {
      task = await client.getTask(
        {
          nodeId: options.nodeId,
          name: options.name,
          sessionId,
          version: options.version,
          waitSeconds: options.waitSeconds ?? 30,
        },
        { signal, maxBytes: options.maxParamBytes, onOpen: markConnected },
      );
      markConnected();
    } catch (error) {
      if (signal.aborted) break;
      if (connected !== false) {
        log(
          `Researcher at ${options.researcherUrl} is not reachable (${errorMessage(error)}); retrying with backoff up to ${backoff.maxMs / 1000} s`,
        );
      }
      connected = false;
      await wait(jitter(delay), undefined, { signal }).catch(() => undefined); // aborted: the loop ends
      delay = Math.min(delay * 2, backoff.maxMs);
      continue;
    }
    if (task) await runTask(task, options);
  }
}

async function runTask(task: TaskEnvelope, options: PollLoopOptions): Promise<void> {
  const { client, signal, log } = options;
  const feedback = (body: FeedbackBody) => {
    client.feedback({ nodeId: options.nodeId, taskId: task.taskId, body }).catch(() => undefined);
  };
  let body: ReplyBody;
  const heartbeat = setInterval(() => feedback({ kind: "heartbeat" }), options.heartbeatMs ?? 10_000);
  try {
    body = await options.execute(task, { signal, feedback });
  } catch (error) {
    body = { kind: "error", code: signal.aborted ? "node_stopping" : "internal", message: errorMessage(error) };
  } finally {
    clearInterval(heartbeat);
  }
  if (body.kind === "error") log(`Task ${task.body.kind} failed: ${body.message}`);
  try {
    await client.reply({ taskId: task.taskId, nodeId: options.nodeId, body }, { timeoutMs: 600_000 });
  } catch (error) {
    log(`Could not send the ${task.body.kind} reply: ${errorMessage(error)}`);
  }
}

function jitter(ms: number): number {
  return ms * (0.8 + Math.random() * 0.4);
}
