import type { ClientHttp2Stream } from "node:http2";
import { constants as h2 } from "node:http2";
import { create, type DescMessage, fromBinary, isMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import {
  type ReplyChunk,
  ReplyChunkSchema,
  type SessionRequest,
  SessionRequestSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import { writeFrame } from "./frame-writer.js";
import { closedError, openStream, type PlainGrpcOptions, toWebHeaders } from "./grpc-call.js";
import { dataFrameHeader, messageFrame } from "./task-frames.js";

/**
 * The node's reply upload (ReplyTask, a client stream of parameter chunks) without Connect's request
 * pipeline (routed here by plain-grpc.ts). Under Connect each 1 MiB chunk was serialized (a fresh copy),
 * enveloped (a second copy) and written only once the previous chunk's write had completed, so the
 * connection idled for an event-loop turn per chunk. Here a data chunk goes out as its few header bytes
 * plus the tensor's own bytes, with up to a few MiB queued (wire/frame-writer.ts); the Session call's
 * requests are written the same way (`writeRequests`, task-download.ts).
 */
export async function uploadReply<I extends DescMessage, O extends DescMessage>(
  options: PlainGrpcOptions,
  req: StreamRequest<I, O>,
): Promise<StreamResponse<I, O>> {
  const { stream, release } = await openStream(options.sessionManager, req);
  try {
    const response = readResponse(stream, options.readMaxBytes, req.signal);
    // A refusal can end the call while chunks are still being written: the response says why.
    const written = writeRequests(stream, req.message as AsyncIterable<unknown>, replyChunkFrame).catch(
      (error: unknown) => {
        stream.close(h2.NGHTTP2_CANCEL);
        throw error;
      },
    );
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
    release();
  }
}

/**
 * Writes a call's requests (each as `frameOf` makes it), then ends the stream; stops early, without
 * error, when the stream closes (the response tells why).
 */
export async function writeRequests(
  stream: ClientHttp2Stream,
  requests: AsyncIterable<unknown>,
  frameOf: (request: unknown) => readonly Uint8Array[],
): Promise<void> {
  for await (const request of requests) if (!(await writeFrame(stream, frameOf(request)))) return;
  if (!stream.closed && !stream.destroyed) stream.end();
}

/** A data chunk as its header bytes and its own bytes (no copy); any other chunk serialized. */
export function replyChunkFrame(yielded: unknown): readonly Uint8Array[] {
  const chunk: ReplyChunk = isMessage(yielded, ReplyChunkSchema) ? yielded : create(ReplyChunkSchema, yielded as never);
  if (chunk.part.case === "data" && !chunk.$unknown?.length)
    return [dataFrameHeader(ReplyChunkSchema.field.data.number, chunk.part.value.byteLength), chunk.part.value];
  return [messageFrame(toBinary(ReplyChunkSchema, chunk))];
}

const REPLY_DATA_PATH = [SessionRequestSchema.field.reply.number, ReplyChunkSchema.field.data.number];

/** A Session request: a reply's data chunk as its header bytes and its own bytes, any other serialized. */
export function sessionRequestFrame(yielded: unknown): readonly Uint8Array[] {
  const request: SessionRequest = isMessage(yielded, SessionRequestSchema)
    ? yielded
    : create(SessionRequestSchema, yielded as never);
  const part = request.part;
  if (
    part.case === "reply" &&
    part.value.part.case === "data" &&
    !request.$unknown?.length &&
    !part.value.$unknown?.length
  )
    return [dataFrameHeader(REPLY_DATA_PATH, part.value.part.value.byteLength), part.value.part.value];
  return [messageFrame(toBinary(SessionRequestSchema, request))];
}

interface RawResponse {
  status: number;
  header: Headers;
  body: Uint8Array;
  trailer: Headers;
}

/** The response: its status and headers, its body (a small message; refused past `maxBytes`), its trailers. */
function readResponse(stream: ClientHttp2Stream, maxBytes: number, signal: AbortSignal): Promise<RawResponse> {
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
      if (status === 0 || !stream.readableEnded) reject(closedError(stream, signal, "ReplyTask"));
    });
  });
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
