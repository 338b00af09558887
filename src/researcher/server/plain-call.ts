import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { ResearcherService, type TaskFrame, toWebHeaders, wireErrorStatus, writeFrame } from "../../wire/index.js";

/**
 * What the researcher's calls served without Connect's per-message pipeline share (GetTask in
 * task-stream.ts, Session in session-stream.ts): which requests qualify, the handler context the
 * service's own method runs with (as under Connect), the response head, pre-encoded frames, and the
 * gRPC trailers that end the call. Only the plain case is taken: application/grpc(+proto), no
 * compression and no deadline (what `fbm-node` sends); anything else goes through Connect.
 */

export interface PlainCallOptions {
  /** Largest request message read (the same bound Connect is given in server.ts). */
  readMaxBytes: number;
  contextValues: (req: Http2ServerRequest) => ContextValues;
}

/** The HTTP/2 path of a ResearcherService method. */
export function methodPath(method: DescMethod): string {
  return `/${ResearcherService.typeName}/${method.name}`;
}

/** True when `req` is a plain gRPC call of the method at `path` (see the module comment). */
export function isPlainGrpc(req: Http2ServerRequest, path: string): boolean {
  const h = req.headers;
  if (req.method !== "POST" || h[":path"] !== path) return false;
  const type = h["content-type"];
  if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
  const encoding = h["grpc-encoding"];
  return (encoding === undefined || encoding === "identity") && h["grpc-timeout"] === undefined;
}

/**
 * The handler context Connect would give `method` for this request; its signal aborts when the node
 * closes the stream. `done` (call it once the method returned) detaches it from the stream and aborts it.
 * The return type is spelled out: Connect's own for createHandlerContext is not exported, so declaration
 * emit (`npm run build:lib`) could not name it.
 */
export function plainCallContext(
  req: Http2ServerRequest,
  method: DescMethod,
  options: PlainCallOptions,
): { ctx: HandlerContext; done: () => void } {
  const stream = req.stream;
  const cancelled = new AbortController();
  const onClose = () => cancelled.abort(new ConnectError("The node cancelled the call", Code.Canceled));
  stream.once("close", onClose);
  const ctx = createHandlerContext({
    service: ResearcherService,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `${req.scheme ?? "http"}://${req.authority}${methodPath(method)}`,
    requestHeader: toWebHeaders(req.headers),
    requestSignal: cancelled.signal,
    contextValues: options.contextValues(req),
  });
  return {
    ctx,
    done: () => {
      stream.off("close", onClose);
      ctx.abort();
    },
  };
}

/** Sends the response head (trailers follow); false when the stream is already gone. */
export function respond(stream: ServerHttp2Stream): boolean {
  if (stream.closed || stream.destroyed) return false;
  stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
  return true;
}

/** Ends the call with its gRPC status in the trailers (a head first if none went yet). */
export function finish(res: Http2ServerResponse, error: ConnectError | undefined): void {
  const stream = res.stream;
  if (stream.closed || stream.destroyed) return;
  if (!stream.headersSent) respond(stream);
  // The compatibility response sends its trailers when the stream asks for them (it listens for that).
  res.addTrailers(Object.fromEntries(setTrailerStatus(new Headers(), error)));
  stream.end();
}

/** The gRPC status a thrown error ends the call with. */
export function toStatus(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  return wireErrorStatus(error) ?? ConnectError.from(error, Code.Internal);
}

/**
 * Writes one frame (wire/frame-writer.ts). A stream closed meanwhile (the node went away, or service.ts
 * cancelled it when its task settled) fails the write, which ends the method (its `finally` requeues a
 * task not sent whole), exactly as a broken stream does under Connect.
 */
export async function write(stream: ServerHttp2Stream, frame: TaskFrame): Promise<void> {
  if (!(await writeFrame(stream, frame))) throw new ConnectError("The task stream was closed", Code.Canceled);
}
