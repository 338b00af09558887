// AssemblyScript: direct 2-D convolution for a multiple of 8 filters (NHWC, kernels [kh, kw, c, f]), with no
// patch matrix (issue 28). Through im2col, a U-Net's convolution with 8 or 16 filters wrote and then read
// kh·kw·c floats per output position (14 MB for 24 channels at 32×32, batch 16) for a product only 8 or
// 16 columns wide; here each output position reads its window straight from the zero-padded input
// (kh runs of kw·c contiguous floats), whose rows stay in L1, and the register block is 6 positions × 8
// filters (12 f32x4 accumulators, 6 splats and 2 loads per 12 multiply-adds, against 4 + 2 per 8 for
// the multiply's 4 × 8 block), each a `madd` (fused in the relaxed-SIMD build, as in gemm.ts). The filter
// gradient is the same sum turned round: 6 kernel values × 8 filters accumulated over the positions of one
// output row at a time, both operands read in order.

import { madd } from "./gemm";

/**
 * xp[b, h + PT, w + PL, c] = x[b, h, w, c] where that falls inside [Hp, Wp], 0 elsewhere: the input as a
 * convolution with padding (PT, PL) reads it, so every window lies inside xp.
 */
export function padImage(
  x: usize, batch: i32, H: i32, W: i32, C: i32, PT: i32, PL: i32, Hp: i32, Wp: i32, xp: usize,
): void {
  const pixel = (<usize>C) << 2;
  const outRow = <usize>Wp * pixel;
  const w0 = max(0, -PL);
  const w1 = min(W, Wp - PL);
  for (let b = 0; b < batch; b++) {
    const ib = x + <usize>b * <usize>H * <usize>W * pixel;
    const ob = xp + <usize>b * <usize>Hp * outRow;
    for (let hp = 0; hp < Hp; hp++) {
      const row = ob + <usize>hp * outRow;
      const h = hp - PT;
      if (h < 0 || h >= H || w1 <= w0) {
        memory.fill(row, 0, outRow);
        continue;
      }
      const left = <usize>(w0 + PL) * pixel;
      if (left > 0) memory.fill(row, 0, left);
      memory.copy(row + left, ib + (<usize>h * <usize>W + <usize>w0) * pixel, <usize>(w1 - w0) * pixel);
      const right = left + <usize>(w1 - w0) * pixel;
      if (right < outRow) memory.fill(row + right, 0, outRow - right);
    }
  }
}

/**
 * y[b, oh, ow, f] = Σ_{kh, kw, c} xp[b, oh·SH + kh, ow·SW + kw, c] · w[kh, kw, c, f] over a padded input
 * (padImage), no bias or activation. F must be a multiple of 8. Blocks of 6 windows along an output row
 * (one pointer and a stride: fewer registers live than 6 pointers, which ran at half the speed); a row's
 * last block ends at its last window, overlapping the one before (those outputs are written twice, equal).
 */
export function convForward(
  xp: usize, batch: i32, Hp: i32, Wp: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32, OH: i32, OW: i32,
  w: usize, F: i32, y: usize,
): void {
  const span = KW * C;
  const kernelRow = (<usize>Wp * <usize>C) << 2;
  const wRow = (<usize>F) << 2;
  const step = (<usize>SW * <usize>C) << 2;
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const row = xp + (<usize>b * <usize>Hp + <usize>(oh * SH)) * kernelRow;
      const out = y + ((<usize>b * <usize>OH + <usize>oh) * <usize>OW) * wRow;
      if (OW < 6) {
        for (let ow = 0; ow < OW; ow++) {
          for (let f = 0; f < F; f += 8) {
            forward1x8(row + <usize>ow * step, KH, span, kernelRow, w + (<usize>f << 2), wRow, out + <usize>ow * wRow + (<usize>f << 2));
          }
        }
        continue;
      }
      for (let ow = 0; ow < OW; ow += 6) {
        const at = min(ow, OW - 6);
        for (let f = 0; f < F; f += 8) {
          forwardRow6x8(row + <usize>at * step, step, KH, span, kernelRow, w + (<usize>f << 2), wRow, out + <usize>at * wRow + (<usize>f << 2), wRow);
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function forwardRow6x8(
  p: usize, step: usize, KH: i32, span: i32, kernelRow: usize, w: usize, wRow: usize, y: usize, yRow: usize,
): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  let wk = w;
  const bytes = (<usize>span) << 2;
  for (let kh = 0; kh < KH; kh++) {
    const start = p + <usize>kh * kernelRow;
    for (let q: usize = start, end = start + bytes; q < end; q += 4) {
      const b0 = v128.load(wk);
      const b1 = v128.load(wk, 16);
      let a = q;
      let x = v128.load32_splat(a);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      a += step;
      x = v128.load32_splat(a);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      a += step;
      x = v128.load32_splat(a);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      a += step;
      x = v128.load32_splat(a);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      a += step;
      x = v128.load32_splat(a);
      c40 = madd(x, b0, c40);
      c41 = madd(x, b1, c41);
      a += step;
      x = v128.load32_splat(a);
      c50 = madd(x, b0, c50);
      c51 = madd(x, b1, c51);
      wk += wRow;
    }
  }
  v128.store(y, c00); v128.store(y, c01, 16);
  let r = y + yRow;
  v128.store(r, c10); v128.store(r, c11, 16);
  r += yRow;
  v128.store(r, c20); v128.store(r, c21, 16);
  r += yRow;
  v128.store(r, c30); v128.store(r, c31, 16);
  r += yRow;
  v128.store(r, c40); v128.store(r, c41, 16);
  r += yRow;
  v128.store(r, c50); v128.store(r, c51, 16);
}

// @ts-ignore: decorator
@inline
function forward1x8(p: usize, KH: i32, span: i32, kernelRow: usize, w: usize, wRow: usize, y: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let wk = w;
  const bytes = (<usize>span) << 2;
  for (let kh = 0; kh < KH; kh++) {
    const o = <usize>kh * kernelRow;
    for (let t: usize = o, end = o + bytes; t < end; t += 4) {
      const x = v128.load32_splat(p + t);
      c0 = madd(x, v128.load(wk), c0);
      c1 = madd(x, v128.load(wk, 16), c1);
      wk += wRow;
    }
  }
  v128.store(y, c0);
  v128.store(y, c1, 16);
}

/**
 * The filter gradient dw[kh, kw, c, f] = Σ_{b, oh, ow} xp[b, oh·SH + kh, ow·SW + kw, c] · dy[b, oh, ow, f]
 * (overwrites dw) from the padded input the forward pass read. F must be a multiple of 8. One output row
 * at a time, so its output gradient and the kh input rows it reads stay in L1 while every block of dw
 * passes over them.
 */
export function convFilterGradient(
  xp: usize, batch: i32, Hp: i32, Wp: i32, C: i32, KH: i32, KW: i32, SH: i32, SW: i32, OH: i32, OW: i32,
  dy: usize, F: i32, dw: usize,
): void {
  const span = KW * C;
  const wRow = (<usize>F) << 2;
  memory.fill(dw, 0, (<usize>KH * <usize>span) * wRow);
  const kernelRow = (<usize>Wp * <usize>C) << 2;
  const step = (<usize>SW * <usize>C) << 2;
  for (let b = 0; b < batch; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const row = xp + (<usize>b * <usize>Hp + <usize>(oh * SH)) * kernelRow;
      const d = dy + (((<usize>b * <usize>OH + <usize>oh) * <usize>OW) * wRow);
      for (let kh = 0; kh < KH; kh++) {
        const x = row + <usize>kh * kernelRow;
        const out = dw + <usize>kh * <usize>span * wRow;
        let t = 0;
        for (; t + 6 <= span; t += 6) {
          for (let f = 0; f < F; f += 8) {
            gradient6x8(OW, x + (<usize>t << 2), step, d + (<usize>f << 2), wRow, out + <usize>t * wRow + (<usize>f << 2), wRow);
          }
        }
        for (; t < span; t++) {
          for (let f = 0; f < F; f += 8) gradient1x8(OW, x + (<usize>t << 2), step, d + (<usize>f << 2), wRow, out + <usize>t * wRow + (<usize>f << 2));
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function gradient6x8(n: i32, x: usize, step: usize, d: usize, dRow: usize, out: usize, outRow: usize): void {
  const r1 = out + outRow, r2 = r1 + outRow, r3 = r2 + outRow, r4 = r3 + outRow, r5 = r4 + outRow;
  let c00 = v128.load(out), c01 = v128.load(out, 16);
  let c10 = v128.load(r1), c11 = v128.load(r1, 16);
  let c20 = v128.load(r2), c21 = v128.load(r2, 16);
  let c30 = v128.load(r3), c31 = v128.load(r3, 16);
  let c40 = v128.load(r4), c41 = v128.load(r4, 16);
  let c50 = v128.load(r5), c51 = v128.load(r5, 16);
  let xp = x;
  let dp = d;
  for (let p = 0; p < n; p++) {
    const b0 = v128.load(dp);
    const b1 = v128.load(dp, 16);
    let v = v128.load32_splat(xp);
    c00 = madd(v, b0, c00);
    c01 = madd(v, b1, c01);
    v = v128.load32_splat(xp, 4);
    c10 = madd(v, b0, c10);
    c11 = madd(v, b1, c11);
    v = v128.load32_splat(xp, 8);
    c20 = madd(v, b0, c20);
    c21 = madd(v, b1, c21);
    v = v128.load32_splat(xp, 12);
    c30 = madd(v, b0, c30);
    c31 = madd(v, b1, c31);
    v = v128.load32_splat(xp, 16);
    c40 = madd(v, b0, c40);
    c41 = madd(v, b1, c41);
    v = v128.load32_splat(xp, 20);
    c50 = madd(v, b0, c50);
    c51 = madd(v, b1, c51);
    xp += step;
    dp += dRow;
  }
  v128.store(out, c00); v128.store(out, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
  v128.store(r4, c40); v128.store(r4, c41, 16);
  v128.store(r5, c50); v128.store(r5, c51, 16);
}

// @ts-ignore: decorator
@inline
function gradient1x8(n: i32, x: usize, step: usize, d: usize, dRow: usize, out: usize): void {
  let c0 = v128.load(out), c1 = v128.load(out, 16);
  let xp = x;
  let dp = d;
  for (let p = 0; p < n; p++) {
    const v = v128.load32_splat(xp);
    c0 = madd(v, v128.load(dp), c0);
    c1 = madd(v, v128.load(dp, 16), c1);
    xp += step;
    dp += dRow;
  }
  v128.store(out, c0);
  v128.store(out, c1, 16);
}
