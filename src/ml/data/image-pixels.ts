import jpeg from "jpeg-js";
import { PNG } from "pngjs";

/** A decoded image as 8-bit RGBA, and whether any pixel has colour (r, g, b not all equal). */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
  color: boolean;
}

/** The image target size of a plan (`data.input`). */
export interface ImageSize {
  height: number;
  width: number;
  channels: 1 | 3;
}

/**
 * The most pixels an image may declare (default 64 megapixels, e.g. 8000 × 8000; `FBM_MAX_IMAGE_PIXELS`
 * changes it): a small compressed file can declare a huge image (a 1.5 MB PNG of 20000 × 20000 took
 * 6.3 GB to decode), so the size is read from the header and refused before anything is decoded.
 */
export function maxImagePixels(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.FBM_MAX_IMAGE_PIXELS);
  return Number.isInteger(value) && value > 0 ? value : 64_000_000;
}

/** Decodes PNG or JPEG bytes (chosen by signature, not by name); throws the decoder's error when corrupt. */
export function decodeImage(bytes: Buffer, maxPixels = maxImagePixels()): RgbaImage {
  const isPng = bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new Error("neither a PNG nor a JPEG signature");
  // PNG: the IHDR chunk comes first, its width and height at bytes 16 and 20 (PNG spec §11.2.2).
  if (isPng && bytes.length >= 24 && bytes.toString("latin1", 12, 16) === "IHDR") {
    const pixels = bytes.readUInt32BE(16) * bytes.readUInt32BE(20);
    if (pixels > maxPixels)
      throw new Error(tooLarge(`${bytes.readUInt32BE(16)} × ${bytes.readUInt32BE(20)}`, maxPixels));
  }
  const image = isPng ? PNG.sync.read(bytes) : decodeJpeg(bytes, maxPixels);
  const rgba = new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  if (image.width <= 0 || image.height <= 0 || rgba.length !== image.width * image.height * 4) {
    throw new Error("decoded pixel data does not match the image size");
  }
  return { width: image.width, height: image.height, rgba, color: hasColor(rgba) };
}

function tooLarge(size: string | undefined, maxPixels: number): string {
  return `it declares ${size ? `${size} pixels, ` : ""}more than the ${maxPixels} pixels allowed (FBM_MAX_IMAGE_PIXELS)`;
}

/** jpeg-js reads the frame header first and stops past `maxResolutionInMP` before allocating pixels. */
function decodeJpeg(bytes: Buffer, maxPixels: number) {
  try {
    return jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: Math.max(512, (maxPixels * 4 * 2) / 2 ** 20),
    });
  } catch (error) {
    if (/maxResolutionInMP/.test(String(error))) throw new Error(tooLarge(undefined, maxPixels));
    throw error;
  }
}

function hasColor(rgba: Uint8Array): boolean {
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i + 1] !== rgba[i + 2]) return true;
  }
  return false;
}

/**
 * Writes `image` resized (bilinear, half-pixel centres) to `size` into `out` at `offset`, as floats in
 * [0, 1], row-major height × width × channels. One channel is luminance (0.299 r + 0.587 g + 0.114 b);
 * alpha is ignored.
 */
export function resizeInto(image: RgbaImage, size: ImageSize, out: Float32Array, offset: number): void {
  const { width: sw, height: sh, rgba } = image;
  const { width: dw, height: dh, channels } = size;
  const scaleX = sw / dw;
  const scaleY = sh / dh;
  let o = offset;
  for (let y = 0; y < dh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * scaleY - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.min(Math.max((x + 0.5) * scaleX - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      const i00 = (y0 * sw + x0) * 4;
      const i01 = (y0 * sw + x1) * 4;
      const i10 = (y1 * sw + x0) * 4;
      const i11 = (y1 * sw + x1) * 4;
      const w00 = ((1 - wx) * (1 - wy)) / 255;
      const w01 = (wx * (1 - wy)) / 255;
      const w10 = ((1 - wx) * wy) / 255;
      const w11 = (wx * wy) / 255;
      const r = rgba[i00] * w00 + rgba[i01] * w01 + rgba[i10] * w10 + rgba[i11] * w11;
      const g = rgba[i00 + 1] * w00 + rgba[i01 + 1] * w01 + rgba[i10 + 1] * w10 + rgba[i11 + 1] * w11;
      const b = rgba[i00 + 2] * w00 + rgba[i01 + 2] * w01 + rgba[i10 + 2] * w10 + rgba[i11 + 2] * w11;
      if (channels === 1) {
        out[o++] = 0.299 * r + 0.587 * g + 0.114 * b;
      } else {
        out[o++] = r;
        out[o++] = g;
        out[o++] = b;
      }
    }
  }
}
