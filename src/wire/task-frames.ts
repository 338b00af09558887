import { create, fromBinary, isMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type GetTaskRequest,
  GetTaskRequestSchema,
  type TaskChunk,
  TaskChunkSchema,
} from "../gen/fbm/v1/researcher_pb.js";
import { WireError, WireLimitError } from "./wire-error.js";

/**
 * GetTask responses as gRPC wire bytes (a 5-byte prefix: flags, then the message length big-endian;
 * then the message as the generated code serializes it), for the researcher's pre-encoded task stream
 * (researcher/server/task-stream.ts). A round sends the same parameter chunks (the same TaskChunk
 * objects, task-codec.ts) to every node: each is serialized here once and its bytes are written to
 * every node's stream. The bytes live as long as the chunk does (the round's parameter list).
 */
const frames = new WeakMap<TaskChunk, Uint8Array>();

/** The empty chunk (poll accepted, task end): the same 5 bytes for every stream. */
const EMPTY_FRAME = new Uint8Array(5);

/** The frame of one chunk as the service yields it (a message, or its init shape, which is created first). */
export function taskChunkFrame(yielded: MessageInitShape<typeof TaskChunkSchema>): Uint8Array {
  const chunk = isMessage(yielded, TaskChunkSchema) ? yielded : create(TaskChunkSchema, yielded);
  if (chunk.part.case === undefined && !chunk.$unknown?.length) return EMPTY_FRAME;
  let frame = frames.get(chunk);
  if (!frame) {
    frame = toFrame(toBinary(TaskChunkSchema, chunk));
    frames.set(chunk, frame);
  }
  return frame;
}

function toFrame(message: Uint8Array): Uint8Array {
  const frame = new Uint8Array(5 + message.byteLength);
  new DataView(frame.buffer).setUint32(1, message.byteLength);
  frame.set(message, 5);
  return frame;
}

/**
 * The one GetTaskRequest of a gRPC request body (uncompressed); WireLimitError past `maxBytes`,
 * WireError for anything else than one well-formed message.
 */
export function parseTaskRequest(body: Uint8Array, maxBytes: number): GetTaskRequest {
  if (body.byteLength < 5) throw new WireError("The GetTask request carries no message");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const flags = view.getUint8(0);
  const length = view.getUint32(1);
  if (length > maxBytes) throw new WireLimitError(`The GetTask request is larger than ${maxBytes} bytes`);
  if (flags !== 0) throw new WireError(`The GetTask request has message flags ${flags} (compressed, or not a message)`);
  if (body.byteLength !== 5 + length) throw new WireError("The GetTask request is not exactly one message");
  try {
    return fromBinary(GetTaskRequestSchema, body.subarray(5));
  } catch (error) {
    throw new WireError(`The GetTask request is malformed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
