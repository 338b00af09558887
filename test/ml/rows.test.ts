import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRowSource } from "../../src/ml/batches.js";
import { readRowInto, rowReader } from "../../src/ml/rows.js";
import type { Dataset } from "../../src/ml/types.js";

/** Every value of row `row` as the Dataset contract defines it: float32(x · xScale). */
function expectedRow(data: Dataset, row: number, width: number): Float32Array {
  const k = data.xScale ?? 1;
  return Float32Array.from({ length: width }, (_, c) => data.x[row * width + c] * k);
}

describe("rowReader", () => {
  const width = 6;
  const rows = 50;
  // Every byte value appears, so the scaled table is checked entry by entry.
  const bytes = Uint8Array.from({ length: rows * width }, (_, i) => (i * 37 + 11) % 256);
  const floats = Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i) * 100);
  const y = new Float32Array(rows);
  const cases: [string, Dataset][] = [
    ["bytes at 1/255 (idx, images)", { x: bytes, xScale: 1 / 255, sampleShape: [2, 3, 1], y, rows }],
    ["bytes at an odd scale", { x: bytes, xScale: 0.7, sampleShape: [width], y, rows }],
    ["bytes unscaled", { x: bytes, sampleShape: [width], y, rows }],
    ["floats unscaled", { x: floats, sampleShape: [width], y, rows }],
    ["floats scaled", { x: floats, xScale: 1 / 3, sampleShape: [width], y, rows }],
  ];

  for (const [label, data] of cases) {
    it(`reads ${label} as float32(x · xScale), bit for bit, at any offset`, () => {
      const read = rowReader(data);
      for (const row of [0, 7, rows - 1]) {
        const out = new Float32Array(width + 3).fill(-1);
        read(row, out, 2);
        assert.deepEqual(out.subarray(2, 2 + width), expectedRow(data, row, width));
        assert.deepEqual([out[0], out[1], out[width + 2]], [-1, -1, -1], "writes outside the row");
        const again = new Float32Array(width);
        readRowInto(data, row, again, 0);
        assert.deepEqual(again, expectedRow(data, row, width));
      }
    });
  }

  it("goes through readRow for rows on disk", () => {
    const data: Dataset = {
      x: new Float32Array(0),
      sampleShape: [width],
      y,
      rows,
      readRow(row, out, offset) {
        for (let c = 0; c < width; c++) out[offset + c] = row * 10 + c;
      },
    };
    const out = new Float32Array(2 * width);
    rowReader(data)(4, out, width);
    assert.deepEqual([...out.subarray(width)], [40, 41, 42, 43, 44, 45]);
  });

  it("gathers a batch through the source in row order", () => {
    const data = cases[0][1];
    const out = new Float32Array(3 * width);
    createRowSource(data).xInto([9, 0, 9], out);
    assert.deepEqual(out.subarray(0, width), expectedRow(data, 9, width));
    assert.deepEqual(out.subarray(width, 2 * width), expectedRow(data, 0, width));
    assert.deepEqual(out.subarray(2 * width), expectedRow(data, 9, width));
  });
});
