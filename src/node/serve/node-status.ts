import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../common/atomic-write.js";
import type { FeedbackBody, ReplyBody, TaskEnvelope } from "../../wire/index.js";

/**
 * What a running `fbm-node serve` is doing, in `status.json` of the node home: the channel from the
 * serving process to `fbm-node gui` (another process). Written atomically, at most a few times a second.
 */
export interface NodeStatus {
  /** The serving process, and when it started; absent when the node has never served. */
  pid: number;
  startedAt: string;
  /** Updated on every write: a stale status (process gone) shows as such. */
  updatedAt: string;
  researcher: string;
  connected: boolean;
  /** The task being run now, with its latest training progress. */
  current?: {
    /** The task's id: what `fbm-node task cancel` and the GUI's Cancel button name (absent: an older node). */
    taskId?: string;
    kind: string;
    experiment: string;
    round?: number;
    startedAt: string;
    progress?: { epoch: number; step: number; totalSteps: number; loss?: number };
  };
  /** The last tasks run, newest first, with their outcome ("ok" or the error code and message). */
  recent: {
    kind: string;
    experiment: string;
    round?: number;
    endedAt: string;
    outcome: string;
    message?: string;
    /** The same refusal repeated (a plan awaiting approval is asked for every poll): how many times. */
    count?: number;
  }[];
  stopped?: boolean;
}

/** Hooks the poll loop calls; each schedules a write of `status.json`. */
export interface StatusRecorder {
  connected(yes: boolean): void;
  taskStarted(task: TaskEnvelope): void;
  feedback(body: FeedbackBody): void;
  taskEnded(task: TaskEnvelope, reply: ReplyBody): void;
  /** Marks the node stopped and writes at once. */
  close(): Promise<void>;
}

const RECENT = 20;
const WRITE_EVERY_MS = 300;

export function createStatusRecorder(path: string, options: { researcher: string }): StatusRecorder {
  const status: NodeStatus = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    updatedAt: "",
    researcher: options.researcher,
    connected: false,
    recent: [],
  };
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();
  const flush = () => {
    timer = undefined;
    status.updatedAt = new Date().toISOString();
    const text = `${JSON.stringify(status, null, 2)}\n`;
    // The status is advisory: a failed write (full disk) must not stop training.
    writing = writing.then(() => writeFileAtomic(path, text).catch(() => undefined));
  };
  const changed = () => {
    timer ??= setTimeout(flush, WRITE_EVERY_MS);
  };
  changed();
  const round = (task: TaskEnvelope) => (task.body.kind === "train" ? task.body.round : undefined);
  return {
    connected(yes) {
      if (status.connected === yes) return;
      status.connected = yes;
      changed();
    },
    taskStarted(task) {
      status.current = {
        taskId: task.taskId,
        kind: task.body.kind,
        experiment: task.experiment,
        round: round(task),
        startedAt: new Date().toISOString(),
      };
      // At once, not within WRITE_EVERY_MS: `fbm-node task cancel` reads the running task from the file.
      clearTimeout(timer);
      flush();
    },
    feedback(body) {
      if (body.kind !== "progress" || !status.current) return;
      const { epoch, step, totalSteps, loss } = body;
      status.current.progress = { epoch, step, totalSteps, ...(loss === undefined ? {} : { loss }) };
      changed();
    },
    taskEnded(task, reply) {
      status.current = undefined;
      const last = status.recent[0];
      // A refusal repeating the last one (same task kind, experiment and code) bumps its count: a plan
      // awaiting approval is asked for on every poll and would push every other task out of the list.
      if (
        reply.kind === "error" &&
        last !== undefined &&
        last.kind === task.body.kind &&
        last.experiment === task.experiment &&
        last.outcome === reply.code
      ) {
        last.count = (last.count ?? 1) + 1;
        last.endedAt = new Date().toISOString();
        last.message = reply.message;
        changed();
        return;
      }
      status.recent.unshift({
        kind: task.body.kind,
        experiment: task.experiment,
        round: round(task),
        endedAt: new Date().toISOString(),
        outcome: reply.kind === "error" ? reply.code : "ok",
        ...(reply.kind === "error" ? { message: reply.message } : {}),
      });
      status.recent.length = Math.min(status.recent.length, RECENT);
      changed();
    },
    async close() {
      if (timer) clearTimeout(timer);
      status.stopped = true;
      status.connected = false;
      status.current = undefined;
      flush();
      await writing;
    },
  };
}

/** Reads `status.json`; undefined when the node has never served or the file is unreadable. */
export async function readNodeStatus(path: string): Promise<NodeStatus | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as NodeStatus;
  } catch {
    return undefined;
  }
}
