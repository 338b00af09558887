import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Code, ConnectError, createHandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ResearcherService, readSessionRequests, taskChunkFrame } from "../../wire/index.js";
import { respond, type TaskStreamOptions, toHeaders, toStatus, write } from "./task-stream.js";

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
  const h = req.headers;
  if (req.method !== "POST" || h[":path"] !== PATH) return false;
  const type = h["content-type"];
  if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
  const encoding = h["grpc-encoding"];
  return (encoding === undefined || encoding === "identity") && h["grpc-timeout"] === undefined;
}

/** Serves one Session call (check `isPlainSession` first) with the service's `session`. */
export async function serveSession(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  session: ServiceImpl<typeof ResearcherService>["session"],
  options: TaskStreamOptions,
): Promise<void> {
  const stream = req.stream;
  const cancelled = new AbortController();
  const onClose = () => cancelled.abort(new ConnectError("The node cancelled the call", Code.Canceled));
  stream.once("close", onClose);
  const ctx = createHandlerContext({
    service: ResearcherService,
    method: ResearcherService.method.session,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `${req.scheme ?? "http"}://${req.authority}${PATH}`,
    requestHeader: toHeaders(req.headers),
    requestSignal: cancelled.signal,
    contextValues: options.contextValues(req),
  });
  let error: ConnectError | undefined;
  try {
    if (!respond(stream)) return;
    const requests = readSessionRequests(req, options.readMaxBytes);
    for await (const chunk of session(requests, ctx)) await write(stream, taskChunkFrame(chunk));
  } catch (caught) {
    error = toStatus(caught);
  } finally {
    stream.off("close", onClose);
    ctx.abort();
  }
  if (stream.closed || stream.destroyed) return;
  // The compatibility response sends its trailers when the stream asks for them (it listens for that).
  res.addTrailers(Object.fromEntries(setTrailerStatus(new Headers(), error)));
  stream.end();
}
