import assert from "node:assert/strict";
import { test } from "node:test";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetTaskRequestSchema, TaskChunkSchema } from "../../src/gen/fbm/v1/researcher_pb.js";
import {
  encodeTask,
  parseTaskRequest,
  pollAccepted,
  taskChunkFrame,
  WireError,
  WireLimitError,
} from "../../src/wire/index.js";

const params = [
  { name: "w", shape: [3, 1000], dtype: "float32" as const, data: new Float32Array(3000).map((_, i) => i / 7) },
];
const task = (taskId: string) => ({
  taskId,
  experiment: "e",
  body: { kind: "train" as const, params, args: {} } as never,
});

function joined(parts: readonly Uint8Array[]): Uint8Array {
  const frame = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    frame.set(part, at);
    at += part.byteLength;
  }
  return frame;
}

function unframe(parts: readonly Uint8Array[]) {
  const frame = joined(parts);
  const length = new DataView(frame.buffer, frame.byteOffset).getUint32(1);
  assert.equal(frame[0], 0);
  assert.equal(frame.byteLength, 5 + length);
  return fromBinary(TaskChunkSchema, frame.subarray(5));
}

test("pre-encoded task chunks decode with the generated code into the chunks encodeTask made", () => {
  const chunks = [...encodeTask(task("t1"), 4096)];
  assert.ok(chunks.length > 2, "a head and several data chunks");
  for (const chunk of chunks) assert.ok(equals(TaskChunkSchema, unframe(taskChunkFrame(chunk)), chunk));
  assert.ok(equals(TaskChunkSchema, unframe(taskChunkFrame(pollAccepted())), pollAccepted()));
});

test("a data chunk's frame carries the chunk's own bytes (no copy), for every chunk size's length varint", () => {
  for (const size of [0, 1, 127, 128, 16_383, 16_384, (1 << 20) - 64, 1 << 21]) {
    const data = new Uint8Array(size).map((_, i) => i % 251);
    const chunk = create(TaskChunkSchema, { part: { case: "data", value: data } });
    const frame = taskChunkFrame(chunk);
    assert.equal(frame.at(-1), data, `${size} bytes: the data itself is the frame's last run`);
    const message = toBinary(TaskChunkSchema, chunk);
    const expected = new Uint8Array(5 + message.byteLength);
    new DataView(expected.buffer).setUint32(1, message.byteLength);
    expected.set(message, 5);
    assert.ok(Buffer.from(joined(frame)).equals(expected), `${size} bytes: the generated code's bytes exactly`);
    assert.ok(equals(TaskChunkSchema, unframe(frame), chunk), `${size} bytes decode with the generated code`);
  }
});

test("a round's parameter chunks are serialized once: every node's task writes the same bytes", () => {
  const a = [...encodeTask(task("t1"), 4096)];
  const b = [...encodeTask(task("t2"), 4096)];
  assert.notEqual(taskChunkFrame(a[0]), taskChunkFrame(b[0]), "each task's head is its own");
  for (let i = 1; i < a.length; i++) assert.equal(taskChunkFrame(a[i]), taskChunkFrame(b[i]));
});

test("a GetTask request body is read as exactly one uncompressed message", () => {
  const message = toBinary(GetTaskRequestSchema, create(GetTaskRequestSchema, { nodeId: "n1", keepOpen: true }));
  const body = new Uint8Array(5 + message.byteLength);
  new DataView(body.buffer).setUint32(1, message.byteLength);
  body.set(message, 5);
  assert.equal(parseTaskRequest(body, 1024).nodeId, "n1");
  assert.throws(() => parseTaskRequest(body, 2), WireLimitError);
  assert.throws(() => parseTaskRequest(body.subarray(0, body.length - 1), 1024), WireError);
  const compressed = body.slice();
  compressed[0] = 1;
  assert.throws(() => parseTaskRequest(compressed, 1024), /flags 1/);
  const garbage = body.slice();
  garbage.fill(0xff, 5);
  assert.throws(() => parseTaskRequest(garbage, 1024), /malformed/);
});
