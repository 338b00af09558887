import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  GetTaskRequestSchema,
  ResearcherService,
  type SessionRequest,
  SessionRequestSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import type { ExperimentBuffers } from "./buffer-pool.js";
import { encodeFeedback } from "./feedback-codec.js";
import type { FeedbackEnvelope, ReplyEnvelope, TaskEnvelope } from "./messages.js";
import { readAhead } from "./read-ahead.js";
import { encodeReply } from "./reply-codec.js";
import { decodeTask, decodeTasks } from "./task-codec.js";

/** The node's view of the researcher, in plain types. */
export interface ResearcherClient {
  /** One long poll: the next task, or undefined when the window ended without one. */
  getTask(
    hello: { nodeId: string; name: string; sessionId: string; version: string; waitSeconds: number },
    options: { signal?: AbortSignal; maxBytes?: number; onOpen?: () => void },
  ): Promise<TaskEnvelope | undefined>;
  /**
   * A kept-open poll: each task as it arrives, until the researcher ends the stream after a poll window
   * without a task. The stream is read only between tasks (while the caller runs one, the next waits).
   */
  tasks(
    hello: { nodeId: string; name: string; sessionId: string; version: string; waitSeconds: number },
    options: {
      signal?: AbortSignal;
      maxBytes?: number;
      onOpen?: () => void;
      /** Longest wait for the researcher's next chunk before giving up on the call (default: waitSeconds + 60 s). */
      silentMs?: number;
    },
  ): AsyncGenerator<TaskEnvelope>;
  /**
   * One Session call for both directions (issue 29): tasks come as from `tasks` (the researcher keeps
   * the call open for good, with an empty keep-alive chunk every poll window), and each reply goes up
   * the same call with `reply`. A researcher that does not serve Session fails the call with
   * Code.Unimplemented before any task: the caller then uses `tasks` and `reply`.
   */
  session(
    hello: { nodeId: string; name: string; sessionId: string; version: string; waitSeconds: number },
    options: {
      signal?: AbortSignal;
      maxBytes?: number;
      onOpen?: () => void;
      silentMs?: number;
      /**
       * Where the tasks' parameters are assembled (buffer-pool.ts): the caller gives each task's buffer
       * back once nothing reads its tensors and its reply's bytes have left (see the poll loop's `taskBuffers`).
       */
      buffers?: ExperimentBuffers;
    },
  ): TaskSession;
  reply(reply: ReplyEnvelope, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<void>;
  /** Sends progress or a heartbeat; `cancel`: the researcher no longer awaits this task, the node stops it. */
  feedback(feedback: FeedbackEnvelope, options?: { signal?: AbortSignal }): Promise<{ cancel: boolean }>;
}

/** An open Session: its tasks, and the way its replies go back. */
export interface TaskSession {
  tasks: AsyncGenerator<TaskEnvelope>;
  /**
   * Resolves once the reply's last chunk is handed to the call (the researcher acknowledges nothing);
   * rejects as soon as the call ends or breaks, also while the caller is not reading `tasks`.
   */
  reply(reply: ReplyEnvelope): Promise<void>;
}

export function createResearcherClient(transport: Transport): ResearcherClient {
  const client = createClient(ResearcherService, transport);
  return {
    async getTask(hello, options) {
      const request = pollRequest(hello, false);
      // The researcher holds the call for up to waitSeconds; allow margin for the task's own transfer.
      const cancel = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, cancel.signal]) : cancel.signal;
      const stream = client.getTask(request, { signal, timeoutMs: (hello.waitSeconds + 600) * 1000 });
      try {
        return await decodeTask(stream, { maxBytes: options.maxBytes, onOpen: options.onOpen });
      } catch (error) {
        // Decoding stopped half-way: cancel the call and read once more, which is when Connect
        // releases it (and its deadline timer, which would otherwise hold the process for 10 minutes).
        cancel.abort();
        await stream[Symbol.asyncIterator]()
          .next()
          .catch(() => undefined);
        throw error;
      }
    },
    async *tasks(hello, options) {
      const request = pollRequest(hello, true);
      const cancel = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, cancel.signal]) : cancel.signal;
      // No deadline on the whole call (it lasts as long as tasks keep coming): instead the researcher
      // must send something within its poll window (plus margin) whenever the node is waiting to read.
      const chunks = client.getTask(request, { signal })[Symbol.asyncIterator]();
      const reading = { ended: false };
      try {
        const silentMs = options.silentMs ?? (hello.waitSeconds + 60) * 1000;
        yield* decodeTasks(watched(chunks, silentMs, cancel, reading), {
          maxBytes: options.maxBytes,
          onOpen: options.onOpen,
        });
      } finally {
        // Reading stopped before the stream's end: cancel the call and read once more, which is when Connect releases it.
        if (!reading.ended) {
          cancel.abort();
          await chunks.next().catch(() => undefined);
        }
      }
    },
    session(hello, options) {
      const requests = createRequestQueue();
      // Nobody waits for the hello to go: a call that never opens fails its tasks instead.
      requests
        .push(create(SessionRequestSchema, { part: { case: "hello", value: pollRequest(hello, true) } }))
        .catch(() => undefined);
      const cancel = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, cancel.signal]) : cancel.signal;
      // The call's end is read as it happens, also while the node runs a task and reads no task chunk:
      // it fails the replies still queued on the call at once (read-ahead.ts says why that matters).
      const chunks = readAhead(client.session(requests.iterable, { signal })[Symbol.asyncIterator](), {
        keepReading: (chunk) => chunk.part.case === undefined,
        onEnd: () => requests.close(),
      });
      const silentMs = options.silentMs ?? (hello.waitSeconds + 60) * 1000;
      async function* tasks(): AsyncGenerator<TaskEnvelope> {
        try {
          yield* decodeTasks(watched(chunks, silentMs, cancel, { ended: false }), {
            maxBytes: options.maxBytes,
            onOpen: options.onOpen,
            buffers: options.buffers,
          });
        } finally {
          requests.close();
          if (!chunks.ended) {
            cancel.abort();
            await chunks.settle();
          }
        }
      }
      return {
        tasks: tasks(),
        async reply(reply) {
          const pushed: Promise<void>[] = [];
          for (const chunk of encodeReply(reply))
            pushed.push(requests.push(create(SessionRequestSchema, { part: { case: "reply", value: chunk } })));
          pushed.push(requests.push(create(SessionRequestSchema, { part: { case: "replyEnd", value: {} } })));
          await Promise.all(pushed);
        },
      };
    },
    async reply(reply, options = {}) {
      await client.replyTask(encodeReplyAsync(reply), { signal: options.signal, timeoutMs: options.timeoutMs });
    },
    async feedback(feedback, options = {}) {
      const response = await client.feedback(encodeFeedback(feedback), { signal: options.signal, timeoutMs: 10_000 });
      return { cancel: response.cancel };
    },
  };
}

function pollRequest(
  hello: { nodeId: string; name: string; sessionId: string; version: string; waitSeconds: number },
  keepOpen: boolean,
) {
  return create(GetTaskRequestSchema, {
    nodeId: hello.nodeId,
    nodeName: hello.name,
    sessionId: hello.sessionId,
    version: hello.version,
    waitSeconds: hello.waitSeconds,
    keepOpen,
  });
}

/**
 * The stream's chunks, failing when one takes longer than `silentMs` to arrive while being waited for
 * (a researcher that stopped sending mid-stream); time spent by the reader between chunks is not counted.
 * Sets `reading.ended` once the stream has ended. One timer watches the whole stream: each wait notes
 * when it began, and the timer, when it fires, fails a wait that has lasted `silentMs` or sleeps until
 * the current one would have (it is not re-armed while nobody waits). A chunk then costs a timestamp,
 * not a timer set and cleared: a task's 1 MiB chunks reach here as ~64 pieces each (task-download.ts),
 * and setting and clearing a timer per piece took 36 ms of a 170 MiB transfer's profile.
 */
async function* watched<T>(
  chunks: AsyncIterator<T>,
  silentMs: number,
  cancel: AbortController,
  reading: { ended: boolean },
): AsyncGenerator<T> {
  let waitingSince = -1; // performance.now() when the current wait began; -1 while nobody waits
  let failWait: ((error: Error) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    timer = undefined;
    if (waitingSince < 0) return; // the next wait arms it again
    const waited = performance.now() - waitingSince;
    if (waited < silentMs) {
      timer = setTimeout(check, silentMs - waited);
      return;
    }
    cancel.abort();
    failWait?.(new Error(`The researcher sent nothing for ${(silentMs / 1000).toFixed(silentMs < 10_000 ? 1 : 0)} s`));
  };
  try {
    for (;;) {
      waitingSince = performance.now();
      timer ??= setTimeout(check, silentMs);
      const next = await new Promise<IteratorResult<T>>((resolve, reject) => {
        failWait = reject;
        chunks.next().then(resolve, reject);
      });
      waitingSince = -1;
      failWait = undefined;
      if (next.done) {
        reading.ended = true;
        return;
      }
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

async function* encodeReplyAsync(reply: ReplyEnvelope) {
  yield* encodeReply(reply);
}

/**
 * The requests of a Session call: pushed by the node, pulled by the transport as it writes them. A
 * push resolves once its message is pulled (so a reply's caller waits while flow control holds it), or
 * rejects once the call is over.
 */
function createRequestQueue() {
  const queue: { message: SessionRequest; taken: () => void; dropped: (e: Error) => void }[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const over = () => new Error("The session with the researcher ended");
  return {
    push(message: SessionRequest): Promise<void> {
      if (closed) return Promise.reject(over());
      return new Promise<void>((taken, dropped) => {
        queue.push({ message, taken, dropped });
        wake?.();
      });
    },
    close() {
      closed = true;
      for (const q of queue.splice(0)) q.dropped(over());
      wake?.();
    },
    iterable: (async function* () {
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            next.taken();
            yield next.message;
            continue;
          }
          if (closed) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        closed = true;
        for (const q of queue.splice(0)) q.dropped(over());
      }
    })(),
  };
}

/** The researcher does not serve that call (an older researcher, asked for a Session). */
export function isUnimplemented(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unimplemented;
}
