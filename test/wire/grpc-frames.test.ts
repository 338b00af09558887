import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { create, type DescMessage, equals, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import {
  ReplyChunkSchema,
  type SessionRequest,
  SessionRequestSchema,
  type TaskChunk,
  TaskChunkSchema,
} from "../../src/gen/fbm/v1/researcher_pb.js";
import { createFrameReader, type FrameEvent } from "../../src/wire/grpc-frames.js";
import {
  dataFrameHeader,
  encodeTask,
  pollAccepted,
  readSessionRequests,
  type SessionRequestSink,
  sessionRequestFrame,
  WireError,
  WireLimitError,
} from "../../src/wire/index.js";

/**
 * The receive side of the plain gRPC paths (wire/grpc-frames.ts, wire/session-frames.ts): whatever the
 * chunking of the stream, the messages read are the generated code's, and a bad stream fails clearly.
 */

const bytes = (n: number, seed = 0) => new Uint8Array(n).map((_, i) => (i * 31 + seed) % 251);

function framed(schema: DescMessage, message: MessageShape<DescMessage>): Uint8Array {
  const body = toBinary(schema, message);
  const frame = new Uint8Array(5 + body.byteLength);
  new DataView(frame.buffer).setUint32(1, body.byteLength);
  frame.set(body, 5);
  return frame;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** `stream` cut into pieces of `size` bytes (the last shorter), each a fresh buffer. */
function cut(stream: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < stream.byteLength; at += size) out.push(stream.slice(at, at + size));
  return out;
}

/** Reads TaskChunks as task-download.ts does: data pieces joined back to their message for comparison. */
function readTaskChunks(chunks: readonly Uint8Array[], maxBytes = 1 << 24): TaskChunk[] {
  const reader = createFrameReader({ maxBytes, what: "A task chunk", dataPath: [TaskChunkSchema.field.data.number] });
  const out: TaskChunk[] = [];
  let pieces: Uint8Array[] = [];
  const emit = (event: FrameEvent) => {
    if (event.kind === "message") {
      assert.equal(pieces.length, 0, "no message inside a data message");
      out.push(fromBinary(TaskChunkSchema, event.bytes));
      return;
    }
    pieces.push(event.bytes);
    if (event.last) {
      out.push(create(TaskChunkSchema, { part: { case: "data", value: concat(pieces) } }));
      pieces = [];
    }
  };
  for (const chunk of chunks) reader.push(chunk, emit);
  reader.end();
  return out;
}

const taskChunks = (): TaskChunk[] => {
  const params = [{ name: "w", shape: [3, 700], dtype: "float32" as const, data: new Float32Array(2100).fill(0.5) }];
  const head = [
    ...encodeTask({ taskId: "t1", experiment: "e", body: { kind: "train", params, args: {} } as never }, 4000),
  ];
  return [
    pollAccepted(),
    ...head,
    create(TaskChunkSchema, {}),
    ...[0, 1, 3, 7, 127, 128, 16_384, 70_000].map((n) =>
      create(TaskChunkSchema, { part: { case: "data", value: bytes(n, n) } }),
    ),
  ];
};

test("task chunks read from any cutting of the stream are the generated code's messages", () => {
  const sent = taskChunks();
  const stream = concat(sent.map((c) => framed(TaskChunkSchema, c)));
  for (const size of [1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 64, 1000, 16_384, stream.byteLength]) {
    const read = readTaskChunks(cut(stream, size));
    assert.equal(read.length, sent.length, `${size}-byte pieces`);
    for (const [i, c] of read.entries())
      assert.ok(equals(TaskChunkSchema, c, sent[i]), `${size}-byte pieces: chunk ${i}`);
  }
});

test("a data chunk's bytes are passed on as views of the stream's own chunks (the one copy is the consumer's)", () => {
  const data = bytes(50_000);
  const frame = framed(TaskChunkSchema, create(TaskChunkSchema, { part: { case: "data", value: data } }));
  const pieces = cut(frame, 16_384);
  const reader = createFrameReader({ maxBytes: 1 << 20, what: "A task chunk", dataPath: [2] });
  const seen: Uint8Array[] = [];
  for (const piece of pieces) reader.push(piece, (event) => seen.push(event.bytes));
  assert.equal(seen.length, pieces.length);
  for (const [i, view] of seen.entries()) assert.equal(view.buffer, pieces[i].buffer, `piece ${i} is a view`);
  assert.deepEqual(concat(seen), data);
});

test("a message that only looks like data at first (a task head, a data field with a neighbour) is read whole", () => {
  // A data field followed by unknown bytes: not data-only, so it goes to the generated code whole.
  const data = create(TaskChunkSchema, { part: { case: "data", value: bytes(40) } });
  const body = concat([toBinary(TaskChunkSchema, data), new Uint8Array([0x18, 0x01])]); // field 3 varint 1
  const frame = new Uint8Array(5 + body.byteLength);
  new DataView(frame.buffer).setUint32(1, body.byteLength);
  frame.set(body, 5);
  for (const size of [1, 3, 7, frame.byteLength]) {
    const [read] = readTaskChunks(cut(frame, size));
    assert.ok(equals(TaskChunkSchema, read, fromBinary(TaskChunkSchema, body)), `${size}-byte pieces`);
    assert.equal(read.$unknown?.length, 1);
  }
});

test("a bad task stream fails clearly: over the limit, compressed, cut short", () => {
  const frame = framed(TaskChunkSchema, create(TaskChunkSchema, { part: { case: "data", value: bytes(1000) } }));
  assert.throws(() => readTaskChunks([frame], 999), WireLimitError);
  const compressed = frame.slice();
  compressed[0] = 1;
  assert.throws(() => readTaskChunks([compressed]), /flags 1/);
  for (const short of [3, 5, 6, 8, frame.byteLength - 1])
    assert.throws(() => readTaskChunks([frame.subarray(0, short)]), /ended inside a task chunk/, `${short} bytes`);
});

test("dataFrameHeader writes the generated code's bytes for a bytes field one and two levels deep", () => {
  for (const size of [0, 1, 127, 128, 16_383, 16_384, (1 << 20) - 64, 1 << 21]) {
    const data = bytes(size);
    const request = create(SessionRequestSchema, {
      part: { case: "reply", value: { part: { case: "data", value: data } } },
    });
    const frame = sessionRequestFrame(request);
    assert.equal(frame.at(-1), data, "the data itself is the frame's last run");
    assert.deepEqual(concat(frame), framed(SessionRequestSchema, request), `${size} bytes, nested`);
    const chunk = create(TaskChunkSchema, { part: { case: "data", value: data } });
    assert.deepEqual(concat([dataFrameHeader(2, size), data]), framed(TaskChunkSchema, chunk), `${size} bytes`);
  }
});

/** Session requests as a node sends them: hello, a reply (head, data chunks, seal), its end. */
const sessionRequests = (): SessionRequest[] => [
  create(SessionRequestSchema, { part: { case: "hello", value: { nodeId: "n1", keepOpen: true } } }),
  create(SessionRequestSchema, {
    part: { case: "reply", value: { part: { case: "reply", value: { taskId: "t1", nodeId: "n1" } } } },
  }),
  ...[0, 5, 20_000, 70_000].map((n) =>
    create(SessionRequestSchema, {
      part: { case: "reply", value: create(ReplyChunkSchema, { part: { case: "data", value: bytes(n, 1) } }) },
    }),
  ),
  create(SessionRequestSchema, { part: { case: "reply", value: { part: { case: "seal", value: bytes(64) } } } }),
  create(SessionRequestSchema, { part: { case: "replyEnd", value: {} } }),
];

/**
 * A sink that collects what it is fed: whole requests, and each data chunk's pieces joined back into
 * the request they came in (checking each piece's size and first flag), so it compares with what was sent.
 */
function collector(out: SessionRequest[]): SessionRequestSink {
  let pieces: Uint8Array[] = [];
  let size = 0;
  let received = 0;
  return {
    request(request) {
      out.push(request);
      return undefined;
    },
    dataPiece(piece, total, first) {
      assert.equal(first, pieces.length === 0, "first on a data chunk's first piece only");
      if (first) size = total;
      assert.equal(total, size);
      pieces.push(piece);
      received += piece.byteLength;
      if (received < size) return;
      const data = concat(pieces);
      pieces = [];
      received = 0;
      out.push(
        create(SessionRequestSchema, { part: { case: "reply", value: { part: { case: "data", value: data } } } }),
      );
    },
  };
}

async function readAll(chunks: readonly Uint8Array[], maxBytes = 1 << 24): Promise<SessionRequest[]> {
  const body = new PassThrough();
  const source = readSessionRequests(body, maxBytes);
  const read = (async () => {
    const out: SessionRequest[] = [];
    const first = await source.first();
    if (first) out.push(first);
    await source.feed(collector(out));
    return out;
  })();
  for (const chunk of chunks) body.write(chunk);
  body.end();
  return read;
}

test("Session requests written by the node's framer read back as the generated code's, however cut", async () => {
  const sent = sessionRequests();
  const stream = concat(sent.flatMap((r) => sessionRequestFrame(r)));
  assert.deepEqual(stream, concat(sent.map((r) => framed(SessionRequestSchema, r))), "the generated code's bytes");
  for (const size of [1, 4, 5, 6, 9, 16_384, stream.byteLength]) {
    const read = await readAll(cut(stream, size));
    assert.equal(read.length, sent.length, `${size}-byte pieces`);
    for (const [i, r] of read.entries())
      assert.ok(equals(SessionRequestSchema, r, sent[i]), `${size}-byte pieces: request ${i}`);
  }
});

test("a Session request body is paused while the sink waits (a reply waiting for room), and read on after", async () => {
  const body = new PassThrough();
  const source = readSessionRequests(body, 1 << 20);
  const frames = sessionRequests().map((r) => framed(SessionRequestSchema, r));
  body.write(concat(frames.slice(0, 3)));
  assert.equal((await source.first())?.part.case, "hello");
  const out: SessionRequest[] = [];
  let room = () => {};
  const waited = new Promise<void>((resolve) => (room = resolve));
  const sink = collector(out);
  const fed = source.feed({
    request(request) {
      sink.request(request);
      return request.part.case === "reply" && request.part.value.part.case === "reply" ? waited : undefined;
    },
    dataPiece: sink.dataPiece,
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    out.map((r) => r.part.case),
    ["reply"],
    "the reply's head is delivered, its data waits",
  );
  assert.ok(body.isPaused(), "the sink waits: reading stops");
  room();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(out.length, 2, "the data chunk parsed before is delivered once the sink is ready");
  assert.ok(!body.isPaused(), "reading goes on");
  body.end(concat(frames.slice(3)));
  await fed;
  assert.equal(out.length, sessionRequests().length - 1);
});

test("a bad Session request body fails clearly: over the limit, malformed, cut short, broken off", async () => {
  const frame = framed(SessionRequestSchema, sessionRequests()[4]); // 5 data bytes
  await assert.rejects(readAll([frame], 10), WireLimitError);
  const malformed = frame.slice();
  malformed.fill(0xff, 5);
  await assert.rejects(readAll([malformed]), /Session request is malformed/);
  await assert.rejects(readAll([frame.subarray(0, frame.byteLength - 1)]), (e: unknown) => {
    return e instanceof WireError && /ended inside a Session request/.test(e.message);
  });
  const body = new PassThrough();
  const reading = readSessionRequests(body, 1 << 20).feed(collector([]));
  body.write(frame.subarray(0, 8));
  body.destroy();
  await assert.rejects(reading, /broke off/);
});
