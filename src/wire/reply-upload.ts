import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { constants as h2 } from "node:http2";
import { create, type DescMessage, fromBinary, isMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
} from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall } from "@connectrpc/connect/protocol";
import { requestHeader, validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { type ReplyChunk, ReplyChunkSchema, ResearcherService } from "../gen/fbm/v1/researcher_pb.js";
import { writeFrame } from "./frame-writer.js";
import { dataFrameHeader, messageFrame } from "./task-frames.js";

/**
 * The node's reply upload (ReplyTask, a client stream of parameter chunks) without Connect's request
 * pipeline. Under Connect each 1 MiB chunk was serialized (a fresh copy), enveloped (a second copy) and
 * written only once the previous chunk's write had completed, so the connection idled for an event-loop
 * turn per chunk. Here a data chunk goes out as its few header bytes plus the tensor's own bytes, with
 * up to a few MiB queued (wire/frame-writer.ts). Everything else stays Connect's: the interceptors (the
 * request signature and the seal over the chunks, request-signing.ts), the deadline and abort signal
 * (runStreamingCall), the gRPC headers, and the response's validation; the HTTP/2 stream comes from the
 * transport's own session manager. Only gRPC without compression is sent this way, which is what
 * `fbm-node` speaks; every other call goes to the wrapped transport.
 */
export function withReplyUpload(
  transport: Transport,
  options: { baseUrl: string; sessionManager: Http2SessionManager; interceptors?: Interceptor[]; readMaxBytes: number },
): Transport {
  const replyTask = ResearcherService.method.replyTask;
  return {
    unary: (...args) => transport.unary(...args),
    stream(method, signal, timeoutMs, header, input, contextValues) {
      if (method.parent.typeName !== ResearcherService.typeName || method.name !== replyTask.name)
        return transport.stream(method, signal, timeoutMs, header, input, contextValues);
      return runStreamingCall({
        interceptors: options.interceptors,
        signal,
        timeoutMs,
        req: {
          stream: true,
          service: method.parent,
          method,
          requestMethod: "POST",
          url: createMethodUrl(options.baseUrl, method),
          header: requestHeader(true, timeoutMs, header),
          contextValues: contextValues ?? createContextValues(),
          message: input,
        },
        next: (req) => upload(options.sessionManager, req, options.readMaxBytes),
      });
    },
  };
}

/** One ReplyTask call on a stream of the session manager: the chunks written, the one response read. */
async function upload<I extends DescMessage, O extends DescMessage>(
  sessions: Http2SessionManager,
  req: StreamRequest<I, O>,
  readMaxBytes: number,
): Promise<StreamResponse<I, O>> {
  req.signal.throwIfAborted();
  const url = new URL(req.url);
  const stream = await sessions.request("POST", url.pathname + url.search, toNodeHeaders(req.header), {});
  const onAbort = () => {
    const reason = ConnectError.from(req.signal.reason);
    stream.close(reason.code === Code.Canceled ? h2.NGHTTP2_CANCEL : h2.NGHTTP2_INTERNAL_ERROR);
  };
  req.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const response = readResponse(stream, readMaxBytes);
    // A refusal can end the call while chunks are still being written: the response says why.
    const written = writeChunks(stream, req.message as AsyncIterable<unknown>).catch((error: unknown) => {
      stream.close(h2.NGHTTP2_CANCEL);
      throw error;
    });
    const [{ status, header, body, trailer }] = await Promise.all([response, written]).catch(async (error) => {
      // The response's own error (a gRPC status) says more than a write cut short by it.
      const answered = await response.catch(() => undefined);
      if (answered) return [answered];
      throw req.signal.aborted ? ConnectError.from(req.signal.reason) : ConnectError.from(error);
    });
    const { headerError } = validateResponse(status, header);
    if (headerError) throw headerError;
    validateTrailer(trailer, header);
    const message = parseOne(req.method.output as O, body);
    return {
      ...req,
      header,
      trailer,
      message: (async function* () {
        yield message;
      })(),
    } as StreamResponse<I, O>;
  } finally {
    req.signal.removeEventListener("abort", onAbort);
  }
}

async function writeChunks(stream: ClientHttp2Stream, chunks: AsyncIterable<unknown>): Promise<void> {
  for await (const yielded of chunks) {
    const chunk = isMessage(yielded, ReplyChunkSchema) ? yielded : create(ReplyChunkSchema, yielded as never);
    if (!(await writeFrame(stream, replyChunkFrame(chunk)))) return; // closed: the response tells why
  }
  if (!stream.closed && !stream.destroyed) stream.end();
}

/** A data chunk as its header bytes and its own bytes (no copy); any other chunk serialized. */
export function replyChunkFrame(chunk: ReplyChunk): readonly Uint8Array[] {
  if (chunk.part.case === "data" && !chunk.$unknown?.length)
    return [dataFrameHeader(ReplyChunkSchema.field.data.number, chunk.part.value.byteLength), chunk.part.value];
  return [messageFrame(toBinary(ReplyChunkSchema, chunk))];
}

interface RawResponse {
  status: number;
  header: Headers;
  body: Uint8Array;
  trailer: Headers;
}

/** The response: its status and headers, its body (a small message; refused past `maxBytes`), its trailers. */
function readResponse(stream: ClientHttp2Stream, maxBytes: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let header = new Headers();
    const trailer = new Headers();
    const parts: Buffer[] = [];
    let size = 0;
    stream.once("response", (headers) => {
      status = Number(headers[":status"]);
      header = toWebHeaders(headers);
    });
    stream.on("trailers", (headers) => {
      for (const [name, value] of toWebHeaders(headers)) trailer.set(name, value);
    });
    stream.on("data", (part: Buffer) => {
      size += part.byteLength;
      if (size > maxBytes + 5) {
        stream.close(h2.NGHTTP2_CANCEL);
        reject(new ConnectError(`The ReplyTask response is larger than ${maxBytes} bytes`, Code.ResourceExhausted));
      } else parts.push(part);
    });
    stream.once("end", () => resolve({ status, header, body: Buffer.concat(parts), trailer }));
    stream.once("error", (error) => reject(ConnectError.from(error, Code.Unavailable)));
    stream.once("close", () => {
      if (status === 0 || !stream.readableEnded)
        reject(new ConnectError(`The ReplyTask stream closed (HTTP/2 code ${stream.rstCode})`, codeOfReset(stream)));
    });
  });
}

function codeOfReset(stream: ClientHttp2Stream): Code {
  if (stream.rstCode === h2.NGHTTP2_CANCEL) return Code.Canceled;
  if (stream.rstCode === h2.NGHTTP2_REFUSED_STREAM) return Code.Unavailable;
  if (stream.rstCode === h2.NGHTTP2_ENHANCE_YOUR_CALM) return Code.ResourceExhausted;
  return Code.Internal;
}

/** The one message of a unary-response body (uncompressed gRPC); a body of none is an empty message. */
function parseOne<O extends DescMessage>(schema: O, body: Uint8Array): MessageShape<O> {
  if (body.byteLength === 0) throw new ConnectError("protocol error: missing output message", Code.Unimplemented);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const length = body.byteLength >= 5 ? view.getUint32(1) : -1;
  if (length < 0 || body.byteLength !== 5 + length)
    throw new ConnectError("protocol error: the response is not exactly one message", Code.Internal);
  if (view.getUint8(0) !== 0) throw new ConnectError("protocol error: a compressed or flagged response", Code.Internal);
  return fromBinary(schema, body.subarray(5));
}

function toNodeHeaders(headers: Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

function toWebHeaders(headers: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.set(name, String(value));
  }
  return out;
}
