import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toSafetensors } from "../../src/ml/safetensors.js";
import { readSafetensors } from "../support/safetensors-reader.js";

describe("toSafetensors", () => {
  it("writes tensors that an independent reader gets back exactly, with metadata", () => {
    const bytes = toSafetensors(
      [
        { name: "0.dense.kernel", shape: [2, 3], dtype: "float32", data: Float32Array.from([1, -2, 3.5, 0, 1e-7, -0]) },
        { name: "0.dense.bias", shape: [3], dtype: "float32", data: Float32Array.from([0.25, 0.5, 0.75]) },
        { name: "steps", shape: [], dtype: "int32", data: Int32Array.from([42]) },
      ],
      { plan_id: "abc" },
    );
    const read = readSafetensors(bytes);
    assert.deepEqual(read.metadata, { plan_id: "abc" });
    assert.deepEqual(read.tensors["0.dense.kernel"], {
      dtype: "F32",
      shape: [2, 3],
      values: [1, -2, 3.5, 0, Math.fround(1e-7), -0],
    });
    assert.deepEqual(read.tensors["0.dense.bias"].values, [0.25, 0.5, 0.75]);
    assert.deepEqual(read.tensors.steps, { dtype: "I32", shape: [], values: [42] });
  });

  it("aligns the data to 8 bytes and covers it exactly", () => {
    const bytes = toSafetensors([{ name: "x", shape: [3], dtype: "float32", data: new Float32Array(3) }]);
    const n = Number(Buffer.from(bytes).readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    assert.equal(bytes.length, 8 + n + 12);
  });
});
