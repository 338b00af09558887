import { PNG } from "pngjs";

/** An 8-bit grayscale PNG of `values` (row-major), its minimum black and its maximum white. */
export function grayPng(values: Float32Array, width: number, height: number): Buffer {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const png = new PNG({ width, height });
  for (let i = 0; i < values.length; i++) {
    const g = hi > lo ? Math.round((255 * (values[i] - lo)) / (hi - lo)) : 0;
    png.data.set([g, g, g, 255], i * 4);
  }
  return PNG.sync.write(png);
}

/** `grayPng` as a data: URL, for pages that load nothing from the node's disk. */
export function grayPngUrl(values: Float32Array, width: number, height: number): string {
  return `data:image/png;base64,${grayPng(values, width, height).toString("base64")}`;
}
