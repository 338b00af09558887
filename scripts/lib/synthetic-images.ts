import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PNG } from "pngjs";
import { createRng } from "../../src/ml/rng.js";

/**
 * Synthetic grayscale images for demos, tests and benchmarks: class 0 a horizontal bar, 1 a vertical
 * bar, 2 a diagonal, 3 a square outline (as many classes as asked, up to 4), at random positions with
 * noise. A CNN separates them easily; a linear model on raw pixels much less so.
 */
export function makeImages(options: { count: number; size: number; classes?: number; seed: number }): {
  pixels: Uint8Array;
  labels: Uint8Array;
} {
  const { count, size } = options;
  const classes = Math.min(options.classes ?? 3, 4);
  const rng = createRng(options.seed);
  const pixels = new Uint8Array(count * size * size);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const label = n % classes;
    labels[n] = label;
    const image = pixels.subarray(n * size * size, (n + 1) * size * size);
    for (let i = 0; i < image.length; i++) image[i] = Math.floor(rng.next() * 60);
    const at = 2 + rng.int(size - 6);
    const set = (r: number, c: number) => {
      if (r >= 0 && r < size && c >= 0 && c < size) image[r * size + c] = 200 + rng.int(56);
    };
    for (let k = 1; k < size - 1; k++) {
      if (label === 0) set(at, k);
      else if (label === 1) set(k, at);
      else if (label === 2) set(k, k);
    }
    if (label === 3) {
      for (let k = 0; k < 5; k++) {
        set(at, at + k);
        set(at + 4, at + k);
        set(at + k, at);
        set(at + k, at + 4);
      }
    }
  }
  return { pixels, labels };
}

/** Writes an MNIST-format pair (IDX, gzip when the name ends in .gz). */
export function writeIdx(
  imagesPath: string,
  labelsPath: string,
  data: { pixels: Uint8Array; labels: Uint8Array },
  size: number,
): void {
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => {
      b.writeUInt32BE(d, 4 + 4 * i);
    });
    return b;
  };
  const write = (path: string, bytes: Buffer) => writeFileSync(path, path.endsWith(".gz") ? gzipSync(bytes) : bytes);
  write(imagesPath, Buffer.concat([header(0x803, [data.labels.length, size, size]), data.pixels]));
  write(labelsPath, Buffer.concat([header(0x801, [data.labels.length]), data.labels]));
}

/** Writes a folder of PNGs, one sub-folder per class named by its label. */
export function writePngFolder(dir: string, data: { pixels: Uint8Array; labels: Uint8Array }, size: number): void {
  for (let n = 0; n < data.labels.length; n++) {
    const classDir = join(dir, String(data.labels[n]));
    mkdirSync(classDir, { recursive: true });
    const png = new PNG({ width: size, height: size, colorType: 0 });
    for (let i = 0; i < size * size; i++) {
      const v = data.pixels[n * size * size + i];
      png.data[i * 4] = png.data[i * 4 + 1] = png.data[i * 4 + 2] = v;
      png.data[i * 4 + 3] = 255;
    }
    writeFileSync(join(classDir, `img-${n}.png`), PNG.sync.write(png, { colorType: 0 }));
  }
}
