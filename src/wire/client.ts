import { create } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { GetTaskRequestSchema, ResearcherService } from "../gen/fbm/v1/researcher_pb.js";
import { encodeFeedback } from "./feedback-codec.js";
import type { FeedbackEnvelope, ReplyEnvelope, TaskEnvelope } from "./messages.js";
import { encodeReply } from "./reply-codec.js";
import { decodeTask } from "./task-codec.js";

/** The node's view of the researcher, in plain types. */
export interface ResearcherClient {
  /** One long poll: the next task, or undefined when the window ended without one. */
  getTask(
    hello: { nodeId: string; name: string; sessionId: string; version: string; waitSeconds: number },
    options: { signal?: AbortSignal; maxBytes?: number; onOpen?: () => void },
  ): Promise<TaskEnvelope | undefined>;
  reply(reply: ReplyEnvelope, options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<void>;
  feedback(feedback: FeedbackEnvelope, options?: { signal?: AbortSignal }): Promise<void>;
}

export function createResearcherClient(transport: Transport): ResearcherClient {
  const client = createClient(ResearcherService, transport);
  return {
    async getTask(hello, options) {
      const request = create(GetTaskRequestSchema, {
        nodeId: hello.nodeId,
        nodeName: hello.name,
        sessionId: hello.sessionId,
        version: hello.version,
        waitSeconds: hello.waitSeconds,
      });
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
    async reply(reply, options = {}) {
      await client.replyTask(encodeReplyAsync(reply), { signal: options.signal, timeoutMs: options.timeoutMs });
    },
    async feedback(feedback, options = {}) {
      await client.feedback(encodeFeedback(feedback), { signal: options.signal, timeoutMs: 10_000 });
    },
  };
}

async function* encodeReplyAsync(reply: ReplyEnvelope) {
  yield* encodeReply(reply);
}
