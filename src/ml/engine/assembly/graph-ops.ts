// AssemblyScript: the operations a graph of layers adds to a sequence: nearest upsampling, channel
// concatenation and elementwise addition, forward and backward (channels last, row-major).

import { addFloats } from "./floats";

/**
 * Nearest-neighbour upsampling of NDHWC volumes by (SD, SH, SW): y[b, d, h, w, c] = x[b, d/SD, h/SH,
 * w/SW, c]. A 2-D image is a volume of depth 1 upsampled by (1, SH, SW).
 */
export function upsample(x: usize, batch: i32, D: i32, H: i32, W: i32, C: i32, SD: i32, SH: i32, SW: i32, y: usize): void {
  const pixel = (<usize>C) << 2;
  const outRow = <usize>W * <usize>SW * pixel;
  let out = y;
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < D; d++) {
      for (let h = 0; h < H; h++) {
        // Build one output row from the input row, then repeat it SH·SD times.
        const first = out;
        let from = x + ((((<usize>b * <usize>D + <usize>d) * <usize>H + <usize>h) * <usize>W) * pixel);
        for (let w = 0; w < W; w++) {
          for (let sw = 0; sw < SW; sw++) {
            memory.copy(out, from, pixel);
            out += pixel;
          }
          from += pixel;
        }
        for (let r = 1; r < SH; r++) {
          memory.copy(out, first, outRow);
          out += outRow;
        }
      }
      // The SH·H rows of this depth slice, repeated SD − 1 more times.
      const slice = outRow * <usize>SH * <usize>H;
      for (let r = 1; r < SD; r++) {
        memory.copy(out, out - slice * <usize>r, slice);
        out += slice;
      }
    }
  }
}

/** The adjoint of upsample: dx[b, d, h, w, c] = Σ of dy over the SD·SH·SW outputs copied from it. */
export function upsampleBackward(
  dy: usize, batch: i32, D: i32, H: i32, W: i32, C: i32, SD: i32, SH: i32, SW: i32, dx: usize,
): void {
  memory.fill(dx, 0, (<usize>batch * <usize>D * <usize>H * <usize>W * <usize>C) << 2);
  const OH = H * SH;
  const OW = W * SW;
  let src = dy;
  for (let b = 0; b < batch; b++) {
    for (let od = 0; od < D * SD; od++) {
      const d = od / SD;
      for (let oh = 0; oh < OH; oh++) {
        const h = oh / SH;
        for (let ow = 0; ow < OW; ow++) {
          const at = (((b * D + d) * H + h) * W + ow / SW) * C;
          addFloats(dx + (<usize>at << 2), src, C);
          src += (<usize>C) << 2;
        }
      }
    }
  }
}

/** Channel concatenation of `pixels` positions: out[p, :] = [a[p, 0..CA), b[p, 0..CB)]. */
export function concatChannels(a: usize, CA: i32, b: usize, CB: i32, pixels: i32, out: usize): void {
  const aBytes = (<usize>CA) << 2;
  const bBytes = (<usize>CB) << 2;
  let o = out;
  for (let p = 0; p < pixels; p++) {
    memory.copy(o, a + <usize>p * aBytes, aBytes);
    memory.copy(o + aBytes, b + <usize>p * bBytes, bBytes);
    o += aBytes + bBytes;
  }
}

/** The adjoint of concatChannels: the upstream gradient split back into its two inputs' channels. */
export function splitChannels(d: usize, CA: i32, CB: i32, pixels: i32, da: usize, db: usize): void {
  const aBytes = (<usize>CA) << 2;
  const bBytes = (<usize>CB) << 2;
  let o = d;
  for (let p = 0; p < pixels; p++) {
    memory.copy(da + <usize>p * aBytes, o, aBytes);
    memory.copy(db + <usize>p * bBytes, o + aBytes, bBytes);
    o += aBytes + bBytes;
  }
}

/**
 * out[i] = a[i] + b[i]: an `add` node's forward. Its backward hands the upstream gradient to both inputs
 * unchanged; where a tensor feeds several nodes, their gradients are summed into it with `accumulate`.
 */
export function add(a: usize, b: usize, n: i32, out: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** to[i] += from[i]: sums a second consumer's gradient into a tensor's gradient. */
export function accumulate(to: usize, from: usize, n: i32): void {
  addFloats(to, from, n);
}
