import type { ClientHttp2Stream } from "node:http2";
import { constants as h2 } from "node:http2";
import { create, type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { ConnectError, type StreamRequest, type StreamResponse } from "@connectrpc/connect";
import { validateResponse, validateTrailer } from "@connectrpc/connect/protocol-grpc";
import { type TaskChunk, TaskChunkSchema } from "../gen/fbm/v1/researcher_pb.js";
import { closedError, openStream, type PlainGrpcOptions, toWebHeaders } from "./grpc-call.js";
import { createFrameReader, type FrameEvent } from "./grpc-frames.js";
import { writeRequests } from "./reply-upload.js";
import { pullItems } from "./stream-pull.js";
import { WireError, wireErrorStatus } from "./wire-error.js";

/**
 * The node's task stream (the responses of GetTask and Session: TaskChunks) read without Connect's
 * response pipeline (routed here by plain-grpc.ts). Connect copied each 16 KiB HTTP/2 frame into a
 * 1 MiB envelope through a chain of async generators, and the node then copied the envelope's data into
 * the task's tensors. Here the frames are parsed in the stream's `data` events (grpc-frames.ts) and a
 * parameter chunk is passed on as the pieces the stream delivered, each a TaskChunk whose data is a view
 * of the stream's own bytes: the one copy is the task decoder's, into the tensors (task-codec.ts, which
 * takes data chunks of any size). Any other chunk (a task head, the empty chunk) is decoded whole by the
 * generated code. Kept from Connect: the response's status and headers checked (validateResponse), its
 * trailers checked at the end (validateTrailer: the call's gRPC status), the node's limit on one message
 * (ResourceExhausted), the deadline and abort signal (the stream is reset), and a malformed, compressed or
 * cut-short message fails the call with a clear error. The requests (the poll, or a Session's hello and
 * replies) are written as the reply upload writes its chunks (reply-upload.ts).
 */
export async function downloadTasks<I extends DescMessage, O extends DescMessage>(
  options: PlainGrpcOptions,
  req: StreamRequest<I, O>,
  frameOf: (request: unknown) => readonly Uint8Array[],
): Promise<StreamResponse<I, O>> {
  const { stream, release } = await openStream(options.sessionManager, req);
  // Listened for at once: the response's headers, data and trailers can arrive in one read, and the
  // trailers event would pass while the headers are being awaited (data waits in the stream).
  const trailer = new Headers();
  stream.on("trailers", (headers) => {
    for (const [name, value] of toWebHeaders(headers)) trailer.set(name, value);
  });
  let writeError: unknown;
  void writeRequests(stream, req.message as AsyncIterable<unknown>, frameOf).catch((error: unknown) => {
    writeError = error;
    stream.close(h2.NGHTTP2_CANCEL);
  });
  let header = new Headers();
  /**
   * Why the call broke off. A call whose trailers came with an error status ended with it, even if the
   * stream was reset after them: a researcher refusing a Session (its requests still open) sends the
   * refusal, then RST_STREAM CANCEL (server.ts, stopUnreadRequests), and the node must hear the refusal.
   */
  const broken = () => {
    const status = trailer.get("grpc-status");
    if (status !== null && status !== "0") {
      try {
        validateTrailer(trailer, header);
      } catch (error) {
        return ConnectError.from(error);
      }
    }
    return writeError === undefined ? closedError(stream, req.signal, "task") : ConnectError.from(writeError);
  };
  try {
    let status: number;
    ({ status, header } = await responseHead(stream, broken));
    const { headerError } = validateResponse(status, header);
    if (headerError) throw headerError;
  } catch (error) {
    release();
    if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    throw error;
  }
  const reader = createFrameReader({
    maxBytes: options.readMaxBytes,
    what: "A task chunk",
    dataPath: [TaskChunkSchema.field.data.number],
  });
  const message = pullItems<TaskChunk>(stream, {
    parse: (chunk, push) => {
      try {
        reader.push(chunk, (event) => push(toTaskChunk(event), event.bytes.byteLength));
      } catch (error) {
        throw toConnectError(error);
      }
    },
    end: () => {
      release();
      // A reset stream also ends (Node ends its readable side on RST_STREAM): that is a broken call.
      if (stream.rstCode !== h2.NGHTTP2_NO_ERROR) throw broken();
      try {
        reader.end();
      } catch (error) {
        throw toConnectError(error);
      }
      validateTrailer(trailer, header);
    },
    broken: () => {
      release();
      return broken();
    },
    stop: () => {
      release();
      if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
    },
    highWaterBytes: TASK_HIGH_WATER_BYTES,
    endOn: "close",
  });
  return { ...req, header, trailer, message } as unknown as StreamResponse<I, O>;
}

/**
 * Bytes parsed and not yet pulled before the stream is paused: about one parameter chunk. A node reads
 * its task stream only between tasks, so the next task waits in the HTTP/2 window, not in memory here.
 */
const TASK_HIGH_WATER_BYTES = 1 << 20;

/** The response's status and headers, or the error of a stream that closed before them. */
function responseHead(
  stream: ClientHttp2Stream,
  broken: () => ConnectError,
): Promise<{ status: number; header: Headers }> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(broken());
    stream.once("close", onClose);
    stream.once("response", (headers) => {
      stream.off("close", onClose);
      resolve({ status: Number(headers[":status"]), header: toWebHeaders(headers) });
    });
  });
}

function toTaskChunk(event: FrameEvent): TaskChunk {
  if (event.kind === "data") return create(TaskChunkSchema, { part: { case: "data", value: event.bytes } });
  try {
    return fromBinary(TaskChunkSchema, event.bytes);
  } catch (error) {
    throw new WireError(`A task chunk is malformed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The frame reader's errors as the call's: over the limit is ResourceExhausted, as under Connect. */
function toConnectError(error: unknown): unknown {
  return wireErrorStatus(error) ?? error;
}
