// AssemblyScript: batch and layer normalization over channels-last values, forward and backward. A batch
// of images is `rows` = batch·pixels positions of C channels; a dense layer's batch has one position each.
// Formulas follow tfjs's layers (biased variance, ε inside the square root, γ·x̂ + β).

import { addFloats } from "./floats";

/** mean[c] and biased variance[c] over the rows (two passes: the variance of x − mean, as tf.moments). */
export function channelMoments(x: usize, rows: i32, C: i32, mean: usize, variance: usize): void {
  const bytes = (<usize>C) << 2;
  memory.fill(mean, 0, bytes);
  memory.fill(variance, 0, bytes);
  for (let r = 0; r < rows; r++) addFloats(mean, x + <usize>r * bytes, C);
  const inv: f32 = 1 / <f32>rows;
  scaleRow(mean, C, inv);
  for (let r = 0; r < rows; r++) {
    const row = x + <usize>r * bytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      const d = f32x4.sub(v128.load(row + o), v128.load(mean + o));
      v128.store(variance + o, f32x4.add(v128.load(variance + o), f32x4.mul(d, d)));
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      const d = load<f32>(row + o) - load<f32>(mean + o);
      store<f32>(variance + o, load<f32>(variance + o) + d * d);
    }
  }
  scaleRow(variance, C, inv);
}

/**
 * y = γ·x̂ + β with x̂ = (x − mean)·invStd per channel, invStd = 1/√(variance + ε) written to `invStd`.
 * x̂ is kept in `xhat` for the backward pass unless it is 0 (inference); γ or β 0 means 1 or 0.
 */
export function normalize(
  x: usize, rows: i32, C: i32, mean: usize, variance: usize, eps: f32, invStd: usize, gamma: usize, beta: usize,
  xhat: usize, y: usize,
): void {
  for (let c = 0; c < C; c++) {
    const o = <usize>c << 2;
    store<f32>(invStd + o, 1 / Mathf.sqrt(load<f32>(variance + o) + eps));
  }
  const bytes = (<usize>C) << 2;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * bytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      const h = f32x4.mul(f32x4.sub(v128.load(x + at + o), v128.load(mean + o)), v128.load(invStd + o));
      if (xhat != 0) v128.store(xhat + at + o, h);
      let v = gamma != 0 ? f32x4.mul(h, v128.load(gamma + o)) : h;
      if (beta != 0) v = f32x4.add(v, v128.load(beta + o));
      v128.store(y + at + o, v);
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      const h = (load<f32>(x + at + o) - load<f32>(mean + o)) * load<f32>(invStd + o);
      if (xhat != 0) store<f32>(xhat + at + o, h);
      store<f32>(y + at + o, affine(h, gamma, beta, o));
    }
  }
}

/**
 * Batch normalization's backward pass through the batch statistics: dβ = Σ dy, dγ = Σ dy·x̂ over the rows
 * (written whatever γ and β are: the caller passes scratch for missing ones), and unless dx is 0
 * dx = γ·invStd/N · (N·dy − dβ − x̂·dγ).
 */
export function batchNormBackward(
  dy: usize, xhat: usize, rows: i32, C: i32, gamma: usize, invStd: usize, dgamma: usize, dbeta: usize, dx: usize,
): void {
  channelSums(dy, xhat, rows, C, dgamma, dbeta);
  if (dx != 0) batchNormDx(dy, xhat, rows, C, gamma, invStd, dgamma, dbeta, <f32>rows, dx);
}

/**
 * Batch normalization's input gradient dx = γ·invStd/n · (n·dy − dβ − x̂·dγ) over `rows` positions, with
 * dβ, dγ and n the whole batch's: this thread's rows only when threads share a batch (the sums come from
 * every thread's `batchNormBackward`, engine/trainer.ts).
 */
export function batchNormDx(
  dy: usize, xhat: usize, rows: i32, C: i32, gamma: usize, invStd: usize, dgamma: usize, dbeta: usize, n: f32,
  dx: usize,
): void {
  const bytes = (<usize>C) << 2;
  const inv: f32 = 1 / n;
  const nv = f32x4.splat(n);
  const invv = f32x4.splat(inv);
  const one = f32x4.splat(1);
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * bytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      const g = gamma != 0 ? v128.load(gamma + o) : one;
      const k = f32x4.mul(f32x4.mul(g, v128.load(invStd + o)), invv);
      const d = f32x4.sub(
        f32x4.sub(f32x4.mul(nv, v128.load(dy + at + o)), v128.load(dbeta + o)),
        f32x4.mul(v128.load(xhat + at + o), v128.load(dgamma + o)),
      );
      v128.store(dx + at + o, f32x4.mul(k, d));
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      const g: f32 = gamma != 0 ? load<f32>(gamma + o) : 1;
      const k = g * load<f32>(invStd + o) * inv;
      const d = n * load<f32>(dy + at + o) - load<f32>(dbeta + o) - load<f32>(xhat + at + o) * load<f32>(dgamma + o);
      store<f32>(dx + at + o, k * d);
    }
  }
}

/** Keras's moving average: moving −= (moving − value)·(1 − momentum), for n floats. */
export function movingAverage(n: i32, momentum: f32, moving: usize, value: usize): void {
  const decay: f32 = 1 - momentum;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const m = load<f32>(moving + o);
    store<f32>(moving + o, m - (m - load<f32>(value + o)) * decay);
  }
}

/**
 * Layer normalization of each row over its C channels: y = γ·x̂ + β (γ, β per channel, 0 for none), with
 * x̂ kept in `xhat` and each row's 1/√(variance + ε) in `invStd` (both unless 0: inference).
 * It is groupNorm with one group per position (samples = rows, pixels = 1, G = 1), to the bit, forward and
 * backward; it keeps its own loops because that group path ran 10–30% slower on layer norm's shapes
 * (forward + backward, C = 7 to 128, rows 64 to 12544: mostly the forward pass).
 */
export function layerNorm(
  x: usize, rows: i32, C: i32, eps: f32, gamma: usize, beta: usize, xhat: usize, invStd: usize, y: usize,
): void {
  const bytes = (<usize>C) << 2;
  const inv: f32 = 1 / <f32>C;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * bytes;
    let sum: f32 = 0;
    for (let c = 0; c < C; c++) sum += load<f32>(x + at + (<usize>c << 2));
    const mean = sum * inv;
    let squares: f32 = 0;
    for (let c = 0; c < C; c++) {
      const d = load<f32>(x + at + (<usize>c << 2)) - mean;
      squares += d * d;
    }
    const s: f32 = 1 / Mathf.sqrt(squares * inv + eps);
    if (invStd != 0) store<f32>(invStd + (<usize>r << 2), s);
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      const h = (load<f32>(x + at + o) - mean) * s;
      if (xhat != 0) store<f32>(xhat + at + o, h);
      store<f32>(y + at + o, affine(h, gamma, beta, o));
    }
  }
}

/**
 * Layer normalization's backward pass: dβ = Σ dy and dγ = Σ dy·x̂ over the rows (scratch for missing ones),
 * and unless dx is 0, per row with g = γ·dy: dx = invStd/C · (C·g − Σ g − x̂·Σ g·x̂).
 */
export function layerNormBackward(
  dy: usize, xhat: usize, invStd: usize, rows: i32, C: i32, gamma: usize, dgamma: usize, dbeta: usize, dx: usize,
): void {
  const bytes = (<usize>C) << 2;
  memory.fill(dgamma, 0, bytes);
  memory.fill(dbeta, 0, bytes);
  const n: f32 = <f32>C;
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * bytes;
    addFloats(dbeta, dy + at, C);
    let a: f32 = 0;
    let b: f32 = 0;
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      const d = load<f32>(dy + at + o);
      const h = load<f32>(xhat + at + o);
      store<f32>(dgamma + o, load<f32>(dgamma + o) + d * h);
      const g = scaled(d, gamma, o);
      a += g;
      b += g * h;
    }
    if (dx == 0) continue;
    const k = load<f32>(invStd + (<usize>r << 2)) / n;
    for (let c = 0; c < C; c++) {
      const o = <usize>c << 2;
      const g = scaled(load<f32>(dy + at + o), gamma, o);
      store<f32>(dx + at + o, k * (n * g - a - load<f32>(xhat + at + o) * b));
    }
  }
}

/**
 * Group normalization (Wu & He 2018, as Keras 3's GroupNormalization): each of `samples` samples holds
 * `pixels` positions of C channels, cut into G groups of C/G consecutive channels; each (sample, group) is
 * normalized over its pixels·C/G values with their own mean and biased variance (two passes, ε inside the
 * square root), then y = γ·x̂ + β per channel (0: none). x̂ is kept in `xhat` and 1/√(variance + ε) per
 * (sample, group) in `invStd`, both unless 0 (inference).
 */
export function groupNorm(
  x: usize, samples: i32, pixels: i32, C: i32, G: i32, eps: f32, gamma: usize, beta: usize, xhat: usize,
  invStd: usize, y: usize,
): void {
  const bytes = (<usize>C) << 2;
  const per = C / G;
  const inv: f32 = 1 / <f32>(pixels * per);
  for (let s = 0; s < samples; s++) {
    const base = <usize>s * <usize>pixels * bytes;
    for (let g = 0; g < G; g++) {
      const first = base + (<usize>(g * per) << 2);
      let sum: f32 = 0;
      for (let p = 0; p < pixels; p++) sum += sumFloats(x + first + <usize>p * bytes, per);
      const mean = sum * inv;
      let squares: f32 = 0;
      for (let p = 0; p < pixels; p++) {
        const row = x + first + <usize>p * bytes;
        for (let c = 0; c < per; c++) {
          const d = load<f32>(row + (<usize>c << 2)) - mean;
          squares += d * d;
        }
      }
      const sd: f32 = 1 / Mathf.sqrt(squares * inv + eps);
      if (invStd != 0) store<f32>(invStd + ((<usize>s * <usize>G + <usize>g) << 2), sd);
      const channel = <usize>(g * per) << 2;
      for (let p = 0; p < pixels; p++) {
        const at = first + <usize>p * bytes;
        for (let c = 0; c < per; c++) {
          const o = <usize>c << 2;
          const h = (load<f32>(x + at + o) - mean) * sd;
          if (xhat != 0) store<f32>(xhat + at + o, h);
          store<f32>(y + at + o, affine(h, gamma, beta, channel + o));
        }
      }
    }
  }
}

/**
 * Group normalization's backward pass: dβ = Σ dy and dγ = Σ dy·x̂ per channel over every sample and
 * position (scratch for missing ones), and unless dx is 0, per (sample, group) of N = pixels·C/G values with
 * g = γ·dy: dx = invStd/N · (N·g − Σ g − x̂·Σ g·x̂), layer normalization's formula over a group.
 */
export function groupNormBackward(
  dy: usize, xhat: usize, invStd: usize, samples: i32, pixels: i32, C: i32, G: i32, gamma: usize, dgamma: usize,
  dbeta: usize, dx: usize,
): void {
  channelSums(dy, xhat, samples * pixels, C, dgamma, dbeta);
  if (dx == 0) return;
  const bytes = (<usize>C) << 2;
  const per = C / G;
  const n: f32 = <f32>(pixels * per);
  for (let s = 0; s < samples; s++) {
    const base = <usize>s * <usize>pixels * bytes;
    for (let g = 0; g < G; g++) {
      const channel = <usize>(g * per) << 2;
      const first = base + channel;
      const gammaG = gamma != 0 ? gamma + channel : 0; // the group's γ (0: none)
      let a: f32 = 0;
      let b: f32 = 0;
      for (let p = 0; p < pixels; p++) {
        const at = first + <usize>p * bytes;
        for (let c = 0; c < per; c++) {
          const o = <usize>c << 2;
          const gd = scaled(load<f32>(dy + at + o), gammaG, o);
          a += gd;
          b += gd * load<f32>(xhat + at + o);
        }
      }
      const k = load<f32>(invStd + ((<usize>s * <usize>G + <usize>g) << 2)) / n;
      for (let p = 0; p < pixels; p++) {
        const at = first + <usize>p * bytes;
        for (let c = 0; c < per; c++) {
          const o = <usize>c << 2;
          const gd = scaled(load<f32>(dy + at + o), gammaG, o);
          store<f32>(dx + at + o, k * (n * gd - a - load<f32>(xhat + at + o) * b));
        }
      }
    }
  }
}

/**
 * The per-channel sums of a normalization's backward pass over `rows` rows of C channels: dβ = Σ dy and
 * dγ = Σ dy·x̂ (overwritten; batch and group normalization share them, each then forms its own dx).
 */
// @ts-ignore: decorator
@inline
function channelSums(dy: usize, xhat: usize, rows: i32, C: i32, dgamma: usize, dbeta: usize): void {
  const bytes = (<usize>C) << 2;
  memory.fill(dgamma, 0, bytes);
  memory.fill(dbeta, 0, bytes);
  for (let r = 0; r < rows; r++) {
    const at = <usize>r * bytes;
    addFloats(dbeta, dy + at, C);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const o = <usize>c << 2;
      const p = f32x4.mul(v128.load(dy + at + o), v128.load(xhat + at + o));
      v128.store(dgamma + o, f32x4.add(v128.load(dgamma + o), p));
    }
    for (; c < C; c++) {
      const o = <usize>c << 2;
      store<f32>(dgamma + o, load<f32>(dgamma + o) + load<f32>(dy + at + o) * load<f32>(xhat + at + o));
    }
  }
}

/** γ·x̂ + β for the channel at byte offset `o` (γ or β 0: none, i.e. 1 or 0). */
// @ts-ignore: decorator
@inline
function affine(h: f32, gamma: usize, beta: usize, o: usize): f32 {
  return (gamma != 0 ? h * load<f32>(gamma + o) : h) + (beta != 0 ? load<f32>(beta + o) : 0);
}

/** γ·d for the channel at byte offset `o` (γ 0: none, d itself). */
// @ts-ignore: decorator
@inline
function scaled(d: f32, gamma: usize, o: usize): f32 {
  return gamma != 0 ? d * load<f32>(gamma + o) : d;
}

/** Σ of n floats. */
// @ts-ignore: decorator
@inline
function sumFloats(from: usize, n: i32): f32 {
  let sum: f32 = 0;
  for (let i = 0; i < n; i++) sum += load<f32>(from + (<usize>i << 2));
  return sum;
}

/** v[c] *= s for C floats. */
function scaleRow(v: usize, C: i32, s: f32): void {
  for (let c = 0; c < C; c++) store<f32>(v + (<usize>c << 2), load<f32>(v + (<usize>c << 2)) * s);
}
