import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/ml/backend.js";
import { createRowSource, splitRows } from "../../src/ml/batches.js";

describe("splitRows", () => {
  it("splits by the test ratio, the same way for the same seed", () => {
    const a = splitRows(100, 0.2, 1);
    assert.equal(a.test.length, 20);
    assert.equal(a.train.length, 80);
    assert.deepEqual(splitRows(100, 0.2, 1), a);
    assert.notDeepEqual(splitRows(100, 0.2, 2).test, a.test);
    const all = [...a.train, ...a.test].sort((x, y) => x - y);
    assert.deepEqual(
      all,
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it("keeps at least one row on each side when a ratio is given, none in test at ratio 0", () => {
    assert.deepEqual([splitRows(3, 0.01, 1).test.length, splitRows(3, 0.99, 1).train.length], [1, 1]);
    assert.equal(splitRows(10, 0, 1).test.length, 0);
    assert.deepEqual(
      splitRows(10, 0, 1).train,
      Int32Array.from({ length: 10 }, (_, i) => i),
    );
    assert.throws(() => splitRows(10, 1, 1), /test ratio 1/);
  });
});

describe("createRowSource", () => {
  it("gathers rows into a batch tensor, normalizing on the way", async () => {
    await selectBackend({ prefer: "cpu" });
    const data = {
      x: Float32Array.from([1, 10, 2, 20, 3, 30]),
      y: Float32Array.from([0, 1, 0]),
      rows: 3,
      sampleShape: [2],
      features: ["a", "b"],
    };
    const source = createRowSource(data, { method: "standard", columns: ["a", "b"], shift: [1, 10], scale: [1, 10] });
    const x = source.x(Int32Array.from([2, 0]));
    assert.deepEqual(x.shape, [2, 2]);
    assert.deepEqual([...(await x.data())], [2, 2, 0, 0]);
    assert.deepEqual([...source.y(Int32Array.from([1, 2]))], [1, 0]);
    x.dispose();
    assert.deepEqual([...data.x], [1, 10, 2, 20, 3, 30]);
  });

  it("shapes image rows as [n, h, w, c]", async () => {
    await selectBackend({ prefer: "cpu" });
    const source = createRowSource({
      x: new Float32Array(2 * 12),
      y: new Float32Array(2),
      rows: 2,
      sampleShape: [2, 3, 2],
    });
    const x = source.x(Int32Array.from([1]));
    assert.deepEqual(x.shape, [1, 2, 3, 2]);
    tf.dispose(x);
  });

  it("reads byte pixels through xScale, with and without normalization", async () => {
    await selectBackend({ prefer: "cpu" });
    const data = {
      x: Uint8Array.from([0, 255, 51, 102]),
      xScale: 1 / 255,
      y: Float32Array.from([0, 1]),
      rows: 2,
      sampleShape: [2, 1, 1],
    };
    const plain = createRowSource(data).x(Int32Array.from([1, 0]));
    assert.deepEqual(
      [...(await plain.data())].map((v) => +v.toFixed(6)),
      [0.2, 0.4, 0, 1],
    );
    const scaled = createRowSource(data, { method: "standard", columns: ["pixels"], shift: [0.5], scale: [0.5] }).x(
      Int32Array.from([0]),
    );
    assert.deepEqual(
      [...(await scaled.data())].map((v) => +v.toFixed(6)),
      [-1, 1],
    );
    tf.dispose([plain, scaled]);
  });

  it("gathers byte rows to the same float32s as byte × xScale, by words or byte by byte", () => {
    // Every byte value, in rows 8 wide (read four bytes a load) and 7 wide (byte by byte), from a
    // 4-byte-aligned array and from one starting at an odd offset (byte by byte too).
    const buffer = new Uint8Array(4 + 8 * 64);
    for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 37 + 11) & 255;
    for (const [x, width] of [
      [buffer.subarray(4), 8],
      [buffer.subarray(4, 4 + 7 * 64), 7],
      [buffer.subarray(1, 1 + 8 * 64), 8],
    ] as const) {
      for (const xScale of [1 / 255, 1, 0.1]) {
        const rows = x.length / width;
        const data = { x, xScale, y: new Float32Array(rows), rows, sampleShape: [width] };
        const indices = Int32Array.from([rows - 1, 0, 5, 5, 17]);
        const out = new Float32Array(indices.length * width);
        createRowSource(data).xInto(indices, out);
        const expected = Float32Array.from(
          [...indices].flatMap((r) => [...x.subarray(r * width, (r + 1) * width)].map((v) => v * xScale)),
        );
        assert.deepEqual(out, expected, `width ${width}, offset ${x.byteOffset}, scale ${xScale}`);
      }
    }
  });

  it("rejects a dataset whose sizes do not agree", () => {
    assert.throws(
      () => createRowSource({ x: new Float32Array(5), y: new Float32Array(2), rows: 2, sampleShape: [2] }),
      /5 values and 2 labels do not make 2 rows/,
    );
  });
});
