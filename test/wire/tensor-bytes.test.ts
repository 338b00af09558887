import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NamedTensor } from "../../src/ml/types.js";
import { fromBytes, fromChunks, readValues, toChunks, toParamsHeader, WireError } from "../../src/wire/index.js";

function tensor(
  name: string,
  shape: number[],
  fill = (i: number) => i * 0.5 - 3,
  dtype: "float32" | "int32" = "float32",
): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === "int32" ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = dtype === "int32" ? i - 7 : fill(i);
  return { name, shape, dtype, data };
}

function roundTrip(tensors: NamedTensor[], chunkBytes?: number): NamedTensor[] {
  return fromBytes(toParamsHeader(tensors), [...toChunks(tensors, chunkBytes)]);
}

describe("tensor bytes", () => {
  const cases: [string, NamedTensor[], number | undefined][] = [
    ["no tensors at all", [], undefined],
    ["an empty tensor between two others", [tensor("a", [3]), tensor("empty", [0, 4]), tensor("b", [2, 2])], undefined],
    ["a scalar", [tensor("s", [])], undefined],
    ["odd shapes", [tensor("k", [3, 5, 7]), tensor("b", [1, 1, 1, 13])], undefined],
    ["int32 tensors", [tensor("i", [4, 3], undefined, "int32")], undefined],
    ["chunk boundaries inside a tensor", [tensor("a", [5]), tensor("b", [7, 3])], 8],
    ["chunks of one value", [tensor("a", [9])], 4],
    ["many tensors", Array.from({ length: 200 }, (_, i) => tensor(`t${i}`, [i % 5, 3])), 64],
  ];
  for (const [name, tensors, chunkBytes] of cases) {
    it(`round-trips ${name}`, () => {
      const back = roundTrip(tensors, chunkBytes);
      assert.equal(back.length, tensors.length);
      back.forEach((t, i) => {
        assert.equal(t.name, tensors[i].name);
        assert.deepEqual(t.shape, tensors[i].shape);
        assert.equal(t.dtype, tensors[i].dtype);
        assert.deepEqual([...t.data], [...tensors[i].data]);
      });
    });
  }

  it("sends whole chunks inside a tensor as views of its bytes, without copying", () => {
    const data = new Float32Array(8).map((_, i) => i);
    const chunks = [...toChunks([{ name: "a", shape: [8], dtype: "float32", data }], 16)];
    assert.equal(chunks.length, 2);
    for (const chunk of chunks) assert.equal(chunk.buffer, data.buffer);
  });

  it("sizes the one copied chunk of a small model to the model, not to the chunk size", () => {
    const tensors = [tensor("a", [3]), tensor("b", [2])];
    const chunks = [...toChunks(tensors)];
    assert.deepEqual(
      chunks.map((c) => c.byteLength),
      [20],
    );
    assert.equal(chunks[0].buffer.byteLength, 20);
  });

  it("cuts chunks of exactly the requested size but the last", () => {
    const chunks = [...toChunks([tensor("a", [10])], 16)];
    assert.deepEqual(
      chunks.map((c) => c.length),
      [16, 16, 8],
    );
  });

  it("writes little-endian float32", () => {
    const [chunk] = toChunks([{ name: "x", shape: [1], dtype: "float32", data: new Float32Array([1]) }]);
    assert.deepEqual([...chunk], [0, 0, 0x80, 0x3f]);
  });

  it("keeps NaN and infinities bit-exact (checking them is the receiver's job)", () => {
    const back = roundTrip([{ name: "x", shape: [3], dtype: "float32", data: new Float32Array([NaN, Infinity, -0]) }]);
    assert.ok(Number.isNaN(back[0].data[0]));
    assert.equal(back[0].data[1], Infinity);
    assert.ok(Object.is(back[0].data[2], -0));
  });

  it("rejects a truncated stream", () => {
    const tensors = [tensor("a", [100])];
    const chunks = [...toChunks(tensors, 64)];
    assert.throws(
      () => fromBytes(toParamsHeader(tensors), chunks.slice(0, -1)),
      (e: Error) => e instanceof WireError && /ended after 384 of 400 bytes/.test(e.message),
    );
  });

  it("rejects bytes past the header's total", () => {
    const tensors = [tensor("a", [2])];
    const assembler = fromChunks(toParamsHeader(tensors));
    assert.throws(() => assembler.push(new Uint8Array(12)), /longer than its header/);
  });

  it("rejects a header whose total disagrees with its shapes", () => {
    assert.throws(
      () => fromChunks({ tensors: [{ name: "a", shape: [2, 2], dtype: "float32" }], totalBytes: 12 }),
      /says 12 bytes but its tensors need 16/,
    );
  });

  it("rejects parameters over the size limit before reading any", () => {
    const header = toParamsHeader([tensor("a", [1000])]);
    assert.throws(() => fromChunks(header, { maxBytes: 1000 }), /exceed the limit of 1000 bytes/);
  });

  it("refuses a tensor whose data does not fit its shape", () => {
    assert.throws(
      () => toParamsHeader([{ name: "a", shape: [3], dtype: "float32", data: new Float32Array(2) }]),
      /has 2 values but shape \[3\] needs 3/,
    );
  });
});

describe("fromBytes memory", () => {
  it("returns tensors that share one buffer instead of copying each (little-endian hosts)", () => {
    const tensors = [tensor("a", [3]), tensor("b", [2, 2])];
    const back = fromBytes(toParamsHeader(tensors), [...toChunks(tensors, 8)]);
    assert.equal(back[0].data.buffer, back[1].data.buffer);
    assert.equal(back[1].data.byteOffset, 12);
  });
});

/** The bytes of `tensors` re-cut into chunks of `sizes` bytes (cycled), each at an odd offset of a buffer of its own. */
function recut(tensors: NamedTensor[], sizes: number[]): Uint8Array[] {
  const all = Buffer.concat([...toChunks(tensors)]);
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < all.length; i++) {
    const n = Math.min(sizes[i % sizes.length], all.length - at);
    const home = new Uint8Array(n + 3);
    home.set(all.subarray(at, at + n), 1);
    out.push(home.subarray(1, 1 + n));
    at += n;
  }
  return out;
}

describe("readValues", () => {
  const tensors = [tensor("a", [5]), tensor("empty", [0]), tensor("i", [2, 3], undefined, "int32"), tensor("b", [7])];

  /** Every value `readValues` passes on, written back into tensors shaped like `tensors`. */
  function collect(chunks: Uint8Array[]): { values: number[][]; runs: number } {
    const values = tensors.map((t) => new Array<number>(t.data.length).fill(Number.NaN));
    let runs = 0;
    const reader = readValues(toParamsHeader(tensors), (t, start, run) => {
      assert.equal(run instanceof Int32Array, tensors[t].dtype === "int32");
      run.forEach((v, k) => {
        values[t][start + k] = v;
      });
      runs++;
    });
    for (const chunk of chunks) reader.push(chunk);
    assert.deepEqual(reader.finish(), []);
    return { values, runs };
  }

  for (const sizes of [[4], [1], [3, 5], [7], [13, 2, 1], [1 << 20]]) {
    it(`passes on every value exactly once in chunks of ${sizes.join(", ")} bytes at unaligned offsets`, () => {
      const { values } = collect(recut(tensors, sizes));
      assert.deepEqual(
        values,
        tensors.map((t) => [...t.data]),
      );
    });
  }

  it("passes aligned chunks on as views of the chunk (no copy)", () => {
    const big = [tensor("w", [1024])];
    const chunks = [...toChunks(big, 1024)];
    const seen: ArrayBufferLike[] = [];
    const reader = readValues(toParamsHeader(big), (_t, _start, run) => seen.push(run.buffer));
    for (const chunk of chunks) reader.push(chunk);
    assert.deepEqual(
      seen,
      chunks.map((c) => c.buffer),
    );
  });

  it("rejects a stream longer or shorter than its header, like fromChunks", () => {
    const header = toParamsHeader([tensor("a", [2])]);
    assert.throws(() => readValues(header, () => {}).push(new Uint8Array(12)), /longer than its header/);
    const short = readValues(header, () => {});
    short.push(new Uint8Array(6));
    assert.throws(() => short.finish(), /ended after 6 of 8 bytes/);
    assert.throws(() => readValues(header, () => {}, { maxBytes: 4 }), /exceed the limit of 4 bytes/);
  });
});
