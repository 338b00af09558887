import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { Code, ConnectError, type ContextValues, createHandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import {
  parseTaskRequest,
  ResearcherService,
  type TaskFrame,
  taskChunkFrame,
  WireError,
  WireLimitError,
  writeFrame,
} from "../../wire/index.js";

/**
 * GetTask over gRPC without Connect's per-message pipeline: the service's own `getTask` (service.ts,
 * every check and guarantee of it) runs as it does under Connect, and each chunk it yields is written
 * to the HTTP/2 stream as pre-encoded bytes (wire/task-frames.ts): a round's parameter chunks are
 * serialized once, not once per node, and a call costs no async-iterable pipeline, compression
 * negotiation or per-message envelope copy. Only the plain case is taken: a POST of GetTask with
 * content type application/grpc(+proto), no compression and no deadline (a kept-open stream, what
 * nodes use); anything else (gRPC-Web, Connect, a deadline, gzip) goes through Connect as before.
 */

const PATH = `/${ResearcherService.typeName}/${ResearcherService.method.getTask.name}`;

/** Largest request body read (the same bound Connect is given in server.ts). */
export interface TaskStreamOptions {
  readMaxBytes: number;
  contextValues: (req: Http2ServerRequest) => ContextValues;
}

/** True when this request is one the pre-encoded path serves. */
export function isPlainTaskStream(req: Http2ServerRequest): boolean {
  const h = req.headers;
  if (req.method !== "POST" || h[":path"] !== PATH) return false;
  const type = h["content-type"];
  if (type !== "application/grpc" && type !== "application/grpc+proto") return false;
  const encoding = h["grpc-encoding"];
  return (encoding === undefined || encoding === "identity") && h["grpc-timeout"] === undefined;
}

/** Serves one GetTask request (check `isPlainTaskStream` first) with the service's `getTask`. */
export async function serveTaskStream(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  getTask: ServiceImpl<typeof ResearcherService>["getTask"],
  options: TaskStreamOptions,
): Promise<void> {
  const stream = req.stream;
  const cancelled = new AbortController();
  const onClose = () => cancelled.abort(new ConnectError("The node cancelled the call", Code.Canceled));
  stream.once("close", onClose);
  const ctx = createHandlerContext({
    service: ResearcherService,
    method: ResearcherService.method.getTask,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `${req.scheme ?? "http"}://${req.authority}${PATH}`,
    requestHeader: toHeaders(req.headers),
    requestSignal: cancelled.signal,
    contextValues: options.contextValues(req),
  });
  let error: ConnectError | undefined;
  try {
    const request = parseTaskRequest(await readBody(req, options.readMaxBytes), options.readMaxBytes);
    if (!respond(stream)) return;
    for await (const chunk of getTask(request, ctx)) await write(stream, taskChunkFrame(chunk));
  } catch (caught) {
    error = toStatus(caught);
  } finally {
    stream.off("close", onClose);
    ctx.abort();
  }
  if (stream.closed || stream.destroyed) return;
  if (!stream.headersSent) respond(stream);
  // The compatibility response sends its trailers when the stream asks for them (it listens for that).
  res.addTrailers(Object.fromEntries(setTrailerStatus(new Headers(), error)));
  stream.end();
}

export function respond(stream: ServerHttp2Stream): boolean {
  if (stream.closed || stream.destroyed) return false;
  stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
  return true;
}

export function toStatus(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof WireLimitError) return new ConnectError(error.message, Code.ResourceExhausted);
  if (error instanceof WireError) return new ConnectError(error.message, Code.InvalidArgument);
  return ConnectError.from(error, Code.Internal);
}

export function toHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, value);
  }
  return out;
}

/** The request body, refused past `maxBytes` (plus its 5-byte prefix). */
function readBody(req: Http2ServerRequest, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (part: Buffer) => {
      size += part.byteLength;
      if (size > maxBytes + 5) {
        cleanup();
        reject(new WireLimitError(`The GetTask request is larger than ${maxBytes} bytes`));
        return;
      }
      parts.push(part);
    };
    const onEnd = () => {
      cleanup();
      resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    };
    const onAbort = () => {
      cleanup();
      reject(new ConnectError("The node cancelled the call", Code.Canceled));
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onAbort);
      req.off("error", onAbort);
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onAbort);
    req.once("error", onAbort);
  });
}

/**
 * Writes one frame (wire/frame-writer.ts). A stream closed meanwhile (the node went away, or service.ts
 * cancelled it when its task settled) fails the write, which ends `getTask` (its `finally` requeues a
 * task not sent whole), exactly as a broken stream does under Connect.
 */
export async function write(stream: ServerHttp2Stream, frame: TaskFrame): Promise<void> {
  if (!(await writeFrame(stream, frame))) throw closedError();
}

function closedError(): ConnectError {
  return new ConnectError("The task stream was closed", Code.Canceled);
}
