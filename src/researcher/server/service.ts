import { constants as h2, type ServerHttp2Stream } from "node:http2";
import { Code, ConnectError, createContextKey, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { errorMessage, errorStack } from "../../common/errors.js";
import type { TaskChunk } from "../../gen/fbm/v1/researcher_pb.js";
import {
  createNonceGuard,
  createReplyIntake,
  decodeFeedback,
  encodeTask,
  FeedbackRequestSchema,
  type GetTaskRequest,
  GetTaskRequestSchema,
  type NonceGuard,
  pollAccepted,
  type ReplyChunk,
  type ReplyHead,
  type ResearcherService,
  SessionRequestSchema,
  type SessionRequestSink,
  type SessionRequestSource,
  type SignedCaller,
  sessionReplyNonce,
  sessionRequestsOf,
  type TaskEnvelope,
  taskEnd,
  verifySignature,
  WAITING_WINDOW_BYTES,
  WireError,
  widenWhileAdmitted,
  wireErrorStatus,
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

/** Cancels the call's HTTP/2 stream once task `taskId` settles (at once if it has); returns the undo. */
function cancelOn(ctx: HandlerContext, hub: Hub, taskId: string): () => void {
  const stream = ctx.values.get(httpStreamKey);
  if (!stream) return () => {};
  return hub.onSettled(taskId, () => stream.close(h2.NGHTTP2_CANCEL));
}

/** Why a reply waiting for room stops waiting: its task settled. One shared value (no stack trace per reply). */
const SETTLED = Object.freeze(new Error("The task is settled"));

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
  /** Parameter bytes received at once across all replies (default 32 MiB); see transfer-budget.ts. */
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
  const wire = wireErrorStatus(error);
  if (wire) return wire;
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

/** One reply being received: see `openReply` in createResearcherService. */
interface ReplyInProgress {
  /** A whole chunk; a promise while the reply waits for room (push nothing more until it settles). */
  chunk(chunk: ReplyChunk): Promise<void> | undefined;
  /** A piece of a data chunk as the stream delivered it (see wire's SessionRequestSink). */
  dataPiece(piece: Uint8Array, size: number, first: boolean): void;
  /** Its end: the reply is delivered to the hub. */
  end(): void;
  /** It cannot go on (its stream broke or ended inside it): fails its task if admitted; the error to end the call with. */
  fail(error: unknown): ConnectError;
}

/**
 * The service, plus the Session as server/session-stream.ts serves it over plain gRPC: its requests
 * pushed from the request body as they are parsed (wire/session-frames.ts) instead of pulled.
 */
export type ResearcherServiceImpl = ServiceImpl<typeof ResearcherService> & {
  plainSession(source: SessionRequestSource, ctx: HandlerContext): AsyncGenerator<TaskChunk>;
};

export function createResearcherService(hub: Hub, options: ServiceOptions = {}): ResearcherServiceImpl {
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
    const uncancel = cancelOn(ctx, hub, task.taskId);
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

  /**
   * One reply being received (a ReplyTask call's, or one reply of a Session): its chunks pushed as
   * they arrive (wire's createReplyIntake: no async generator per chunk), checked, admitted, and
   * delivered at its end. Any throw is a ConnectError, the reply's task failed first if it was admitted.
   */
  function openReply(ctx: HandlerContext, caller: SignedCaller | undefined): ReplyInProgress {
    let admitted: { taskId: string; nodeId: string } | undefined;
    let release = () => {};
    let uncancel = () => {};
    let present = () => {};
    let closed = false;
    const close = () => {
      closed = true;
      uncancel();
      release();
      present();
    };
    const admit = (head: ReplyHead): number | Promise<number> => {
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
      uncancel = cancelOn(ctx, hub, head.taskId);
      const admitted_ = (room: () => void) => {
        // Its node may now send at full speed; until then it could send one narrow window. A reply
        // that fits in that window gains nothing (and two SETTINGS frames per reply cost CPU).
        const narrow =
          limit > WAITING_WINDOW_BYTES ? widenWhileAdmitted(ctx.values.get(httpStreamKey)?.session) : () => {};
        release = () => {
          narrow();
          room();
        };
        return limit;
      };
      // Room at once (the usual case) needs no promise: the stream is read on without a pause.
      const room = transfers.tryAcquire(limit);
      if (room) return admitted_(room);
      // Waiting: a task that settles meanwhile (the round's timeout) stops the wait.
      const stop = new AbortController();
      const unstop = hub.onSettled(head.taskId, () => stop.abort(SETTLED));
      return transfers.acquire(limit, stop.signal).finally(unstop).then(admitted_);
    };
    const intake = createReplyIntake({
      maxBytes,
      admit,
      // Whoever sent the task may take the bytes as they arrive (a round folding replies chunk by chunk).
      receive: (body, header) => (admitted ? hub.receiver(admitted.taskId)?.(body, header) : undefined),
      caller,
    });
    const fail = (error: unknown): ConnectError => {
      const connectError = toConnectError(error, options.log);
      if (closed) return connectError;
      uncancel(); // the refusal below settles the task: the node must still hear why
      // The node does not resend a reply: a stream that broke or lied after its head fails the task now.
      if (admitted) hub.abandon(admitted.taskId, admitted.nodeId, `its reply was refused: ${connectError.rawMessage}`);
      close();
      return connectError;
    };
    const guarded = <T>(work: () => T): T => {
      try {
        return work();
      } catch (error) {
        throw fail(error);
      }
    };
    return {
      chunk: (chunk) =>
        guarded(() =>
          intake.chunk(chunk)?.catch((error: unknown) => {
            throw fail(error);
          }),
        ),
      dataPiece: (piece, size, first) => guarded(() => intake.dataPiece(piece, size, first)),
      end() {
        guarded(() => {
          const reply = intake.end();
          uncancel();
          options.onReceived?.({ rpc: "ReplyTask", value: reply });
          hub.deliver(reply);
        });
        close();
      },
      fail,
    };
  }

  /** A ReplyTask call's reply: its request stream pushed into `openReply`. */
  async function receiveReply(
    requests: AsyncIterable<ReplyChunk>,
    ctx: HandlerContext,
    caller: SignedCaller | undefined,
  ): Promise<void> {
    const reply = openReply(ctx, caller);
    try {
      for await (const chunk of requests) await reply.chunk(chunk);
    } catch (error) {
      throw reply.fail(error);
    }
    reply.end();
  }

  /**
   * The replies of a Session after its hello, taken as its requests are parsed: each one's chunks up to
   * its ReplyEnd, sealed under the reply's own nonce when the session is signed. A reply refused as
   * late or duplicate is skipped (its remaining chunks, to its ReplyEnd, are dropped) and the session
   * goes on; any other refused reply throws, which ends the session. `close` when the requests end or
   * break: a reply they cut short fails.
   */
  function sessionReplies(
    ctx: HandlerContext,
    caller: SignedCaller | undefined,
    nodeId: string,
  ): SessionRequestSink & { close(error?: unknown): void } {
    let n = 0;
    let current: ReplyInProgress | undefined;
    let skipping = false;
    const open = () => {
      if (current) return current;
      n++;
      current = openReply(ctx, caller && { ...caller, nonce: sessionReplyNonce(caller.nonce, n) });
      return current;
    };
    /** The current reply was refused (`refusal` a ConnectError); `atEnd`: by its ReplyEnd, nothing of it is left. */
    const refused = (refusal: unknown, atEnd: boolean) => {
      current = undefined;
      const error = toConnectError(refusal, options.log);
      // A late or repeated reply (its round timed out, say) is skipped; the session goes on.
      if (error.code !== Code.NotFound && error.code !== Code.AlreadyExists) throw error;
      options.log?.(`Skipped a reply of node ${nodeId}: ${error.rawMessage}`);
      skipping = !atEnd;
    };
    return {
      request(request) {
        const part = request.part;
        if (skipping) {
          if (part.case === "replyEnd") skipping = false;
          return undefined;
        }
        const reply = open();
        if (part.case === "replyEnd") {
          current = undefined;
          try {
            reply.end();
          } catch (error) {
            refused(error, true);
          }
          return undefined;
        }
        if (part.case !== "reply") {
          throw reply.fail(new WireError("A Session carries something other than a reply after its hello"));
        }
        try {
          return reply.chunk(part.value)?.catch((error: unknown) => refused(error, false));
        } catch (error) {
          refused(error, false);
          return undefined;
        }
      },
      dataPiece(piece, size, first) {
        if (skipping) return;
        try {
          open().dataPiece(piece, size, first);
        } catch (error) {
          refused(error, false);
        }
      },
      close(error) {
        const reply = current;
        current = undefined;
        if (error !== undefined) throw reply ? reply.fail(error) : toConnectError(error, options.log);
        if (reply) throw reply.fail(new WireError("The Session ended inside a reply"));
      },
    };
  }

  /**
   * Both directions on one call (issue 29): tasks go down as on a kept-open GetTask, but the call
   * stays open for good (an empty chunk every poll window keeps it alive), and the node's replies
   * come up on it, each checked as a ReplyTask call is (`openReply`), pushed from `source` as they
   * are parsed (`sessionReplies`).
   */
  async function* session(source: SessionRequestSource, ctx: HandlerContext): AsyncGenerator<TaskChunk> {
    const opening = await source.first();
    if (opening?.part.case !== "hello") throw new ConnectError("A Session starts with its hello", Code.InvalidArgument);
    const req = opening.part.value;
    const caller = checkHello(req, ctx, () =>
      proveCaller(ctx, req.nodeId, { schema: SessionRequestSchema, value: opening }),
    );
    const hello = register(req, caller);
    connectedBy(ctx, req.nodeId);
    yield pollAccepted();
    const ended = new AbortController();
    let failure: ConnectError | undefined;
    const replies = sessionReplies(ctx, caller, req.nodeId);
    const fed = source
      .feed(replies)
      .then(
        () => replies.close(),
        (error: unknown) => replies.close(error),
      )
      .catch((error: unknown) => {
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
      void fed;
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

    /** The Session over Connect (gRPC-Web, the Connect protocol, in-memory transports): its whole requests pushed. */
    session: (requests, ctx) => session(sessionRequestsOf(requests), ctx),

    async replyTask(requests, ctx) {
      authorize(ctx);
      await receiveReply(requests, ctx, proveCaller(ctx, undefined));
      return {};
    },

    plainSession: session,

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
