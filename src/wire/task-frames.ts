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
 * (researcher/server/task-stream.ts). A frame is a list of byte runs written one after the other.
 * A round sends the same parameter chunks (the same TaskChunk objects, task-codec.ts) to every node.
 * A data chunk's frame is its few bytes of prefix and field header followed by the chunk's own bytes
 * (a view of the model's tensors): no serialization and no copy of the parameters, which on a 2-core
 * VM cost more than the transfer itself (two fresh 1 MiB buffers per chunk, each page-faulted in).
 * Any other chunk (a task head, the empty chunk) is serialized by the generated code, once.
 */
export type TaskFrame = readonly Uint8Array[];

const frames = new WeakMap<TaskChunk, TaskFrame>();

/** The empty chunk (poll accepted, task end): the same 5 bytes for every stream. */
const EMPTY_FRAME: TaskFrame = [new Uint8Array(5)];

/** The frame of one chunk as the service yields it (a message, or its init shape, which is created first). */
export function taskChunkFrame(yielded: MessageInitShape<typeof TaskChunkSchema>): TaskFrame {
  const chunk = isMessage(yielded, TaskChunkSchema) ? yielded : create(TaskChunkSchema, yielded);
  if (chunk.part.case === undefined && !chunk.$unknown?.length) return EMPTY_FRAME;
  let frame = frames.get(chunk);
  if (!frame) {
    frame =
      chunk.part.case === "data" && !chunk.$unknown?.length
        ? [dataFrameHeader(TaskChunkSchema.field.data.number, chunk.part.value.byteLength), chunk.part.value]
        : [messageFrame(toBinary(TaskChunkSchema, chunk))];
    frames.set(chunk, frame);
  }
  return frame;
}

/**
 * The gRPC prefix and field header of a message whose only field is the bytes field `fieldNumber` of
 * `length` bytes: followed by those bytes, exactly what the generated code writes for it.
 */
export function dataFrameHeader(fieldNumber: number, length: number): Uint8Array {
  const field = [...varint((fieldNumber << 3) | 2), ...varint(length)]; // wire type 2: length-delimited
  const header = new Uint8Array(5 + field.length);
  new DataView(header.buffer).setUint32(1, field.length + length);
  header.set(field, 5);
  return header;
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A serialized message with its gRPC prefix (uncompressed). */
export function messageFrame(message: Uint8Array): Uint8Array {
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
