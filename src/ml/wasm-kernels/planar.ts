import type { backend_util } from "@tensorflow/tfjs";

/**
 * Copies NHWC data into channel planes (NCHW) so that per-channel dot products over pixels read
 * memory sequentially. One allocation per call, sized like the input.
 */
export function toPlanar(nhwc: backend_util.TypedArray, batch: number, pixels: number, channels: number): Float32Array {
  const planar = new Float32Array(batch * pixels * channels);
  for (let b = 0; b < batch; ++b) {
    const base = b * pixels * channels;
    for (let p = 0; p < pixels; ++p) {
      const from = base + p * channels;
      let to = base + p;
      for (let d = 0; d < channels; ++d, to += pixels) planar[to] = nhwc[from + d];
    }
  }
  return planar;
}
