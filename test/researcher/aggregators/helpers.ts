import assert from "node:assert/strict";
import type { Update } from "../../../src/researcher/aggregators/index.js";

/** Float32 tensors from nested literals. */
export const f32 = (...tensors: number[][]): Float32Array[] => tensors.map((t) => Float32Array.from(t));

export const update = (nodeId: string, samples: number, params: number[][], controlDelta?: number[][]): Update => ({
  nodeId,
  samples,
  params: f32(...params),
  ...(controlDelta ? { controlDelta: f32(...controlDelta) } : {}),
});

/** Asserts tensors equal expected literals within `tolerance` (float32 rounding). */
export function assertTensors(actual: Float32Array[], expected: number[][], tolerance = 1e-6): void {
  assert.equal(actual.length, expected.length, "tensor count");
  actual.forEach((tensor, t) => {
    assert.ok(tensor instanceof Float32Array, `tensor ${t} is a Float32Array`);
    assert.equal(tensor.length, expected[t].length, `length of tensor ${t}`);
    tensor.forEach((value, k) => {
      const want = expected[t][k];
      assert.ok(
        Math.abs(value - want) <= tolerance * Math.max(1, Math.abs(want)),
        `tensor ${t}[${k}] is ${value}, expected ${want}`,
      );
    });
  });
}

/** Plain nested arrays of an update list, to check inputs are left as they were. */
export const snapshot = (updates: Update[]) =>
  updates.map((u) => ({
    ...u,
    params: u.params.map((t) => Array.from(t)),
    controlDelta: u.controlDelta?.map((t) => Array.from(t)),
  }));
