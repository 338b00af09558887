import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NamedTensor } from "../../../src/ml/types.js";
import { createRunningMean } from "../../../src/researcher/aggregators/running-mean.js";
import { createTakeBackBuffers, foldReply } from "../../../src/researcher/run/reply-fold.js";
import { type BufferPool, createBufferPool, type ReplyBody, toParamsHeader } from "../../../src/wire/index.js";

/**
 * The take-back storage of folded replies (reply-fold.ts): a fold keeps a copy of the bytes it folded in
 * a buffer of the experiment's pool, not the pieces it was pushed (views of the Session stream's read
 * buffers, which must be free to die young), and a buffer reused from an earlier reply never lends
 * that reply's bytes to a take-back.
 */

const N = 64; // values per reply: two tensors of 48 and 16
const tensors = (data: Float32Array): NamedTensor[] => [
  { name: "w", shape: [6, 8], dtype: "float32", data: data.subarray(0, 48) },
  { name: "b", shape: [16], dtype: "float32", data: data.subarray(48) },
];
const values = (seed: number) => Float32Array.from({ length: N }, (_, k) => Math.sin(seed * 3.1 + k) * 1e3);
const body = (sampleCount: number): ReplyBody => ({
  kind: "train",
  result: { params: [], sampleCount, seconds: 0 },
});
const header = toParamsHeader(tensors(new Float32Array(N)));

/** A pool that records every buffer it hands out and gets back. */
function spyPool(pool: BufferPool): BufferPool & { taken: ArrayBufferLike[]; released: ArrayBufferLike[] } {
  const taken: ArrayBufferLike[] = [];
  const released: ArrayBufferLike[] = [];
  return {
    take(bytes) {
      const buffer = pool.take(bytes);
      taken.push(buffer.buffer);
      return buffer;
    },
    release(buffer) {
      released.push(buffer);
      return pool.release(buffer);
    },
    clear: () => pool.clear(),
    get keptBytes() {
      return pool.keptBytes;
    },
    taken,
    released,
  };
}

/** Pushes `data`'s bytes to a fold in pieces cut at `cuts` (byte offsets), copying each piece out of a scratch buffer that is then overwritten. */
function pushCut(sink: { push(chunk: Uint8Array): void }, data: Float32Array, cuts: number[]): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const scratch = new Uint8Array(bytes.length);
  let at = 0;
  for (const end of [...cuts, bytes.length]) {
    const piece = scratch.subarray(at, end);
    piece.set(bytes.subarray(at, end));
    sink.push(piece);
    piece.fill(0xff); // what a reused read buffer would do to a view kept of it: NaNs everywhere
    at = end;
  }
}

const sums = (running: ReturnType<typeof createRunningMean>) => running.result().params.map((p) => [...p]);

describe("take-back storage of folded replies", () => {
  it("keeps a copy: a pushed piece overwritten after the push does not change what is taken back", () => {
    const running = createRunningMean([48, 16]);
    const pool = spyPool(createTakeBackBuffers([{ data: new Float32Array(N) }]));
    const fold = foldReply(running, { headProblem: () => undefined, takeBack: pool });
    const sink = fold.receive(body(10), header);
    assert.ok(sink);
    pushCut(sink, values(1), [4, 100, 130]); // 3 pieces, values straddling them; the last 126 bytes never come
    fold.takeBack();
    running.commit(1); // a mean needs a sample: every sum must be back at exactly zero
    for (const tensor of sums(running)) for (const v of tensor) assert.equal(Math.abs(v), 0);
    assert.equal(pool.taken.length, 1);
    assert.deepEqual(pool.released, pool.taken, "the buffer went back to the pool");
  });

  it("reuses a committed reply's buffer for the next reply, and a take-back replays only the new reply's bytes", () => {
    const running = createRunningMean([48, 16]);
    const pool = spyPool(createTakeBackBuffers([{ data: new Float32Array(N) }]));
    const first = foldReply(running, { headProblem: () => undefined, takeBack: pool });
    const a = values(1);
    pushCut(first.receive(body(10), header)!, a, [64]);
    first.commit();
    const before = sums(running);
    // The next reply gets the same buffer, A's 256 bytes still in it; it stops after 9 bytes (2 values).
    const second = foldReply(running, { headProblem: () => undefined, takeBack: pool });
    pushCut(second.receive(body(30), header)!, values(2), [5]);
    second.takeBack();
    assert.equal(pool.taken.length, 2);
    assert.equal(pool.taken[1], pool.taken[0], "the second reply was kept in the first one's buffer");
    // (x + p) − p: within one rounding of x per element; a replay of A's stale bytes would be off by 30·A.
    sums(running).forEach((tensor, t) => {
      for (const [k, v] of tensor.entries()) {
        assert.ok(Math.abs(v - before[t][k]) <= 1e-9 * Math.abs(before[t][k]), `${t}[${k}]`);
      }
    });
  });

  it("takes back exactly the values before a non-finite one found half-way, from a reused buffer", () => {
    const running = createRunningMean([48, 16]);
    const pool = createBufferPool({ maxBuffers: 1 });
    pool.release(pool.take(N * 4).buffer); // a used buffer is waiting, its bytes those of an earlier reply
    const poisoned = values(3);
    poisoned[50] = Number.NaN; // in the bias, after the whole kernel was folded
    const fold = foldReply(running, { headProblem: () => undefined, takeBack: pool });
    pushCut(fold.receive(body(20), header)!, poisoned, [7, 150, 201]);
    assert.equal(fold.problem, 'tensor "b" contains NaN');
    fold.takeBack();
    running.commit(1);
    for (const tensor of sums(running)) for (const v of tensor) assert.ok(Math.abs(v) <= 1e-9, `${v}`);
    assert.equal(pool.keptBytes, N * 4, "the buffer went back");
  });

  it("bounds what it keeps free by the transfer budget plus one reply", () => {
    const model = 4 << 20;
    const pool = createTakeBackBuffers([{ data: new Uint8Array(model) }], 32 << 20);
    const out = Array.from({ length: 12 }, () => pool.take(model));
    for (const b of out) pool.release(b.buffer);
    assert.equal(pool.keptBytes, 36 << 20);
  });
});
