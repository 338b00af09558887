import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { createRng } from "../../../src/ml/rng.js";
import { assertClose, place } from "../../support/engines.js";

/** fbm's WebAssembly kernels against plain loops and tfjs's cpu backend, on seeded random inputs. */

before(() => selectBackend({ prefer: "cpu" }));

const rng = createRng(42);
const random = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);

describe("gemm()", () => {
  const sizes = [
    [1, 1, 1],
    [3, 5, 2],
    [4, 8, 7],
    [5, 9, 300],
    [17, 13, 9],
    [64, 24, 600],
    [2, 130, 1],
  ];
  for (const [M, N, K] of sizes) {
    for (const transposedA of [false, true]) {
      it(`${M}×${K} · ${K}×${N}, A ${transposedA ? "read transposed" : "row-major"}, with and without accumulation`, () => {
        const a = random(M * K);
        const b = random(K * N);
        const c0 = random(M * N);
        const { k, ptrs } = place([a, b, c0, 256 * 8]);
        // Transposed: a holds Aᵀ (K × M), read with row stride 1 and column stride M.
        const at = (i: number, kk: number) => (transposedA ? a[kk * M + i] : a[i * K + kk]);
        const expected = new Float32Array(M * N);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let kk = 0; kk < K; kk++) s += at(i, kk) * b[kk * N + j];
            expected[i * N + j] = s;
          }
        const [ars, acs] = transposedA ? [1, M] : [K, 1];
        k.kernels.gemm(M, N, K, ptrs[0], ars, acs, ptrs[1], N, ptrs[2], N, 1, ptrs[3]);
        assertClose(
          k.f32(ptrs[2], M * N),
          expected.map((v, i) => v + c0[i]),
          1e-4,
          "C + A·B",
        );
        k.kernels.gemm(M, N, K, ptrs[0], ars, acs, ptrs[1], N, ptrs[2], N, 0, ptrs[3]);
        assertClose(k.f32(ptrs[2], M * N), expected, 1e-4, "A·B");
      });
    }
  }

  it("B read through its transpose: transpose() then gemm gives A·Bᵀ", () => {
    const [M, N, K] = [6, 10, 12];
    const a = random(M * K);
    const bt = random(N * K); // B is bt's transpose
    const { k, ptrs } = place([a, bt, K * N, M * N, 256 * 8]);
    k.kernels.transpose(ptrs[1], N, K, ptrs[2]);
    k.kernels.gemm(M, N, K, ptrs[0], K, 1, ptrs[2], N, ptrs[3], N, 0, ptrs[4]);
    const expected = tf.tidy(() => tf.matMul(tf.tensor2d(a, [M, K]), tf.tensor2d(bt, [N, K]), false, true).dataSync());
    assertClose(k.f32(ptrs[3], M * N), expected, 1e-4, "A·Bᵀ");
  });
});

/** Every shape of the table: valid/same, strides 1 and 2, 1–8 channels, batch 1–3. */
const windows = [
  { batch: 1, h: 5, w: 5, c: 1, k: 3, s: 1, pad: "valid", f: 2 },
  { batch: 2, h: 7, w: 6, c: 3, k: 3, s: 2, pad: "same", f: 4 },
  { batch: 3, h: 6, w: 6, c: 8, k: 2, s: 2, pad: "valid", f: 5 },
  { batch: 2, h: 5, w: 7, c: 4, k: 3, s: 1, pad: "same", f: 8 },
  { batch: 1, h: 8, w: 8, c: 5, k: 2, s: 1, pad: "same", f: 3 },
] as const;

function geometry(o: (typeof windows)[number]) {
  const out = (n: number) => (o.pad === "same" ? Math.ceil(n / o.s) : Math.ceil((n - o.k + 1) / o.s));
  const [oh, ow] = [out(o.h), out(o.w)];
  const pad = (outN: number, n: number) =>
    o.pad === "same" ? Math.floor(Math.max((outN - 1) * o.s + o.k - n, 0) / 2) : 0;
  return { oh, ow, pt: pad(oh, o.h), pl: pad(ow, o.w) };
}

describe("convolution through im2col, gemm and col2im", () => {
  for (const o of windows) {
    it(`conv2d forward, filter and input gradients match tfjs cpu: batch ${o.batch}, ${o.h}×${o.w}×${o.c}, ${o.k}×${o.k}, stride ${o.s}, ${o.pad}`, () => {
      const { oh, ow, pt, pl } = geometry(o);
      const x = random(o.batch * o.h * o.w * o.c);
      const kernel = random(o.k * o.k * o.c * o.f);
      const dy = random(o.batch * oh * ow * o.f);
      const K = o.k * o.k * o.c;
      const M = o.batch * oh * ow;
      const { k, ptrs } = place([x, kernel, dy, M * K, M * o.f, K * o.f, K * o.f, M * K, x.length, 256 * 8]);
      const [px, pk, pdy, cols, y, dk, kt, dcols, dx, pack] = ptrs;
      const shape = [o.batch, o.h, o.w, o.c, o.k, o.k, o.s, o.s, pt, pl, oh, ow];
      k.kernels.im2col(px, ...shape, cols);
      k.kernels.gemm(M, o.f, K, cols, K, 1, pk, o.f, y, o.f, 0, pack);
      k.kernels.gemm(K, o.f, M, cols, 1, K, pdy, o.f, dk, o.f, 0, pack);
      k.kernels.transpose(pk, K, o.f, kt);
      k.kernels.gemm(M, K, o.f, pdy, o.f, 1, kt, K, dcols, K, 0, pack);
      k.kernels.col2im(dcols, ...shape, dx);
      const [ty, tdx, tdk] = tf.tidy(() => {
        const tx = tf.tensor4d(x, [o.batch, o.h, o.w, o.c]);
        const tk = tf.tensor4d(kernel, [o.k, o.k, o.c, o.f]);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, o.s, o.pad);
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b))(
          [tx, tk],
          tf.tensor4d(dy, [o.batch, oh, ow, o.f]),
        );
        return [f(tx, tk).dataSync(), grads[0].dataSync(), grads[1].dataSync()];
      });
      assertClose(k.f32(y, M * o.f), ty, 1e-4, "output");
      assertClose(k.f32(dk, K * o.f), tdk, 1e-4, "filter gradient");
      assertClose(k.f32(dx, x.length), tdx, 1e-4, "input gradient");
    });
  }
});

describe("max pooling", () => {
  for (const o of windows) {
    it(`forward and gradient match tfjs cpu: batch ${o.batch}, ${o.h}×${o.w}×${o.c}, window ${o.k}, stride ${o.s}, ${o.pad}`, () => {
      const { oh, ow, pt, pl } = geometry(o);
      // Ties and values ≤ 0 are where a pooling gradient goes wrong: round some inputs, keep negatives.
      const x = random(o.batch * o.h * o.w * o.c).map((v, i) => (i % 3 === 0 ? Math.round(v) : v));
      const outputs = o.batch * oh * ow * o.c;
      const dy = random(outputs);
      const { k, ptrs } = place([x, outputs, outputs, dy, x.length]);
      const [px, y, argmax, pdy, dx] = ptrs;
      k.kernels.maxPool(px, o.batch, o.h, o.w, o.c, o.k, o.k, o.s, o.s, pt, pl, oh, ow, y, argmax);
      k.kernels.maxPoolBackward(pdy, argmax, outputs, dx, x.length);
      const [ty, tdx] = tf.tidy(() => {
        const tx = tf.tensor4d(x, [o.batch, o.h, o.w, o.c]);
        const f = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, o.k, o.s, o.pad);
        return [
          f(tx).dataSync(),
          tf
            .grad(f)(tx, tf.tensor4d(dy, [o.batch, oh, ow, o.c]))
            .dataSync(),
        ];
      });
      assertClose(k.f32(y, outputs), ty, 0, "output");
      assertClose(k.f32(dx, x.length), tdx, 1e-6, "gradient");
    });
  }
});

describe("average pooling", () => {
  for (const o of windows.filter((w) => w.pad === "valid")) {
    it(`forward and gradient match tfjs cpu: batch ${o.batch}, ${o.h}×${o.w}×${o.c}, window ${o.k}, stride ${o.s}`, () => {
      const { oh, ow } = geometry(o);
      const x = random(o.batch * o.h * o.w * o.c);
      const outputs = o.batch * oh * ow * o.c;
      const dy = random(outputs);
      const { k, ptrs } = place([x, outputs, dy, x.length]);
      const shape = [o.batch, o.h, o.w, o.c, o.k, o.k, o.s, o.s, oh, ow];
      k.kernels.avgPool(ptrs[0], ...shape, ptrs[1]);
      k.kernels.avgPoolBackward(ptrs[2], ...shape, ptrs[3]);
      const [ty, tdx] = tf.tidy(() => {
        const f = (a: tf.Tensor) => tf.avgPool(a as tf.Tensor4D, o.k, o.s, "valid");
        const tx = tf.tensor4d(x, [o.batch, o.h, o.w, o.c]);
        return [
          f(tx).dataSync(),
          tf
            .grad(f)(tx, tf.tensor4d(dy, [o.batch, oh, ow, o.c]))
            .dataSync(),
        ];
      });
      assertClose(k.f32(ptrs[1], outputs), ty, 1e-5, "output");
      assertClose(k.f32(ptrs[3], x.length), tdx, 1e-5, "gradient");
    });
  }
});

describe("activations and losses", () => {
  it("biasActivation and activationBackward agree with tfjs for each activation", () => {
    const [rows, cols] = [3, 7];
    for (const [act, name] of [
      [1, "relu"],
      [2, "sigmoid"],
      [3, "tanh"],
      [5, "relu6"],
      [6, "elu"],
      [4, "softmax"],
    ] as const) {
      const z = random(rows * cols).map((v) => v * 8);
      const bias = random(cols);
      const dy = random(rows * cols);
      const { k, ptrs } = place([z, bias, dy, rows * cols]);
      k.kernels.biasActivation(ptrs[0], rows, cols, ptrs[1], act);
      const [ty, tdz] = tf.tidy(() => {
        const f = (t: tf.Tensor) => {
          const s = tf.add(t, tf.tensor1d(bias)) as tf.Tensor2D;
          const fns: Record<string, (u: tf.Tensor2D) => tf.Tensor> = {
            relu: tf.relu,
            sigmoid: tf.sigmoid,
            tanh: tf.tanh,
            relu6: tf.relu6,
            elu: tf.elu,
            softmax: (u) => tf.softmax(u),
          };
          return fns[name](s);
        };
        const tz = tf.tensor2d(z, [rows, cols]);
        return [
          f(tz).dataSync(),
          tf
            .grad(f)(tz, tf.tensor2d(dy, [rows, cols]))
            .dataSync(),
        ];
      });
      assertClose(k.f32(ptrs[0], rows * cols), ty, 1e-5, `${name} forward`);
      if (act === 4) k.kernels.softmaxBackward(ptrs[2], ptrs[0], rows, cols, ptrs[3]);
      else {
        k.kernels.activationBackward(ptrs[2], ptrs[0], rows * cols, act);
        k.f32(ptrs[3], rows * cols).set(k.f32(ptrs[2], rows * cols));
      }
      assertClose(k.f32(ptrs[3], rows * cols), tdz, 1e-5, `${name} backward`);
    }
  });
});

describe("dropout()", () => {
  it("keeps about 1 − rate of the values, scaled by 1/(1 − rate); the backward pass applies the same mask", () => {
    const [rows, cols, rate] = [50, 200, 0.3];
    const x = random(rows * cols);
    const dy = random(rows * cols);
    const { k, ptrs } = place([x, rows * cols, rows * cols, dy, rows * cols]);
    const [px, out, mask, pdy, dx] = ptrs;
    k.kernels.dropout(px, rows, cols, rate, 1234, 0, out, mask);
    k.kernels.multiply(pdy, mask, rows * cols, dx);
    const m = k.f32(mask, rows * cols);
    const kept = m.filter((v) => v !== 0);
    assert.ok(Math.abs(kept.length / m.length - (1 - rate)) < 0.02, `kept ${kept.length / m.length}`);
    assert.ok(kept.every((v) => Math.abs(v - 1 / (1 - rate)) < 1e-6));
    const y = k.f32(out, rows * cols);
    const g = k.f32(dx, rows * cols);
    for (let i = 0; i < m.length; i++) {
      assert.equal(y[i], Math.fround(x[i] * m[i]));
      assert.equal(g[i], Math.fround(dy[i] * m[i]));
    }
  });

  it("draws each row's mask from (seed, row): a slice of the batch gets the rows' own masks", () => {
    const [rows, cols] = [6, 9];
    const x = random(rows * cols);
    const { k, ptrs } = place([x, rows * cols, rows * cols, rows * cols, rows * cols]);
    k.kernels.dropout(ptrs[0], rows, cols, 0.5, 99, 0, ptrs[1], ptrs[2]);
    // Rows 2..5 alone, as a thread holding that slice would run them.
    k.kernels.dropout(ptrs[0] + 2 * cols * 4, rows - 2, cols, 0.5, 99, 2, ptrs[3], ptrs[4]);
    assert.deepEqual(k.f32(ptrs[4], (rows - 2) * cols), k.f32(ptrs[2] + 2 * cols * 4, (rows - 2) * cols));
    k.kernels.dropout(ptrs[0], rows, cols, 0.5, 100, 0, ptrs[3], ptrs[4]);
    assert.notDeepEqual(k.f32(ptrs[4], rows * cols), k.f32(ptrs[2], rows * cols));
  });
});
