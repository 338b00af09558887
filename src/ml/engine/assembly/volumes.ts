// AssemblyScript: 3-D windows (convolution patches and pooling over NDHWC volumes), forward and backward.
// A transposed convolution needs no kernel of its own: it is the adjoint of a convolution, so it runs
// col2im forward and im2col backward (see engine/trainer.ts).

import { addFloats, copyFloats } from "./floats";

/**
 * Convolution patches over volumes: cols[(b, od, oh, ow), (kd, kh, kw, c)] = x[b, od·sd + kd − pf,
 * oh·sh + kh − pt, ow·sw + kw − pl, c], 0 outside. The row order matches tfjs's conv3d kernel layout
 * [kd, kh, kw, cin, cout], so conv3d = cols · kernel.
 */
export function im2col3d(
  x: usize, batch: i32, D: i32, H: i32, W: i32, C: i32,
  KD: i32, KH: i32, KW: i32, SD: i32, SH: i32, SW: i32, PF: i32, PT: i32, PL: i32,
  OD: i32, OH: i32, OW: i32, cols: usize,
): void {
  const rowBytes = (<usize>C) << 2;
  const span = KW * C;
  let out = cols;
  for (let b = 0; b < batch; b++) {
    const xb = x + ((<usize>b * <usize>D * <usize>H * <usize>W * <usize>C) << 2);
    for (let od = 0; od < OD; od++) {
      const d0 = od * SD - PF;
      const depthInside = d0 >= 0 && d0 + KD <= D;
      for (let oh = 0; oh < OH; oh++) {
        const h0 = oh * SH - PT;
        const rowsInside = depthInside && h0 >= 0 && h0 + KH <= H;
        for (let ow = 0; ow < OW; ow++) {
          const w0 = ow * SW - PL;
          if (rowsInside && w0 >= 0 && w0 + KW <= W) {
            // Window inside the volume: each (kd, kh) row is KW·C contiguous input values.
            for (let kd = 0; kd < KD; kd++) {
              for (let kh = 0; kh < KH; kh++) {
                copyFloats(out, xb + ((<usize>(((d0 + kd) * H + h0 + kh) * W + w0) * <usize>C) << 2), span);
                out += <usize>span << 2;
              }
            }
            continue;
          }
          for (let kd = 0; kd < KD; kd++) {
            const id = d0 + kd;
            for (let kh = 0; kh < KH; kh++) {
              const ih = h0 + kh;
              for (let kw = 0; kw < KW; kw++) {
                const iw = w0 + kw;
                if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) memory.fill(out, 0, rowBytes);
                else copyFloats(out, xb + ((<usize>((id * H + ih) * W + iw) * <usize>C) << 2), C);
                out += rowBytes;
              }
            }
          }
        }
      }
    }
  }
}

/** The adjoint of im2col3d: dx (zeroed first) accumulates every patch gradient at its input position. */
export function col2im3d(
  dcols: usize, batch: i32, D: i32, H: i32, W: i32, C: i32,
  KD: i32, KH: i32, KW: i32, SD: i32, SH: i32, SW: i32, PF: i32, PT: i32, PL: i32,
  OD: i32, OH: i32, OW: i32, dx: usize,
): void {
  memory.fill(dx, 0, (<usize>batch * <usize>D * <usize>H * <usize>W * <usize>C) << 2);
  let src = dcols;
  const rowBytes = (<usize>C) << 2;
  for (let b = 0; b < batch; b++) {
    const xb = dx + ((<usize>b * <usize>D * <usize>H * <usize>W * <usize>C) << 2);
    for (let od = 0; od < OD; od++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          for (let kd = 0; kd < KD; kd++) {
            const id = od * SD + kd - PF;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * SH + kh - PT;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * SW + kw - PL;
                if (id >= 0 && id < D && ih >= 0 && ih < H && iw >= 0 && iw < W) {
                  addFloats(xb + ((<usize>((id * H + ih) * W + iw) * <usize>C) << 2), src, C);
                }
                src += rowBytes;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * 3-D max pooling; argmax[o] receives the input index of each output's maximum. Ties go to the last one
 * in window order, as tfjs's cpu backend routes maxPool3d's gradient. Padding is never a maximum.
 */
export function maxPool3d(
  x: usize, batch: i32, D: i32, H: i32, W: i32, C: i32,
  PD: i32, PH: i32, PW: i32, SD: i32, SH: i32, SW: i32, PF: i32, PT: i32, PL: i32,
  OD: i32, OH: i32, OW: i32, y: usize, argmax: usize,
): void {
  let o: usize = 0;
  const lanes = i32x4(0, 1, 2, 3);
  for (let b = 0; b < batch; b++) {
    const base = b * D * H * W * C;
    for (let od = 0; od < OD; od++) {
      const d0 = max(od * SD - PF, 0);
      const d1 = min(od * SD - PF + PD, D);
      for (let oh = 0; oh < OH; oh++) {
        const h0 = max(oh * SH - PT, 0);
        const h1 = min(oh * SH - PT + PH, H);
        for (let ow = 0; ow < OW; ow++) {
          const w0 = max(ow * SW - PL, 0);
          const w1 = min(ow * SW - PL + PW, W);
          let c = 0;
          // Four channels at once: lanes keep their maximum and its index; ≥ keeps the last.
          for (; c + 4 <= C; c += 4) {
            let best = f32x4.splat(-Infinity);
            let at = i32x4.splat(-1);
            for (let id = d0; id < d1; id++) {
              for (let ih = h0; ih < h1; ih++) {
                for (let iw = w0; iw < w1; iw++) {
                  const index = base + ((id * H + ih) * W + iw) * C + c;
                  const v = v128.load(x + (<usize>index << 2));
                  const notLess = f32x4.ge(v, best);
                  best = v128.bitselect(v, best, notLess);
                  at = v128.bitselect(i32x4.add(i32x4.splat(index), lanes), at, notLess);
                }
              }
            }
            v128.store(y + ((o + <usize>c) << 2), best);
            v128.store(argmax + ((o + <usize>c) << 2), at);
          }
          for (; c < C; c++) {
            let best: f32 = -Infinity;
            let at = -1;
            for (let id = d0; id < d1; id++) {
              for (let ih = h0; ih < h1; ih++) {
                for (let iw = w0; iw < w1; iw++) {
                  const index = base + ((id * H + ih) * W + iw) * C + c;
                  const v = load<f32>(x + (<usize>index << 2));
                  if (v >= best) {
                    best = v;
                    at = index;
                  }
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
}

/** 3-D average pooling over unpadded windows (each output is its window's mean). */
export function avgPool3d(
  x: usize, batch: i32, D: i32, H: i32, W: i32, C: i32,
  PD: i32, PH: i32, PW: i32, SD: i32, SH: i32, SW: i32, OD: i32, OH: i32, OW: i32, y: usize,
): void {
  const scale = f32x4.splat(1 / <f32>(PD * PH * PW));
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * D * H * W * C;
    for (let od = 0; od < OD; od++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const out = y + (o << 2);
          memory.fill(out, 0, (<usize>C) << 2);
          for (let pd = 0; pd < PD; pd++) {
            for (let ph = 0; ph < PH; ph++) {
              for (let pw = 0; pw < PW; pw++) {
                const at = base + (((od * SD + pd) * H + oh * SH + ph) * W + ow * SW + pw) * C;
                addFloats(out, x + (<usize>at << 2), C);
              }
            }
          }
          let c = 0;
          for (; c + 4 <= C; c += 4) v128.store(out + (<usize>c << 2), f32x4.mul(v128.load(out + (<usize>c << 2)), scale));
          for (; c < C; c++) store<f32>(out + (<usize>c << 2), load<f32>(out + (<usize>c << 2)) * f32x4.extract_lane(scale, 0));
          o += <usize>C;
        }
      }
    }
  }
}

/** The adjoint of avgPool3d: dx (zeroed first) receives dy / window size over each output's window. */
export function avgPool3dBackward(
  dy: usize, batch: i32, D: i32, H: i32, W: i32, C: i32,
  PD: i32, PH: i32, PW: i32, SD: i32, SH: i32, SW: i32, OD: i32, OH: i32, OW: i32, dx: usize,
): void {
  memory.fill(dx, 0, (<usize>batch * <usize>D * <usize>H * <usize>W * <usize>C) << 2);
  const scale: f32 = 1 / <f32>(PD * PH * PW);
  let o: usize = 0;
  for (let b = 0; b < batch; b++) {
    const base = b * D * H * W * C;
    for (let od = 0; od < OD; od++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          for (let pd = 0; pd < PD; pd++) {
            for (let ph = 0; ph < PH; ph++) {
              for (let pw = 0; pw < PW; pw++) {
                const at = base + (((od * SD + pd) * H + oh * SH + ph) * W + ow * SW + pw) * C;
                addScaled(dx + (<usize>at << 2), dy + (o << 2), C, scale);
              }
            }
          }
          o += <usize>C;
        }
      }
    }
  }
}

/** to[i] += s · from[i] for n floats. */
// @ts-ignore: decorator
@inline
function addScaled(to: usize, from: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(to + o, f32x4.add(v128.load(to + o), f32x4.mul(v128.load(from + o), sv)));
  }
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(to + o, load<f32>(to + o) + load<f32>(from + o) * s);
  }
}
