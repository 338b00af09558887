import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeParams, encodeParams } from "../../../src/researcher/run/params-json.js";

describe("breakpoint parameters", () => {
  it("round-trip bit-exact, NaN and -0 included", () => {
    const params = [
      { name: "w", shape: [2, 2], dtype: "float32" as const, data: Float32Array.from([1.5, -0, NaN, 3e-38]) },
      { name: "n", shape: [1], dtype: "int32" as const, data: Int32Array.from([-7]) },
    ];
    const back = decodeParams(JSON.parse(JSON.stringify(encodeParams(params))));
    assert.deepEqual(
      back.map((t) => [t.name, t.shape, t.dtype]),
      [
        ["w", [2, 2], "float32"],
        ["n", [1], "int32"],
      ],
    );
    assert.ok(Object.is(back[0].data[1], -0));
    assert.ok(Number.isNaN(back[0].data[2]));
    assert.equal(back[0].data[3], Math.fround(3e-38));
    assert.equal(back[1].data[0], -7);
  });
});
