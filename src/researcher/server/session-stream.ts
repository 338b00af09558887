import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { ConnectError, ServiceImpl } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ResearcherService, readSessionRequests, taskChunkFrame } from "../../wire/index.js";
import { isPlainGrpc, plainCallContext, respond, type TaskStreamOptions, toStatus, write } from "./task-stream.js";

/**
 * The Session call (issue 29) over gRPC without Connect's per-message pipeline, as task-stream.ts does
 * for GetTask: the service's own `session` (service.ts, every check of it) runs as under Connect, its
 * requests parsed from the HTTP/2 stream as they arrive (wire/session-frames.ts, pulled one at a time,
 * so flow control holds a reply the researcher is not reading) and each chunk it yields written as
 * pre-encoded bytes (a round's parameter chunks serialized once for every node). Only the plain case is
 * taken: application/grpc(+proto), no compression, no deadline; anything else goes through Connect.
 */

const PATH = `/${ResearcherService.typeName}/${ResearcherService.method.session.name}`;

/** True when this request is a Session call the pre-encoded path serves. */
export function isPlainSession(req: Http2ServerRequest): boolean {
  return isPlainGrpc(req, PATH);
}

/** Serves one Session call (check `isPlainSession` first) with the service's `session`. */
export async function serveSession(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  session: ServiceImpl<typeof ResearcherService>["session"],
  options: TaskStreamOptions,
): Promise<void> {
  const stream = req.stream;
  const { ctx, done } = plainCallContext(req, ResearcherService.method.session, options);
  let error: ConnectError | undefined;
  try {
    if (!respond(stream)) return;
    const requests = readSessionRequests(req, options.readMaxBytes);
    for await (const chunk of session(requests, ctx)) await write(stream, taskChunkFrame(chunk));
  } catch (caught) {
    error = toStatus(caught);
  } finally {
    done();
    ctx.abort();
  }
  if (stream.closed || stream.destroyed) return;
  // The compatibility response sends its trailers when the stream asks for them (it listens for that).
  res.addTrailers(Object.fromEntries(setTrailerStatus(new Headers(), error)));
  stream.end();
}
