import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { parseTaskRequest, ResearcherService, taskChunkFrame, WireLimitError } from "../../wire/index.js";
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

/**
 * GetTask over gRPC without Connect's per-message pipeline: the service's own `getTask` (service.ts,
 * every check and guarantee of it) runs as it does under Connect, and each chunk it yields is written
 * to the HTTP/2 stream as pre-encoded bytes (wire/task-frames.ts): a round's parameter chunks are
 * serialized once, not once per node, and a call costs no async-iterable pipeline, compression
 * negotiation or per-message envelope copy. Only the plain case is taken (plain-call.ts: gRPC, no
 * compression, no deadline: a kept-open stream, what nodes use); anything else (gRPC-Web, Connect, a
 * deadline, gzip) goes through Connect as before.
 */

const PATH = methodPath(ResearcherService.method.getTask);

/** True when this request is one the pre-encoded path serves. */
export function isPlainTaskStream(req: Http2ServerRequest): boolean {
  return isPlainGrpc(req, PATH);
}

/** Serves one GetTask request (check `isPlainTaskStream` first) with the service's `getTask`. */
export async function serveTaskStream(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  getTask: ServiceImpl<typeof ResearcherService>["getTask"],
  options: PlainCallOptions,
): Promise<void> {
  const stream = req.stream;
  const { ctx, done } = plainCallContext(req, ResearcherService.method.getTask, options);
  let error: ConnectError | undefined;
  try {
    const request = parseTaskRequest(await readBody(req, options.readMaxBytes), options.readMaxBytes);
    if (!respond(stream)) return;
    for await (const chunk of getTask(request, ctx)) await write(stream, taskChunkFrame(chunk));
  } catch (caught) {
    error = toStatus(caught);
  } finally {
    done();
  }
  finish(res, error);
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
