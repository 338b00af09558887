import assert from "node:assert/strict";
import { createKernelInstance, type KernelInstance } from "../../src/ml/engine/kernels.js";
import { type LocalTrainResult, trainLocal } from "../../src/ml/train.js";

/** What the engine tests share: one engine forced for a training, kernel memory set-up, a tolerance check. */

/** `trainLocal` with FBM_ENGINE set to `engine` for that call only. */
export async function trainWith(
  engine: "tfjs" | "kernels",
  options: Parameters<typeof trainLocal>[0],
): Promise<LocalTrainResult> {
  process.env.FBM_ENGINE = engine;
  try {
    return await trainLocal(options);
  } finally {
    delete process.env.FBM_ENGINE;
  }
}

/** Copies arrays into a fresh kernels instance's memory (a number: that many floats, zero); returns their pointers. */
export function place(values: (Float32Array | number)[]): { k: KernelInstance; ptrs: number[] } {
  const k = createKernelInstance();
  const ptrs = values.map((v) => k.alloc(4 * (typeof v === "number" ? v : v.length)));
  for (const [i, v] of values.entries()) if (typeof v !== "number") k.f32(ptrs[i], v.length).set(v);
  return { k, ptrs };
}

/** Largest difference relative to max(1, |expected|) at most `tolerance`. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++)
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  assert.ok(worst <= tolerance, `${what}: largest difference ${worst} > ${tolerance}`);
}
