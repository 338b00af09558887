import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { decodeFeedback, decodeReply, encodeTask, pollAccepted, ResearcherService, WireError, type TaskEnvelope } from "../wire/index.js";
import { HubError, type HubErrorReason } from "./hub-error.js";
import type { Hub } from "./hub.js";

/** Thin Connect edge over the hub: translate, check, log, delegate. */

export interface ServiceOptions {
  /** Largest parameter payload accepted in one reply (default 2 GiB). */
  maxParamBytes?: number;
  log?: (line: string) => void;
  /** Sees every reply and feedback a node sent, decoded (an audit trail: `--trace`). */
  onReceived?: (message: { rpc: "ReplyTask" | "Feedback"; value: unknown }) => void;
}

const codeOf: Record<HubErrorReason, Code> = {
  unknown_task: Code.NotFound,
  wrong_node: Code.PermissionDenied,
  duplicate_reply: Code.AlreadyExists,
  identity_in_use: Code.AlreadyExists,
  closed: Code.Unavailable,
};

function toConnectError(error: unknown, log?: (line: string) => void): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof HubError) return new ConnectError(error.message, codeOf[error.reason]);
  if (error instanceof WireError) return new ConnectError(error.message, Code.InvalidArgument);
  log?.(`internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  return new ConnectError("Internal error", Code.Internal);
}

function requireId(value: string, what: string): void {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(value)) {
    throw new ConnectError(`Invalid ${what} "${value.slice(0, 40)}"`, Code.InvalidArgument);
  }
}

export function createResearcherService(hub: Hub, options: ServiceOptions = {}): ServiceImpl<typeof ResearcherService> {
  const maxBytes = options.maxParamBytes ?? 2 ** 31;
  return {
    async *getTask(req, ctx) {
      requireId(req.nodeId, "node id");
      let task: TaskEnvelope | undefined;
      try {
        const hello = { nodeId: req.nodeId, name: req.nodeName || req.nodeId, sessionId: req.sessionId, version: req.version };
        hub.register(hello);
        yield pollAccepted();
        task = await hub.nextTask(hello, { signal: ctx.signal, waitMs: req.waitSeconds ? req.waitSeconds * 1000 : undefined });
      } catch (error) {
        throw toConnectError(error, options.log);
      }
      if (!task) return;
      let sent = false;
      try {
        yield* encodeTask(task);
        sent = true;
      } finally {
        if (!sent) hub.requeue(req.nodeId, task);
      }
    },

    async replyTask(requests) {
      try {
        const reply = await decodeReply(requests, { maxBytes });
        options.onReceived?.({ rpc: "ReplyTask", value: reply });
        hub.deliver(reply);
        return {};
      } catch (error) {
        throw toConnectError(error, options.log);
      }
    },

    async feedback(req) {
      const feedback = decodeFeedback(req);
      options.onReceived?.({ rpc: "Feedback", value: feedback });
      if (feedback) hub.feedback(feedback);
      return {};
    },
  };
}
