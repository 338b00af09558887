import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../src/common/errors.js";
import { applyNormalization, columnStats, combineStats } from "../../src/ml/normalize.js";
import type { Dataset } from "../../src/ml/types.js";

const table = (rows: number[][], features = ["a", "b"]): Dataset => ({
  x: Float32Array.from(rows.flat()),
  y: new Float32Array(rows.length),
  rows: rows.length,
  sampleShape: [features.length],
  features,
});

describe("columnStats", () => {
  it("sums count, values, squares, min and max per feature column", () => {
    const stats = columnStats(
      table([
        [1, 10],
        [3, 10],
        [5, 10],
      ]),
    );
    assert.deepEqual(stats, [
      { name: "a", count: 3, sum: 9, sumSquares: 35, min: 1, max: 5 },
      { name: "b", count: 3, sum: 30, sumSquares: 300, min: 10, max: 10 },
    ]);
  });

  it('keeps one pseudo-column "pixels" for image data', () => {
    const images: Dataset = {
      x: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
      y: new Float32Array(2),
      rows: 2,
      sampleShape: [2, 2, 1],
    };
    assert.deepEqual(columnStats(images), [{ name: "pixels", count: 8, sum: 28, sumSquares: 140, min: 0, max: 7 }]);
  });
});

describe("combineStats", () => {
  const nodeA = columnStats(
    table([
      [1, 10],
      [3, 10],
    ]),
  );
  const nodeB = columnStats(table([[5, 10]]));

  it("standard: shift is the global mean, scale the population std (1 for a constant column)", () => {
    const norm = combineStats([nodeA, nodeB], "standard");
    assert.deepEqual(norm.columns, ["a", "b"]);
    assert.equal(norm.shift[0], 3);
    assert.ok(Math.abs(norm.scale[0] - Math.sqrt(8 / 3)) < 1e-12);
    assert.deepEqual([norm.shift[1], norm.scale[1]], [10, 1]);
  });

  it("minmax: shift is the global min, scale max − min (1 when equal)", () => {
    const norm = combineStats([nodeA, nodeB], "minmax");
    assert.deepEqual(norm, { method: "minmax", columns: ["a", "b"], shift: [1, 10], scale: [4, 1] });
  });

  it("minmax: a node that withheld a column (count 0, min = max = 0) takes no part in its range", () => {
    const withheld = [
      { name: "a", count: 0, sum: 0, sumSquares: 0, min: 0, max: 0 },
      { name: "b", count: 0, sum: 0, sumSquares: 0, min: 0, max: 0 },
    ];
    const norm = combineStats([nodeA, nodeB, withheld], "minmax");
    assert.deepEqual(
      [norm.shift, norm.scale],
      [
        [1, 10],
        [4, 1],
      ],
    );
  });

  it("none: identity", () => {
    assert.deepEqual(combineStats([nodeA], "none"), {
      method: "none",
      columns: ["a", "b"],
      shift: [0, 0],
      scale: [1, 1],
    });
  });

  it("rejects nodes whose columns differ", () => {
    const other = columnStats(table([[1, 2]], ["a", "c"]));
    assert.throws(
      () => combineStats([nodeA, other], "standard"),
      (e) => e instanceof InputError && /node 2 has columns \[a, c\], node 1 has \[a, b\]/.test(e.message),
    );
  });
});

describe("applyNormalization", () => {
  it("returns new x = (x − shift) / scale and leaves the input untouched", () => {
    const data = table([
      [1, 10],
      [3, 20],
    ]);
    const out = applyNormalization(data, { method: "minmax", columns: ["a", "b"], shift: [1, 10], scale: [2, 10] });
    assert.deepEqual([...out.x], [0, 0, 1, 1]);
    assert.deepEqual([...data.x], [1, 10, 3, 20]);
    assert.equal(out.y, data.y);
  });

  it("scales every pixel of image data alike", () => {
    const images: Dataset = {
      x: Float32Array.from([0, 2, 4, 6]),
      y: new Float32Array(1),
      rows: 1,
      sampleShape: [2, 2, 1],
    };
    const out = applyNormalization(images, { method: "standard", columns: ["pixels"], shift: [2], scale: [2] });
    assert.deepEqual([...out.x], [-1, 0, 1, 2]);
  });

  it("rejects a normalization made for other columns", () => {
    assert.throws(
      () =>
        applyNormalization(table([[1, 2]]), { method: "standard", columns: ["a", "z"], shift: [0, 0], scale: [1, 1] }),
      /normalization is for columns \[a, z\], the data has \[a, b\]/,
    );
  });
});
