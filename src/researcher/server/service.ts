import { constants as h2, type ServerHttp2Stream } from "node:http2";
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { errorMessage, errorStack } from "../../common/errors.js";
import {
  checkSeal,
  createNonceGuard,
  decodeFeedback,
  decodeReply,
  encodeTask,
  FeedbackRequestSchema,
  type GetTaskRequest,
  GetTaskRequestSchema,
  type NonceGuard,
  pollAccepted,
  type ReplyChunk,
  type ResearcherService,
  type SessionRequest,
  SessionRequestSchema,
  type SignedCaller,
  sessionReplyNonce,
  type TaskEnvelope,
  taskEnd,
  verifySignature,
  WAITING_WINDOW_BYTES,
  WireError,
  WireLimitError,
  widenWhileAdmitted,
} from "../../wire/index.js";
import type { Hub } from "./hub.js";
import { HubError, type HubErrorReason } from "./hub-error.js";
import type { KeyBindings } from "./key-bindings.js";
import { type NodeAuthenticator, peerKey } from "./node-auth.js";
import { createRefusals, type Refusals } from "./refusals.js";
import { createTransferBudget, type TransferBudget } from "./transfer-budget.js";

/**
 * The HTTP/2 stream under a call (set by server.ts): cancelling it is the one way to stop a call
 * whose peer stopped reading or writing, since a handler blocked on flow control never resumes.
 */
export const httpStreamKey = createContextKey<Pick<ServerHttp2Stream, "close" | "session"> | undefined>(undefined, {
  description: "fbm http2 stream",
});

/** Cancels the call's HTTP/2 stream once `signal` aborts (its task settled); returns the undo. */
function cancelOn(ctx: HandlerContext, signal: AbortSignal): () => void {
  const stream = ctx.values.get(httpStreamKey);
  if (!stream) return () => {};
  const cancel = () => stream.close(h2.NGHTTP2_CANCEL);
  if (signal.aborted) {
    cancel();
    return () => {};
  }
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

/**
 * A kept-open stream ends after a task carrying more parameter bytes than this. Its Connect and HTTP/2
 * stream keep buffers of what they carried alive while they stay open (measured at 100 nodes × 1M
 * parameters: ~1.2 GiB peak against ~0.8 GiB when each call ended); beside megabytes of parameters,
 * the node's next poll call costs nothing.
 */
const KEEP_OPEN_MAX_BYTES = 1 << 20;

/** How long a poll may wait, as the node asked (the hub caps it at its window). */
function waitOf(req: GetTaskRequest): number | undefined {
  return req.waitSeconds ? req.waitSeconds * 1000 : undefined;
}

/**
 * One reply's chunks on a Session: `first`, then whatever follows up to its ReplyEnd (consumed, not
 * yielded; `reading.ended` then set). A hello inside, or a session closed inside a reply, is a WireError.
 */
async function* oneReply(
  first: SessionRequest,
  incoming: AsyncIterator<SessionRequest>,
  reading: { ended: boolean },
): AsyncGenerator<ReplyChunk> {
  let next: IteratorResult<SessionRequest> = { done: false, value: first };
  for (;;) {
    if (next.done) throw new WireError("The Session ended inside a reply");
    const part = next.value.part;
    if (part.case === "replyEnd") {
      reading.ended = true;
      return;
    }
    if (part.case !== "reply") throw new WireError("A Session carries something other than a reply after its hello");
    yield part.value;
    next = await incoming.next();
  }
}

function parameterBytes(task: TaskEnvelope): number {
  return task.body.kind === "train" ? task.body.params.reduce((n, t) => n + t.data.byteLength, 0) : 0;
}

/** Thin Connect edge over the hub: authenticate, translate, check, log, delegate. */

export interface ServiceOptions {
  /** Largest parameter payload accepted in one reply (default 2 GiB); train replies are held to the model's size. */
  maxParamBytes?: number;
  /** Mutual TLS: who may call, and which node id each certificate may act as. Absent: no caller checks (loopback h2c). */
  authenticator?: NodeAuthenticator;
  log?: (line: string) => void;
  /**
   * Signed requests (wire/request-signing.ts): each node id is bound to the key that first signed for
   * it. `required`: unsigned calls are refused (cleartext); else they pass (mutual TLS proves the
   * caller; in-memory tests). `authenticator` (the allow-list) is also applied to signed fingerprints.
   */
  signatures?: { bindings: KeyBindings; required: boolean; nonces?: NonceGuard };
  /** Cleartext with an allow-list: the signing key (not a TLS certificate) must be on it and own the node id. */
  signerAllowList?: NodeAuthenticator;
  /** Parameter bytes received at once across all replies (default 64 MiB); see transfer-budget.ts. */
  transfers?: TransferBudget;
  /** Signed calls refused (bad clock, bad signature), logged once per node (default: a new log over `log`). */
  refusals?: Refusals;
  /** Sees every reply and feedback a node sent, decoded (an audit trail: `--trace`). */
  onReceived?: (message: { rpc: "ReplyTask" | "Feedback"; value: unknown }) => void;
}

const codeOf: Record<HubErrorReason, Code> = {
  unknown_task: Code.NotFound,
  wrong_node: Code.PermissionDenied,
  duplicate_reply: Code.AlreadyExists,
  invalid_reply: Code.InvalidArgument,
  identity_in_use: Code.AlreadyExists,
  closed: Code.Unavailable,
};

function toConnectError(error: unknown, log?: (line: string) => void): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof HubError) return new ConnectError(error.message, codeOf[error.reason]);
  if (error instanceof WireLimitError) return new ConnectError(error.message, Code.ResourceExhausted);
  if (error instanceof WireError) return new ConnectError(error.message, Code.InvalidArgument);
  log?.(`internal error: ${errorStack(error)}`);
  return new ConnectError("Internal error", Code.Internal);
}

function requireId(value: string, what: string): void {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(value)) {
    throw new ConnectError(`Invalid ${what} "${value.slice(0, 40)}"`, Code.InvalidArgument);
  }
}

function requireText(value: string, what: string, max: number): void {
  if (value.length > max) throw new ConnectError(`The ${what} is longer than ${max} characters`, Code.InvalidArgument);
}

export function createResearcherService(hub: Hub, options: ServiceOptions = {}): ServiceImpl<typeof ResearcherService> {
  const maxBytes = options.maxParamBytes ?? 2 ** 31;
  const transfers = options.transfers ?? createTransferBudget();
  const nonces = options.signatures?.nonces ?? createNonceGuard();
  const refusals = options.refusals ?? createRefusals(options.log);
  const authorize = (ctx: HandlerContext, nodeId?: string) =>
    options.authenticator?.authorize(ctx.values.get(peerKey), nodeId);
  /** A proven call from `nodeId`: its connection closing (a killed node) then loses the node soon (presence.ts). */
  const connectedBy = (ctx: HandlerContext, nodeId: string) => {
    const session = ctx.values.get(httpStreamKey)?.session;
    if (session) hub.connectedBy(nodeId, session);
  };
  /** The signed caller, checked: signature, node id in the message, key bound to that id (and allow-listed). */
  const proveCaller = (
    ctx: HandlerContext,
    nodeId: string | undefined,
    message?: Parameters<typeof verifySignature>[2],
  ): SignedCaller | undefined => {
    const signatures = options.signatures;
    if (!signatures) return undefined;
    let caller: SignedCaller | undefined;
    try {
      caller = verifySignature(ctx.requestHeader, `/${ctx.service.typeName}/${ctx.method.name}`, message);
    } catch (error) {
      refusals.note(ctx.requestHeader, error);
      throw error;
    }
    if (!caller) {
      if (signatures.required) {
        throw new ConnectError(
          "This researcher requires signed requests: run an fbm-node of this version (it signs with the key `fbm-node init` made)",
          Code.Unauthenticated,
        );
      }
      return undefined;
    }
    nonces.use(caller.nonce);
    if (nodeId !== undefined && caller.nodeId !== nodeId) {
      throw new ConnectError(
        `The request is signed for node ${caller.nodeId} but names node ${nodeId}`,
        Code.PermissionDenied,
      );
    }
    // With an allow-list, the signing key must be on it too (and own the node id there).
    const allowList = options.authenticator ?? options.signerAllowList;
    if (allowList)
      allowList.authorize(
        { address: ctx.values.get(peerKey)?.address ?? "unknown", fingerprint: caller.fingerprint },
        caller.nodeId,
      );
    signatures.bindings.claim(caller.nodeId, caller.fingerprint);
    return caller;
  };
  /**
   * One task's chunks. A task that cannot be encoded fails now; one whose stream broke (the node went
   * away) is requeued. A task that settles meanwhile (its round timed out) cancels the stream: a node
   * that stopped reading holds neither the round nor the memory of its stream.
   */
  async function* sendTask(task: TaskEnvelope, nodeId: string, ctx: HandlerContext) {
    const chunks = encodeTask(task);
    const uncancel = cancelOn(ctx, hub.settledSignal(task.taskId));
    const present = hub.streaming(nodeId);
    let sent = false;
    try {
      for (;;) {
        let next: ReturnType<typeof chunks.next>;
        try {
          next = chunks.next();
        } catch (error) {
          sent = true; // nothing to resend
          uncancel(); // the failure below settles the task: the node must still hear why
          hub.unsendable(task.taskId, nodeId, `Cannot send the ${task.body.kind} task: ${errorMessage(error)}`);
          throw toConnectError(error, options.log);
        }
        if (next.done) break;
        yield next.value;
      }
      sent = true;
    } finally {
      uncancel();
      present();
      if (!sent) hub.requeue(nodeId, task);
    }
  }

  /** A poll's hello checked (ids, texts, caller): the signed caller, if signed. */
  function checkHello(req: GetTaskRequest, ctx: HandlerContext, prove: () => SignedCaller | undefined) {
    requireId(req.nodeId, "node id");
    requireText(req.nodeName, "node name", 200);
    requireText(req.sessionId, "session id", 128);
    authorize(ctx, req.nodeId);
    const caller = prove();
    if (caller && caller.sessionId !== req.sessionId)
      throw new ConnectError("The request's signed session is not its session", Code.PermissionDenied);
    return caller;
  }

  /** Registers the node of a checked hello; a proven caller with a new session is the node restarted. */
  function register(req: GetTaskRequest, caller: SignedCaller | undefined) {
    const hello = {
      nodeId: req.nodeId,
      name: req.nodeName || req.nodeId,
      sessionId: req.sessionId,
      version: req.version.slice(0, 64),
    };
    try {
      // A proven caller with a new session is the node restarted: its old session is retired at once.
      hub.register(hello, { proven: caller !== undefined || options.authenticator !== undefined });
    } catch (error) {
      throw toConnectError(error, options.log);
    }
    return hello;
  }

  /** One reply's chunks (a ReplyTask call's, or one reply of a Session), checked, admitted and delivered. */
  async function receiveReply(
    requests: AsyncIterable<ReplyChunk>,
    ctx: HandlerContext,
    caller: SignedCaller | undefined,
  ): Promise<void> {
    let admitted: { taskId: string; nodeId: string } | undefined;
    let release = () => {};
    let uncancel = () => {};
    let present = () => {};
    try {
      const reply = await decodeReply(checkSeal(requests, caller), {
        maxBytes,
        async admit(head) {
          requireId(head.nodeId, "node id");
          authorize(ctx, head.nodeId);
          if (caller && caller.nodeId !== head.nodeId) {
            throw new ConnectError(
              `The reply is signed for node ${caller.nodeId} but names node ${head.nodeId}`,
              Code.PermissionDenied,
            );
          }
          const limit = hub.admit(head);
          admitted = head;
          connectedBy(ctx, head.nodeId);
          present = hub.streaming(head.nodeId);
          // A node that stalls mid-stream is cut off when its task settles (the round's timeout).
          const settled = hub.settledSignal(head.taskId);
          uncancel = cancelOn(ctx, settled);
          const room = await transfers.acquire(limit, settled);
          // Its node may now send at full speed; until then it could send one narrow window. A reply
          // that fits in that window gains nothing (and two SETTINGS frames per reply cost CPU).
          const narrow =
            limit > WAITING_WINDOW_BYTES ? widenWhileAdmitted(ctx.values.get(httpStreamKey)?.session) : () => {};
          release = () => {
            narrow();
            room();
          };
          return limit;
        },
        // Whoever sent the task may take the bytes as they arrive (a round folding replies chunk by chunk).
        receive: (body, header) => (admitted ? hub.receiver(admitted.taskId)?.(body, header) : undefined),
      });
      uncancel();
      options.onReceived?.({ rpc: "ReplyTask", value: reply });
      hub.deliver(reply);
    } catch (error) {
      uncancel(); // the refusal below settles the task: the node must still hear why
      const connectError = toConnectError(error, options.log);
      // The node does not resend a reply: a stream that broke or lied after its head fails the task now.
      if (admitted) hub.abandon(admitted.taskId, admitted.nodeId, `its reply was refused: ${connectError.rawMessage}`);
      throw connectError;
    } finally {
      uncancel();
      release();
      present();
    }
  }

  /**
   * The replies of a Session, one after another: each one's chunks up to its ReplyEnd, sealed under
   * the reply's own nonce when the session is signed. Returns when the node closes its side.
   */
  async function receiveReplies(
    incoming: AsyncIterator<SessionRequest>,
    ctx: HandlerContext,
    caller: SignedCaller | undefined,
    nodeId: string,
  ): Promise<void> {
    for (let n = 1; ; n++) {
      const first = await incoming.next();
      if (first.done) return;
      const reading = { ended: false };
      const chunks = oneReply(first.value, incoming, reading);
      const sealedBy = caller && { ...caller, nonce: sessionReplyNonce(caller.nonce, n) };
      try {
        await receiveReply(chunks, ctx, sealedBy);
      } catch (error) {
        const refused = toConnectError(error, options.log);
        // A late or repeated reply (its round timed out, say) is skipped; the session goes on.
        if (refused.code !== Code.NotFound && refused.code !== Code.AlreadyExists) throw refused;
        options.log?.(`Skipped a reply of node ${nodeId}: ${refused.rawMessage}`);
        // Its remaining chunks, to its ReplyEnd (the reader stopped at the refusal).
        for (let next = reading.ended ? undefined : await incoming.next(); next; next = await incoming.next()) {
          if (next.done) return;
          if (next.value.part.case === "replyEnd") break;
        }
      }
    }
  }

  return {
    async *getTask(req, ctx) {
      const caller = checkHello(req, ctx, () =>
        proveCaller(ctx, req.nodeId, { schema: GetTaskRequestSchema, value: req }),
      );
      const hello = register(req, caller);
      connectedBy(ctx, req.nodeId);
      yield pollAccepted();
      // One task per call, or (keep_open) task after task until a poll window passes without one:
      // a node then costs one call per task it answers, not two.
      let more = true;
      while (more) {
        let task: TaskEnvelope | undefined;
        try {
          task = await hub.nextTask(hello, { signal: ctx.signal, waitMs: waitOf(req) });
        } catch (error) {
          throw toConnectError(error, options.log);
        }
        if (!task) return;
        yield* sendTask(task, req.nodeId, ctx);
        more = req.keepOpen && parameterBytes(task) <= KEEP_OPEN_MAX_BYTES;
        if (more) yield taskEnd();
      }
    },

    /**
     * Both directions on one call (issue 29): tasks go down as on a kept-open GetTask, but the call
     * stays open for good (an empty chunk every poll window keeps it alive), and the node's replies
     * come up on it, each checked as a ReplyTask call is (`receiveReply`). A reply refused as late or
     * duplicate is skipped; any other broken or refused reply ends the session with its error.
     */
    async *session(requests, ctx) {
      const incoming = requests[Symbol.asyncIterator]();
      const first = await incoming.next();
      if (first.done || first.value.part.case !== "hello")
        throw new ConnectError("A Session starts with its hello", Code.InvalidArgument);
      const opening = first.value;
      const req = opening.part.value as GetTaskRequest;
      const caller = checkHello(req, ctx, () =>
        proveCaller(ctx, req.nodeId, { schema: SessionRequestSchema, value: opening }),
      );
      const hello = register(req, caller);
      connectedBy(ctx, req.nodeId);
      yield pollAccepted();
      const ended = new AbortController();
      let failure: ConnectError | undefined;
      const replies = receiveReplies(incoming, ctx, caller, req.nodeId).catch((error: unknown) => {
        failure = toConnectError(error, options.log);
        ended.abort();
      });
      const signal = AbortSignal.any([ctx.signal, ended.signal]);
      try {
        for (;;) {
          let task: TaskEnvelope | undefined;
          try {
            task = await hub.nextTask(hello, { signal, waitMs: waitOf(req) });
          } catch (error) {
            throw toConnectError(error, options.log);
          }
          // A task taken as the session ended goes back to the node's queue for its next session.
          if (task && (failure || ctx.signal.aborted)) hub.requeue(req.nodeId, task);
          if (failure) throw failure;
          if (ctx.signal.aborted) return;
          if (task) yield* sendTask(task, req.nodeId, ctx);
          yield taskEnd();
        }
      } finally {
        ended.abort();
        void replies;
      }
    },

    async replyTask(requests, ctx) {
      authorize(ctx);
      await receiveReply(requests, ctx, proveCaller(ctx, undefined));
      return {};
    },

    async feedback(req, ctx) {
      requireId(req.nodeId, "node id");
      authorize(ctx, req.nodeId);
      proveCaller(ctx, req.nodeId, { schema: FeedbackRequestSchema, value: req });
      connectedBy(ctx, req.nodeId);
      const feedback = decodeFeedback(req);
      options.onReceived?.({ rpc: "Feedback", value: feedback });
      // A task the hub no longer awaits is cancelled on the node (an unknown feedback kind cancels nothing).
      return { cancel: feedback ? !hub.feedback(feedback) : false };
    },
  };
}
