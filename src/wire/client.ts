import { create } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { GetTaskRequestSchema, ResearcherService } from "../gen/fbm/v1/researcher_pb.js";
import { encodeFeedback } from "./feedback-codec.js";
import type { FeedbackEnvelope, ReplyEnvelope, TaskEnvelope } from "./messages.js";
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
  reply(reply: ReplyEnvelope, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<void>;
  /** Sends progress or a heartbeat; `cancel`: the researcher no longer awaits this task, the node stops it. */
  feedback(feedback: FeedbackEnvelope, options?: { signal?: AbortSignal }): Promise<{ cancel: boolean }>;
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
 * Sets `reading.ended` once the stream has ended.
 */
async function* watched<T>(
  chunks: AsyncIterator<T>,
  silentMs: number,
  cancel: AbortController,
  reading: { ended: boolean },
): AsyncGenerator<T> {
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        cancel.abort();
        reject(new Error(`The researcher sent nothing for ${(silentMs / 1000).toFixed(silentMs < 10_000 ? 1 : 0)} s`));
      }, silentMs);
    });
    let next: IteratorResult<T>;
    try {
      next = await Promise.race([chunks.next(), silent]);
    } finally {
      clearTimeout(timer);
    }
    if (next.done) {
      reading.ended = true;
      return;
    }
    yield next.value;
  }
}

async function* encodeReplyAsync(reply: ReplyEnvelope) {
  yield* encodeReply(reply);
}
