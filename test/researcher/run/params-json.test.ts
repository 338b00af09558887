import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeParams, encodeParams, jsonWithParams } from "../../../src/researcher/run/params-json.js";

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

  it("are written in pieces that join into JSON.stringify's text, none larger than 1 MiB", () => {
    // 1M + 1 values: 4,000,004 bytes, not a multiple of 3 nor of a piece; a view into a larger buffer.
    const big = new Float32Array(1_000_003).map((_, i) => Math.sin(i) * 1e6).subarray(2);
    const params = [
      { name: "w", shape: [big.length], dtype: "float32" as const, data: big },
      { name: "e", shape: [0], dtype: "float32" as const, data: new Float32Array(0) },
      { name: 'q"\\', shape: [1], dtype: "int32" as const, data: Int32Array.from([-7]) },
    ];
    const rest = { version: 2, planId: "p", nested: { a: [1, "x"] }, none: undefined };
    const pieces = [...jsonWithParams(params, rest)];
    assert.equal(pieces.join(""), JSON.stringify({ params: encodeParams(params), ...rest }));
    assert.ok(pieces.length > 6);
    assert.ok(pieces.every((p) => p.length <= 1 << 20));
    assert.equal(
      [...jsonWithParams(params.slice(2), {})].join(""),
      JSON.stringify({ params: encodeParams(params.slice(2)) }),
    );
    const back = decodeParams(JSON.parse(pieces.join("")).params);
    assert.deepEqual(back[0].data, big);
  });
});
