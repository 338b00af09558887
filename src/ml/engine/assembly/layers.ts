// AssemblyScript: activations, bias, convolution patches and pooling, forward and backward (NHWC, row-major).

import { addFloats, copyFloats } from "./floats";

/** Activation codes shared with the TypeScript side (engine/network.ts). */
const LINEAR = 0;
const RELU = 1;
const SIGMOID = 2;
const TANH = 3;
const SOFTMAX = 4;
const RELU6 = 5;
const ELU = 6;

/** y[r, c] = act(y[r, c] + bias[c]); bias 0 means none. Softmax normalizes each row (max subtracted). */
export function biasActivation(y: usize, rows: i32, cols: i32, bias: usize, act: i32): void {
  const n = <usize>cols;
  for (let r = 0; r < rows; r++) {
    const row = y + ((<usize>r * n) << 2);
    if (bias != 0) addFloats(row, bias, cols);
    if (act == SOFTMAX) softmaxRow(row, cols);
  }
  if (act != SOFTMAX && act != LINEAR) activate(y, rows * cols, act);
}

function softmaxRow(row: usize, cols: i32): void {
  let max = load<f32>(row);
  for (let c = 1; c < cols; c++) max = Mathf.max(max, load<f32>(row + (<usize>c << 2)));
  let sum: f32 = 0;
  for (let c = 0; c < cols; c++) {
    const e = Mathf.exp(load<f32>(row + (<usize>c << 2)) - max);
    store<f32>(row + (<usize>c << 2), e);
    sum += e;
  }
  const inv: f32 = 1 / sum;
  for (let c = 0; c < cols; c++) store<f32>(row + (<usize>c << 2), load<f32>(row + (<usize>c << 2)) * inv);
}

function activate(y: usize, n: i32, act: i32): void {
  let i = 0;
  if (act == RELU || act == RELU6) {
    const zero = f32x4.splat(0);
    const six = f32x4.splat(6);
    for (; i + 4 <= n; i += 4) {
      const p = y + (<usize>i << 2);
      let v = f32x4.max(v128.load(p), zero);
      if (act == RELU6) v = f32x4.min(v, six);
      v128.store(p, v);
    }
  }
  for (; i < n; i++) {
    const p = y + (<usize>i << 2);
    const x = load<f32>(p);
    let v: f32 = x;
    if (act == RELU) v = x > 0 ? x : 0;
    else if (act == RELU6) v = Mathf.min(Mathf.max(x, 0), 6);
    else if (act == SIGMOID) v = 1 / (1 + Mathf.exp(-x));
    else if (act == TANH) v = Mathf.tanh(x);
    else if (act == ELU) v = x > 0 ? x : Mathf.exp(x) - 1;
    store<f32>(p, v);
  }
}

/** dz[i] *= act'(from the activation's output y[i]), in place; softmax is handled by softmaxBackward. */
export function activationBackward(dz: usize, y: usize, n: i32, act: i32): void {
  if (act == LINEAR) return;
  let i = 0;
  if (act == RELU) {
    const zero = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const mask = f32x4.gt(v128.load(y + o), zero);
      v128.store(dz + o, v128.and(v128.load(dz + o), mask));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const out = load<f32>(y + o);
    const d = load<f32>(dz + o);
    let g: f32 = d;
    if (act == RELU) g = out > 0 ? d : 0;
    else if (act == RELU6) g = out > 0 && out < 6 ? d : 0;
    else if (act == SIGMOID) g = d * out * (1 - out);
    else if (act == TANH) g = d * (1 - out * out);
    else if (act == ELU) g = out > 0 ? d : d * (out + 1);
    store<f32>(dz + o, g);
  }
}

/** dz[r, :] = y[r, :] ⊙ (dy[r, :] − Σ_c dy[r, c]·y[r, c]): the softmax Jacobian applied to dy. */
export function softmaxBackward(dy: usize, y: usize, rows: i32, cols: i32, dz: usize): void {
  for (let r = 0; r < rows; r++) {
    const base = (<usize>r * <usize>cols) << 2;
    let dot: f32 = 0;
    for (let c = 0; c < cols; c++) dot += load<f32>(dy + base + (<usize>c << 2)) * load<f32>(y + base + (<usize>c << 2));
    for (let c = 0; c < cols; c++) {
      const o = base + (<usize>c << 2);
      store<f32>(dz + o, load<f32>(y + o) * (load<f32>(dy + o) - dot));
    }
  }
}

/** db[c] = Σ_r dz[r, c] (overwrites db). */
export function columnSums(dz: usize, rows: i32, cols: i32, db: usize): void {
  let c = 0;
  for (; c + 4 <= cols; c += 4) {
    let acc = f32x4.splat(0);
    for (let r = 0; r < rows; r++) acc = f32x4.add(acc, v128.load(dz + ((<usize>r * <usize>cols + <usize>c) << 2)));
    v128.store(db + (<usize>c << 2), acc);
  }
  for (; c < cols; c++) {
    let acc: f32 = 0;
    for (let r = 0; r < rows; r++) acc += load<f32>(dz + ((<usize>r * <usize>cols + <usize>c) << 2));
    store<f32>(db + (<usize>c << 2), acc);
  }
}

/**
 * Convolution patches: cols[(b, oh, ow), (kh, kw, c)] = x[b, oh·sh + kh − pt, ow·sw + kw − pl, c], 0 outside.
 * The row length kh·kw·C matches tfjs's kernel layout [kh, kw, cin, cout], so conv = cols · kernel.
 */
export function im2col(
  x: usize, batch: i32, H: i32, W: i32, C: i32,
  KH: i32, KW: i32, SH: i32, SW: i32, PT: i32, PL: i32, OH: i32, OW: i32,
  cols: usize,
): void {
  const rowBytes = (<usize>C) << 2;
  let out = cols;
  for (let b = 0; b < batch; b++) {
    const xb = x + ((<usize>b * <usize>H * <usize>W * <usize>C) << 2);
    for (let oh = 0; oh < OH; oh++) {
      const rowsInside = oh * SH - PT >= 0 && oh * SH - PT + KH <= H;
      for (let ow = 0; ow < OW; ow++) {
        if (rowsInside && ow * SW - PL >= 0 && ow * SW - PL + KW <= W) {
          // Window inside the image: each kernel row is KW·C contiguous input values.
          const span = KW * C;
          for (let kh = 0; kh < KH; kh++) {
            copyFloats(out, xb + ((<usize>((oh * SH + kh - PT) * W + ow * SW - PL) * <usize>C) << 2), span);
            out += <usize>span << 2;
          }
          continue;
        }
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH + kh - PT;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW + kw - PL;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) memory.fill(out, 0, rowBytes);
            else copyFloats(out, xb + ((<usize>(ih * W + iw) * <usize>C) << 2), C);
            out += rowBytes;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: dx (zeroed first) accumulates every patch gradient at its input position. */
export function col2im(
  dcols: usize, batch: i32, H: i32, W: i32, C: i32,
  KH: i32, KW: i32, SH: i32, SW: i32, PT: i32, PL: i32, OH: i32, OW: i32,
  dx: usize,
): void {
  memory.fill(dx, 0, (<usize>batch * <usize>H * <usize>W * <usize>C) << 2);
  let src = dcols;
  const rowBytes = (<usize>C) << 2;
  for (let b = 0; b < batch; b++) {
    const xb = dx + ((<usize>b * <usize>H * <usize>W * <usize>C) << 2);
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * SH + kh - PT;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * SW + kw - PL;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) addFloats(xb + ((<usize>(ih * W + iw) * <usize>C) << 2), src, C);
            src += rowBytes;
          }
        }
      }
    }
  }
}

/**
 * Max pooling; argmax[o] receives the input index of each output's maximum (the first one in window
 * order, as tfjs's cpu backend picks), which the backward pass scatters into. Padding is never a maximum.
 */
export function maxPool(
  x: usize, batch: i32, H: i32, W: i32, C: i32,
  PH: i32, PW: i32, SH: i32, SW: i32, PT: i32, PL: i32, OH: i32, OW: i32,
  y: usize, argmax: usize,
): void {
  let o: usize = 0;
  const lanes = i32x4(0, 1, 2, 3);
  for (let b = 0; b < batch; b++) {
    const base = b * H * W * C;
    for (let oh = 0; oh < OH; oh++) {
      const h0 = max(oh * SH - PT, 0);
      const h1 = min(oh * SH - PT + PH, H);
      for (let ow = 0; ow < OW; ow++) {
        const w0 = max(ow * SW - PL, 0);
        const w1 = min(ow * SW - PL + PW, W);
        let c = 0;
        // Four channels at once: lanes keep their maximum and its index; strict > keeps the first.
        for (; c + 4 <= C; c += 4) {
          const first = base + (h0 * W + w0) * C + c;
          let best = v128.load(x + (<usize>first << 2));
          let at = i32x4.add(i32x4.splat(first), lanes);
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const index = base + (ih * W + iw) * C + c;
              const v = v128.load(x + (<usize>index << 2));
              const greater = f32x4.gt(v, best);
              best = v128.bitselect(v, best, greater);
              at = v128.bitselect(i32x4.add(i32x4.splat(index), lanes), at, greater);
            }
          }
          v128.store(y + ((o + <usize>c) << 2), best);
          v128.store(argmax + ((o + <usize>c) << 2), at);
        }
        for (; c < C; c++) {
          let best: f32 = -Infinity;
          let at = -1;
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const index = base + (ih * W + iw) * C + c;
              const v = load<f32>(x + (<usize>index << 2));
              if (at < 0 || v > best) {
                best = v;
                at = index;
              }
            }
          }
          store<f32>(y + ((o + <usize>c) << 2), best);
          store<i32>(argmax + ((o + <usize>c) << 2), at);
        }
        o += <usize>C;
      }
    }
  }
}

/** dx (zeroed first, `inputs` elements) receives each dy[o] at argmax[o]. */
export function maxPoolBackward(dy: usize, argmax: usize, outputs: i32, dx: usize, inputs: i32): void {
  memory.fill(dx, 0, (<usize>inputs) << 2);
  for (let o = 0; o < outputs; o++) {
    const at = load<i32>(argmax + (<usize>o << 2));
    if (at >= 0) {
      const p = dx + (<usize>at << 2);
      store<f32>(p, load<f32>(p) + load<f32>(dy + (<usize>o << 2)));
    }
  }
}

// @ts-ignore: decorator
@inline
function mix(value: u32): u32 {
  let x = value;
  x ^= x >>> 16;
  x *= 0x7feb352d;
  x ^= x >>> 15;
  x *= 0x846ca68b;
  x ^= x >>> 16;
  return x;
}

/**
 * Inverted dropout: out = x · mask, mask = 1/(1 − rate) with probability 1 − rate, else 0 (kept in `mask`
 * for the backward pass). Each row's draws depend only on (seed, rowOffset + r), so a batch cut between
 * threads gets the masks it would get on one thread.
 */
export function dropout(x: usize, rows: i32, cols: i32, rate: f32, seed: u32, rowOffset: i32, out: usize, mask: usize): void {
  const keep: f32 = 1 / (1 - rate);
  let o: usize = 0;
  for (let r = 0; r < rows; r++) {
    let state = mix(seed ^ mix(<u32>(rowOffset + r) + 0x9e3779b9));
    for (let c = 0; c < cols; c++) {
      state += 0x6d2b79f5;
      const u = <f32>(mix(state) >>> 8) * (1.0 / 16777216.0);
      const m: f32 = u >= rate ? keep : 0;
      store<f32>(mask + o, m);
      store<f32>(out + o, load<f32>(x + o) * m);
      o += 4;
    }
  }
}

/** out[i] = a[i] · b[i]. */
export function multiply(a: usize, b: usize, n: i32, out: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

/** Average pooling over unpadded windows (each output is its window's mean); four channels at a time. */
export function avgPool(
  x: usize, batch: i32, H: i32, W: i32, C: i32,
  PH: i32, PW: i32, SH: i32, SW: i32, OH: i32, OW: i32, y: usize,
): void {
  const scale: f32 = 1 / <f32>(PH * PW);
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * H * W * C;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let c = 0;
        for (; c + 4 <= C; c += 4) {
          let sum = f32x4.splat(0);
          for (let ph = 0; ph < PH; ph++) {
            for (let pw = 0; pw < PW; pw++) {
              sum = f32x4.add(sum, v128.load(x + (<usize>(base + ((oh * SH + ph) * W + ow * SW + pw) * C + c) << 2)));
            }
          }
          v128.store(y + ((o + <usize>c) << 2), f32x4.mul(sum, f32x4.splat(scale)));
        }
        for (; c < C; c++) {
          let sum: f32 = 0;
          for (let ph = 0; ph < PH; ph++) {
            for (let pw = 0; pw < PW; pw++) sum += load<f32>(x + (<usize>(base + ((oh * SH + ph) * W + ow * SW + pw) * C + c) << 2));
          }
          store<f32>(y + ((o + <usize>c) << 2), sum * scale);
        }
        o += <usize>C;
      }
    }
  }
}

/** The adjoint of avgPool: dx (zeroed first) receives dy / window size over each output's window. */
export function avgPoolBackward(
  dy: usize, batch: i32, H: i32, W: i32, C: i32,
  PH: i32, PW: i32, SH: i32, SW: i32, OH: i32, OW: i32, dx: usize,
): void {
  memory.fill(dx, 0, (<usize>batch * <usize>H * <usize>W * <usize>C) << 2);
  const scale: f32 = 1 / <f32>(PH * PW);
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * H * W * C;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        for (let c = 0; c < C; c++) {
          const g = load<f32>(dy + ((o + <usize>c) << 2)) * scale;
          for (let ph = 0; ph < PH; ph++) {
            for (let pw = 0; pw < PW; pw++) {
              const p = dx + (<usize>(base + ((oh * SH + ph) * W + ow * SW + pw) * C + c) << 2);
              store<f32>(p, load<f32>(p) + g);
            }
          }
        }
        o += <usize>C;
      }
    }
  }
}
