import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { arch } from "node:os";
import { describe, it } from "node:test";
import { createKernelInstance, type KernelsVariant, kernelsVariant } from "../../../src/ml/engine/kernels.js";
import { createRng } from "../../../src/ml/rng.js";
import { assertClose } from "../../support/engines.js";

/**
 * The kernels' two builds (kernels.ts `KernelsVariant`): the relaxed-SIMD one, whose matrix multiply uses
 * fused multiply-adds, and the plain-SIMD one. The engine tests run on whichever this process chose
 * (`FBM_KERNELS=simd` forces the plain one); these compare the two directly.
 */

const variants: KernelsVariant[] = ["relaxed-simd", "simd"];

/** C = A·B on `variant`, A row-major or read transposed; a fresh instance each call. */
function multiply(
  variant: KernelsVariant,
  M: number,
  N: number,
  K: number,
  a: Float32Array,
  b: Float32Array,
  transposedA: boolean,
) {
  const k = createKernelInstance(undefined, variant);
  const [pa, pb, pc, pack] = [a.length, b.length, M * N, 256 * 8].map((n) => k.alloc(4 * n));
  k.f32(pa, a.length).set(a);
  k.f32(pb, b.length).set(b);
  const [ars, acs] = transposedA ? [1, M] : [K, 1];
  k.kernels.gemm(M, N, K, pa, ars, acs, pb, N, pc, N, 0, pack);
  return Float32Array.from(k.f32(pc, M * N));
}

describe("kernels builds", () => {
  it("this runtime trains with the relaxed-SIMD build unless FBM_KERNELS=simd", () => {
    assert.equal(kernelsVariant(), process.env.FBM_KERNELS === "simd" ? "simd" : "relaxed-simd");
  });

  it("both builds multiply within float rounding of a float64 product, each the same every time", () => {
    const rng = createRng(5);
    // The MLP's shapes at 32 rows, and edges: 4-row and 1-row blocks, 8- and 4-column slivers, scalar
    // columns, K past one 256-deep pass.
    for (const [M, N, K] of [
      [32, 128, 784],
      [7, 13, 300],
      [5, 10, 64],
    ]) {
      for (const transposedA of [false, true]) {
        const a = Float32Array.from({ length: M * K }, () => rng.next() - 0.5);
        const b = Float32Array.from({ length: K * N }, () => rng.next() - 0.5);
        const expected = new Float64Array(M * N);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let kk = 0; kk < K; kk++) s += (transposedA ? a[kk * M + i] : a[i * K + kk]) * b[kk * N + j];
            expected[i * N + j] = s;
          }
        for (const variant of variants) {
          const c = multiply(variant, M, N, K, a, b, transposedA);
          assertClose(c, expected, 1e-5, `${variant} ${M}×${K}·${K}×${N}`);
          assert.deepEqual(multiply(variant, M, N, K, a, b, transposedA), c, `${variant}: the same bits again`);
        }
      }
    }
  });

  // x64 CPUs with FMA3 fuse relaxed_madd in V8 (elsewhere it may be a multiply and an add: both allowed).
  const fma = arch() === "x64" && /\bfma\b/.test(readFileSync("/proc/cpuinfo", "utf8").split("\n\n")[0] ?? "");
  it("the relaxed-SIMD build's multiply fuses on an x64 CPU with FMA, the plain one rounds the product", {
    skip: !fma,
  }, () => {
    // C = 1·(−1) + (1 + 2⁻²³)(1 − 2⁻²³) = −2⁻⁴⁶ exactly when fused; the product alone rounds to 1, giving 0.
    const [M, N, K] = [4, 8, 2];
    const a = new Float32Array(M * K);
    const b = new Float32Array(K * N);
    for (let i = 0; i < M; i++) [a[i * K], a[i * K + 1]] = [1, 1 + 2 ** -23];
    for (let j = 0; j < N; j++) [b[j], b[N + j]] = [-1, 1 - 2 ** -23];
    assert.deepEqual([...multiply("relaxed-simd", M, N, K, a, b, false)], Array(M * N).fill(-(2 ** -46)));
    assert.deepEqual([...multiply("simd", M, N, K, a, b, false)], Array(M * N).fill(0));
  });
});
