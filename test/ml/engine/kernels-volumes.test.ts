import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../../src/ml/backend.js";
import { createRng } from "../../../src/ml/rng.js";
import { assertClose, place } from "../../support/engines.js";

/**
 * fbm's kernels for volumes, transposed convolution, upsampling, concatenation and addition against
 * tfjs's cpu backend and its gradients (tf.grads), on seeded random inputs.
 */

before(() => selectBackend({ prefer: "cpu" }));

const rng = createRng(7);
const random = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);

/** tfjs's output size and leading pad of one axis of a window. */
function axis(n: number, k: number, s: number, pad: "valid" | "same"): { out: number; before: number } {
  const out = pad === "same" ? Math.ceil(n / s) : Math.ceil((n - k + 1) / s);
  return { out, before: pad === "same" ? Math.floor(Math.max((out - 1) * s + k - n, 0) / 2) : 0 };
}

const volumes = [
  { batch: 1, d: 4, h: 5, w: 5, c: 1, k: 3, s: 1, pad: "valid", f: 2 },
  { batch: 2, d: 5, h: 4, w: 6, c: 3, k: 3, s: 2, pad: "same", f: 4 },
  { batch: 2, d: 4, h: 4, w: 4, c: 8, k: 2, s: 2, pad: "valid", f: 5 },
  { batch: 1, d: 3, h: 5, w: 4, c: 4, k: 2, s: 1, pad: "same", f: 6 },
] as const;

function geometry(o: (typeof volumes)[number]) {
  const [d, h, w] = [o.d, o.h, o.w].map((n) => axis(n, o.k, o.s, o.pad));
  return { od: d.out, oh: h.out, ow: w.out, pf: d.before, pt: h.before, pl: w.before };
}

describe("conv3d through im2col3d, gemm and col2im3d", () => {
  for (const o of volumes) {
    it(`forward, filter and input gradients match tfjs: batch ${o.batch}, ${o.d}×${o.h}×${o.w}×${o.c}, ${o.k}³, stride ${o.s}, ${o.pad}`, () => {
      const { od, oh, ow, pf, pt, pl } = geometry(o);
      const x = random(o.batch * o.d * o.h * o.w * o.c);
      const kernel = random(o.k ** 3 * o.c * o.f);
      const dy = random(o.batch * od * oh * ow * o.f);
      const K = o.k ** 3 * o.c;
      const M = o.batch * od * oh * ow;
      const { k, ptrs } = place([x, kernel, dy, M * K, M * o.f, K * o.f, K * o.f, M * K, x.length, 256 * 8]);
      const [px, pk, pdy, cols, y, dk, kt, dcols, dx, pack] = ptrs;
      const shape = [o.batch, o.d, o.h, o.w, o.c, o.k, o.k, o.k, o.s, o.s, o.s, pf, pt, pl, od, oh, ow];
      k.kernels.im2col3d(px, ...shape, cols);
      k.kernels.gemm(M, o.f, K, cols, K, 1, pk, o.f, y, o.f, 0, pack);
      k.kernels.gemm(K, o.f, M, cols, 1, K, pdy, o.f, dk, o.f, 0, pack);
      k.kernels.transpose(pk, K, o.f, kt);
      k.kernels.gemm(M, K, o.f, pdy, o.f, 1, kt, K, dcols, K, 0, pack);
      k.kernels.col2im3d(dcols, ...shape, dx);
      const [ty, tdx, tdk] = tf.tidy(() => {
        const tx = tf.tensor5d(x, [o.batch, o.d, o.h, o.w, o.c]);
        const tk = tf.tensor5d(kernel, [o.k, o.k, o.k, o.c, o.f]);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, o.s, o.pad);
        const grads = tf.grads(f)([tx, tk], tf.tensor5d(dy, [o.batch, od, oh, ow, o.f]));
        return [f(tx, tk).dataSync(), grads[0].dataSync(), grads[1].dataSync()];
      });
      assertClose(k.f32(y, M * o.f), ty, 1e-4, "output");
      assertClose(k.f32(dk, K * o.f), tdk, 1e-4, "filter gradient");
      assertClose(k.f32(dx, x.length), tdx, 1e-4, "input gradient");
    });
  }
});

describe("3-D pooling", () => {
  for (const o of volumes) {
    it(`max pooling forward and gradient match tfjs: ${o.d}×${o.h}×${o.w}×${o.c}, window ${o.k}, stride ${o.s}, ${o.pad}`, () => {
      const { od, oh, ow, pf, pt, pl } = geometry(o);
      // Ties and values ≤ 0 are where a pooling gradient goes wrong: round some inputs, keep negatives.
      const x = random(o.batch * o.d * o.h * o.w * o.c).map((v, i) => (i % 3 === 0 ? Math.round(v) : v));
      const outputs = o.batch * od * oh * ow * o.c;
      const dy = random(outputs);
      const { k, ptrs } = place([x, outputs, outputs, dy, x.length]);
      const [px, y, argmax, pdy, dx] = ptrs;
      k.kernels.maxPool3d(
        px,
        o.batch,
        o.d,
        o.h,
        o.w,
        o.c,
        o.k,
        o.k,
        o.k,
        o.s,
        o.s,
        o.s,
        pf,
        pt,
        pl,
        od,
        oh,
        ow,
        y,
        argmax,
      );
      k.kernels.maxPoolBackward(pdy, argmax, outputs, dx, x.length);
      const [ty, tdx] = tf.tidy(() => {
        const tx = tf.tensor5d(x, [o.batch, o.d, o.h, o.w, o.c]);
        const f = (a: tf.Tensor) => tf.maxPool3d(a as tf.Tensor5D, o.k, o.s, o.pad);
        return [
          f(tx).dataSync(),
          tf
            .grad(f)(tx, tf.tensor5d(dy, [o.batch, od, oh, ow, o.c]))
            .dataSync(),
        ];
      });
      assertClose(k.f32(y, outputs), ty, 0, "output");
      assertClose(k.f32(dx, x.length), tdx, 1e-6, "gradient");
    });
  }
  for (const o of volumes.filter((v) => v.pad === "valid")) {
    it(`average pooling forward and gradient match tfjs: ${o.d}×${o.h}×${o.w}×${o.c}, window ${o.k}, stride ${o.s}`, () => {
      const { od, oh, ow } = geometry(o);
      const x = random(o.batch * o.d * o.h * o.w * o.c);
      const outputs = o.batch * od * oh * ow * o.c;
      const dy = random(outputs);
      const { k, ptrs } = place([x, outputs, dy, x.length]);
      const shape = [o.batch, o.d, o.h, o.w, o.c, o.k, o.k, o.k, o.s, o.s, o.s, od, oh, ow];
      k.kernels.avgPool3d(ptrs[0], ...shape, ptrs[1]);
      k.kernels.avgPool3dBackward(ptrs[2], ...shape, ptrs[3]);
      const [ty, tdx] = tf.tidy(() => {
        const f = (a: tf.Tensor) => tf.avgPool3d(a as tf.Tensor5D, o.k, o.s, "valid");
        const tx = tf.tensor5d(x, [o.batch, o.d, o.h, o.w, o.c]);
        return [
          f(tx).dataSync(),
          tf
            .grad(f)(tx, tf.tensor5d(dy, [o.batch, od, oh, ow, o.c]))
            .dataSync(),
        ];
      });
      assertClose(k.f32(ptrs[1], outputs), ty, 1e-5, "output");
      assertClose(k.f32(ptrs[3], x.length), tdx, 1e-5, "gradient");
    });
  }
});

/**
 * A transposed convolution is the adjoint of the convolution whose input has the transposed one's output
 * shape: forward x·Wᵀ then col2im, backward im2col of dy then ·W (input) and its transpose times x (filter).
 */
describe("transposed convolution through gemm, col2im and im2col", () => {
  const cases = [
    { batch: 2, h: 3, w: 4, cin: 3, k: 2, s: 2, pad: "same", f: 4 },
    { batch: 1, h: 4, w: 3, cin: 2, k: 3, s: 1, pad: "valid", f: 3 },
    { batch: 2, h: 3, w: 3, cin: 5, k: 3, s: 2, pad: "same", f: 2 },
    { batch: 1, h: 2, w: 3, cin: 4, k: 3, s: 2, pad: "valid", f: 5 },
  ] as const;
  for (const o of cases) {
    it(`conv2dTranspose forward, input and filter gradients match tfjs: ${o.h}×${o.w}×${o.cin}, ${o.k}², stride ${o.s}, ${o.pad}, ${o.f} filters`, () => {
      const size = (n: number) => (o.pad === "same" ? n * o.s : (n - 1) * o.s + o.k);
      const [H, W] = [size(o.h), size(o.w)];
      const pad = (out: number, n: number) =>
        o.pad === "same" ? Math.floor(Math.max((out - 1) * o.s + o.k - n, 0) / 2) : 0;
      const x = random(o.batch * o.h * o.w * o.cin);
      const kernel = random(o.k * o.k * o.f * o.cin);
      const dy = random(o.batch * H * W * o.f);
      const K = o.k * o.k * o.f;
      const M = o.batch * o.h * o.w;
      const { k, ptrs } = place([x, kernel, dy, K * o.cin, M * K, dy.length, M * K, x.length, K * o.cin, 256 * 8]);
      const [px, pk, pdy, kt, dcols, y, cols, dx, dk, pack] = ptrs;
      const shape = [o.batch, H, W, o.f, o.k, o.k, o.s, o.s, pad(o.h, H), pad(o.w, W), o.h, o.w];
      k.kernels.transpose(pk, K, o.cin, kt);
      k.kernels.gemm(M, K, o.cin, px, o.cin, 1, kt, K, dcols, K, 0, pack);
      k.kernels.col2im(dcols, ...shape, y);
      k.kernels.im2col(pdy, ...shape, cols);
      k.kernels.gemm(M, o.cin, K, cols, K, 1, pk, o.cin, dx, o.cin, 0, pack);
      k.kernels.gemm(K, o.cin, M, cols, 1, K, px, o.cin, dk, o.cin, 0, pack);
      const [ty, tdx, tdk] = tf.tidy(() => {
        const tx = tf.tensor4d(x, [o.batch, o.h, o.w, o.cin]);
        const tk = tf.tensor4d(kernel, [o.k, o.k, o.f, o.cin]);
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [o.batch, H, W, o.f], o.s, o.pad);
        const grads = tf.grads(f)([tx, tk], tf.tensor4d(dy, [o.batch, H, W, o.f]));
        return [f(tx, tk).dataSync(), grads[0].dataSync(), grads[1].dataSync()];
      });
      assertClose(k.f32(y, dy.length), ty, 1e-4, "output");
      assertClose(k.f32(dx, x.length), tdx, 1e-4, "input gradient");
      assertClose(k.f32(dk, K * o.cin), tdk, 1e-4, "filter gradient");
    });
  }

  it("conv3dTranspose forward matches tfjs; its gradients match tfjs's conv3d (tfjs has no conv3dTranspose gradient)", () => {
    const o = { batch: 2, d: 2, h: 3, w: 2, cin: 3, k: 2, s: 2, f: 4 };
    const [D, H, W] = [o.d, o.h, o.w].map((n) => n * o.s); // "same", stride 2, window 2: no padding
    const x = random(o.batch * o.d * o.h * o.w * o.cin);
    const kernel = random(o.k ** 3 * o.f * o.cin);
    const dy = random(o.batch * D * H * W * o.f);
    const K = o.k ** 3 * o.f;
    const M = o.batch * o.d * o.h * o.w;
    const { k, ptrs } = place([x, kernel, dy, K * o.cin, M * K, dy.length, M * K, x.length, K * o.cin, 256 * 8]);
    const [px, pk, pdy, kt, dcols, y, cols, dx, dk, pack] = ptrs;
    const shape = [o.batch, D, H, W, o.f, o.k, o.k, o.k, o.s, o.s, o.s, 0, 0, 0, o.d, o.h, o.w];
    k.kernels.transpose(pk, K, o.cin, kt);
    k.kernels.gemm(M, K, o.cin, px, o.cin, 1, kt, K, dcols, K, 0, pack);
    k.kernels.col2im3d(dcols, ...shape, y);
    k.kernels.im2col3d(pdy, ...shape, cols);
    k.kernels.gemm(M, o.cin, K, cols, K, 1, pk, o.cin, dx, o.cin, 0, pack);
    k.kernels.gemm(K, o.cin, M, cols, 1, K, px, o.cin, dk, o.cin, 0, pack);
    const [ty, tdx, tdk] = tf.tidy(() => {
      const tx = tf.tensor5d(x, [o.batch, o.d, o.h, o.w, o.cin]);
      const tk = tf.tensor5d(kernel, [o.k, o.k, o.k, o.f, o.cin]);
      const tdy = tf.tensor5d(dy, [o.batch, D, H, W, o.f]);
      const forward = tf.conv3dTranspose(tx, tk, [o.batch, D, H, W, o.f], o.s, "same");
      // ⟨convT(x, W), dy⟩ = ⟨x, conv(dy, W)⟩: both gradients are conv3d's, of that scalar.
      const inner = (w: tf.Tensor) => tf.sum(tf.mul(tf.conv3d(tdy, w as tf.Tensor5D, o.s, "same"), tx));
      return [forward.dataSync(), tf.conv3d(tdy, tk, o.s, "same").dataSync(), tf.grad(inner)(tk).dataSync()];
    });
    assertClose(k.f32(y, dy.length), ty, 1e-4, "output");
    assertClose(k.f32(dx, x.length), tdx, 1e-4, "input gradient");
    assertClose(k.f32(dk, K * o.cin), tdk, 1e-4, "filter gradient");
  });
});

/**
 * The reference is tf.gather of each output's source voxel (whose gradient sums into the sources), and in
 * 2-D also tfjs's resizeNearestNeighbor (whose cpu gradient fbm replaces: src/ml/cpu-kernels.ts).
 */
describe("nearest upsampling", () => {
  const shapes = [
    { batch: 2, d: 1, h: 3, w: 4, c: 3, sd: 1, sh: 2, sw: 3 },
    { batch: 2, d: 2, h: 3, w: 2, c: 5, sd: 2, sh: 3, sw: 2 },
    { batch: 1, d: 3, h: 2, w: 2, c: 1, sd: 2, sh: 2, sw: 2 },
  ];
  for (const o of shapes) {
    it(`forward and gradient match tf.gather's: batch ${o.batch}, ${o.d}×${o.h}×${o.w}×${o.c} by ${o.sd}×${o.sh}×${o.sw}`, () => {
      const [D, H, W] = [o.d * o.sd, o.h * o.sh, o.w * o.sw];
      const x = random(o.batch * o.d * o.h * o.w * o.c);
      const dy = random(o.batch * D * H * W * o.c);
      const { k, ptrs } = place([x, dy.length, dy, x.length]);
      const shape = [o.batch, o.d, o.h, o.w, o.c, o.sd, o.sh, o.sw];
      k.kernels.upsample(ptrs[0], ...shape, ptrs[1]);
      k.kernels.upsampleBackward(ptrs[2], ...shape, ptrs[3]);
      const sources: number[] = [];
      for (let b = 0; b < o.batch; b++)
        for (let d = 0; d < D; d++)
          for (let h = 0; h < H; h++)
            for (let w = 0; w < W; w++)
              sources.push(
                ((b * o.d + Math.floor(d / o.sd)) * o.h + Math.floor(h / o.sh)) * o.w + Math.floor(w / o.sw),
              );
      const [ty, tdx] = tf.tidy(() => {
        const f = (a: tf.Tensor) => tf.gather(a.reshape([-1, o.c]), sources).reshape([-1]);
        const tx = tf.tensor1d(x);
        return [f(tx).dataSync(), tf.grad(f)(tx, tf.tensor1d(dy)).dataSync()];
      });
      assertClose(k.f32(ptrs[1], dy.length), ty, 0, "output");
      assertClose(k.f32(ptrs[3], x.length), tdx, 1e-5, "gradient");
      if (o.d === 1) {
        const resized = tf.tidy(() => {
          const f = (a: tf.Tensor) => tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [H, W]);
          const tx = tf.tensor4d(x, [o.batch, o.h, o.w, o.c]);
          return tf
            .grad(f)(tx, tf.tensor4d(dy, [o.batch, H, W, o.c]))
            .dataSync();
        });
        assertClose(k.f32(ptrs[3], x.length), resized, 1e-5, "gradient against tfjs's resizeNearestNeighbor");
      }
    });
  }
});

describe("concatenation and addition as graph nodes", () => {
  it("a skip connection: concat(a, b) then add(concat, c), with `a` also feeding the add, matches tf.grads", () => {
    const [pixels, ca, cb] = [7, 3, 5];
    const a = random(pixels * ca);
    const b = random(pixels * cb);
    const c = random(pixels * (ca + cb));
    const dout = random(pixels * (ca + cb));
    const n = pixels * (ca + cb);
    const { k, ptrs } = place([a, b, c, n, n, dout, pixels * ca, pixels * cb, pixels * ca]);
    const [pa, pb, pc, cat, out, pdout, da, db, da2] = ptrs;
    k.kernels.concatChannels(pa, ca, pb, cb, pixels, cat);
    k.kernels.add(cat, pc, n, out);
    // add's backward: dout reaches both inputs; concat's backward splits it; a second use of `a`
    // (here a second concatenation with itself, whose gradient is the same split) is accumulated.
    k.kernels.splitChannels(pdout, ca, cb, pixels, da, db);
    k.kernels.splitChannels(pdout, ca, cb, pixels, da2, db);
    k.kernels.accumulate(da, da2, pixels * ca);
    const [tout, tda, tdb, tdc] = tf.tidy(() => {
      const f = (ta: tf.Tensor, tb: tf.Tensor, tc: tf.Tensor) => tf.add(tf.concat([ta, tb], 1), tc);
      const twice = (ta: tf.Tensor, tb: tf.Tensor, tc: tf.Tensor) =>
        tf.add(f(ta, tb, tc), tf.concat([ta, tf.zerosLike(tb)], 1));
      const args = [tf.tensor2d(a, [pixels, ca]), tf.tensor2d(b, [pixels, cb]), tf.tensor2d(c, [pixels, ca + cb])];
      const grads = tf.grads((x, y, z) => twice(x, y, z))(args, tf.tensor2d(dout, [pixels, ca + cb]));
      return [f(args[0], args[1], args[2]).dataSync(), ...grads.map((g) => g.dataSync())];
    });
    assertClose(k.f32(out, n), tout, 1e-6, "output");
    assertClose(k.f32(da, pixels * ca), tda, 1e-6, "gradient of a (two consumers, summed)");
    assertClose(k.f32(db, pixels * cb), tdb, 1e-6, "gradient of b");
    assertClose(k.f32(pdout, n), tdc, 1e-6, "gradient of c (add passes it through)");
  });
});
