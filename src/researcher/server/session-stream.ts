import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { ResearcherService, readSessionRequests, taskChunkFrame } from "../../wire/index.js";
import {
  finish,
  isPlainGrpc,
  methodPath,
  type PlainCallOptions,
  plainCallContext,
  respond,
  toStatus,
  write,
} from "./plain-call.js";
import type { ResearcherServiceImpl } from "./service.js";

/**
 * The Session call (issue 29) over gRPC without Connect's per-message pipeline, as task-stream.ts does
 * for GetTask (plain-call.ts: what both share): the service's own `session` (service.ts, every check
 * of it) runs as under Connect, its requests parsed from the HTTP/2 stream as they arrive and pushed
 * to it (wire/session-frames.ts: no async iteration per request; the body is paused while a reply
 * waits for room, so flow control holds it) and each chunk it yields written as pre-encoded bytes (a
 * round's parameter chunks serialized once for every node).
 */

const PATH = methodPath(ResearcherService.method.session);

/** True when this request is a Session call the pre-encoded path serves. */
export function isPlainSession(req: Http2ServerRequest): boolean {
  return isPlainGrpc(req, PATH);
}

/** Serves one Session call (check `isPlainSession` first) with the service's `plainSession`. */
export async function serveSession(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  session: ResearcherServiceImpl["plainSession"],
  options: PlainCallOptions,
): Promise<void> {
  const stream = req.stream;
  const { ctx, done } = plainCallContext(req, ResearcherService.method.session, options);
  let error: ConnectError | undefined;
  try {
    if (!respond(stream)) return;
    // From the HTTP/2 stream itself, not the compatibility request that would copy each chunk into a stream
    // of its own (it starts reading the stream only once it is read itself, so it never is).
    const requests = readSessionRequests(stream, options.readMaxBytes);
    for await (const chunk of session(requests, ctx)) await write(stream, taskChunkFrame(chunk));
  } catch (caught) {
    error = toStatus(caught);
  } finally {
    done();
  }
  finish(res, error);
}
