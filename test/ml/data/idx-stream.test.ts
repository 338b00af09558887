import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeImages, writeIdx } from "../../../scripts/lib/synthetic-images.js";
import { selectBackend } from "../../../src/ml/backend.js";
import { loadIdx } from "../../../src/ml/data/idx.js";
import { openIdx } from "../../../src/ml/data/idx-stream.js";
import { columnStats } from "../../../src/ml/normalize.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { trainLocal } from "../../../src/ml/train.js";

const dir = mkdtempSync(join(tmpdir(), "fbm-idx-stream-"));
const size = 8;
const images = join(dir, "images.idx");
const labels = join(dir, "labels.idx");
before(async () => {
  await selectBackend({ prefer: "cpu" });
  writeIdx(images, labels, makeImages({ count: 90, size, seed: 3 }), size);
  writeIdx(join(dir, "images.gz"), join(dir, "labels.gz"), makeImages({ count: 30, size, seed: 4 }), size);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("openIdx", () => {
  it("reads images from disk row by row, holding only the labels", async () => {
    const streamed = await openIdx(images, labels);
    try {
      assert.equal(streamed.x.length, 0);
      assert.equal(streamed.rows, 90);
      assert.deepEqual(streamed.sampleShape, [size, size, 1]);
      const inMemory = await loadIdx(images, labels);
      assert.deepEqual(streamed.y, inMemory.y);
      const row = new Float32Array(size * size);
      streamed.readRow!(57, row, 0);
      assert.deepEqual(
        [...row],
        [...inMemory.x.subarray(57 * 64, 58 * 64)].map((v) => v * inMemory.xScale!).map(Math.fround),
      );
      assert.deepEqual(columnStats(streamed), columnStats(inMemory));
    } finally {
      streamed.close!();
    }
  });

  it("trains to exactly the same parameters as the in-memory dataset", async () => {
    const plan = parsePlan({
      data: { input: { height: size, width: size, channels: 1 } },
      model: [
        { conv2d: { filters: 2, kernelSize: 3, activation: "relu" } },
        { flatten: {} },
        { dense: { units: 3, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.01 },
    });
    const args = {
      epochs: 1,
      updates: 0,
      batchSize: 16,
      testRatio: 0.2,
      testOnGlobal: false,
      testOnLocal: true,
      metrics: ["accuracy"],
      seed: 2,
      fedproxMu: 0,
    };
    const streamed = await openIdx(images, labels);
    const a = await trainLocal({ plan, data: streamed, args });
    streamed.close!();
    const b = await trainLocal({ plan, data: await loadIdx(images, labels), args });
    assert.deepEqual(
      a.params.map((p) => [...p.data]),
      b.params.map((p) => [...p.data]),
    );
    assert.deepEqual(a.localMetrics, b.localMetrics);
  });

  it("loads gzip files into memory instead (they cannot be read at an offset)", async () => {
    const data = await openIdx(join(dir, "images.gz"), join(dir, "labels.gz"));
    assert.equal(data.readRow, undefined);
    assert.equal(data.rows, 30);
  });

  it("checks the header and the file size before training", async () => {
    const short = join(dir, "short.idx");
    const bytes = Buffer.alloc(16 + 10);
    bytes.writeUInt32BE(0x803, 0);
    bytes.writeUInt32BE(90, 4);
    bytes.writeUInt32BE(size, 8);
    bytes.writeUInt32BE(size, 12);
    writeFileSync(short, bytes);
    await assert.rejects(
      openIdx(short, labels),
      /short\.idx": the file is truncated: its header announces 90 images of 8×8/,
    );
    await assert.rejects(openIdx(labels, labels), /not an IDX images file/);
  });

  it("refuses reads after close", async () => {
    const data = await openIdx(images, labels);
    data.close!();
    assert.throws(() => data.readRow!(0, new Float32Array(64), 0), /closed/);
  });
});
