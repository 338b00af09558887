import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import dicomParser from "dicom-parser";
import { type J2kDecoder, J2kDecoderNeeded, loadJ2kDecoder } from "./dicom-j2k.js";
import { checkSyntax, storedPixels } from "./dicom-pixels.js";
import type { Volume } from "./nifti.js";

/**
 * DICOM Part 10 volumes read with dicom-parser: one file (a single- or multi-frame image) or a series
 * folder of single-frame files sorted by position along the slice normal. Pixels get the modality LUT
 * (`RescaleSlope`, `RescaleIntercept`) as pydicom's `apply_modality_lut` does. Pixel data uncompressed,
 * JPEG baseline, JPEG 2000 or RLE lossless is read (dicom-pixels.ts); other transfer syntaxes are refused by name.
 */

/** Whether a file name is a DICOM file's (.dcm). */
export function isDicomName(name: string): boolean {
  return /\.dcm$/i.test(name);
}

/** One DICOM file's frames and geometry. */
interface DicomImage {
  rows: number;
  cols: number;
  frames: number;
  data: Float32Array;
  position?: number[];
  orientation?: number[];
  instance?: number;
  /** [between columns (x), between rows (y)]. */
  pixelSpacing: [number, number];
  thickness?: number;
  /** e.g. "int16" (stored pixels, before the modality LUT). */
  datatype: string;
}

/** Reads one DICOM file (its frames as slices). Throws a plain Error saying what is wrong. */
export function readDicomImage(bytes: Uint8Array, j2k?: J2kDecoder): DicomImage {
  let ds: dicomParser.DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch (error) {
    const reason =
      typeof error === "string"
        ? error
        : ((error as { exception?: string; message?: string }).exception ?? (error as Error).message);
    throw new Error(`it is not a readable DICOM Part 10 file (${String(reason).replace(/^dicomParser\.\w+: /, "")})`);
  }
  const syntax = (ds.string("x00020010") ?? "").replace(/\0/g, "").trim();
  checkSyntax(syntax);
  const rows = ds.uint16("x00280010") ?? 0;
  const cols = ds.uint16("x00280011") ?? 0;
  const samples = ds.uint16("x00280002") ?? 1;
  const bits = ds.uint16("x00280100") ?? 0;
  const signed = (ds.uint16("x00280103") ?? 0) === 1;
  const frames = Number.parseInt(ds.string("x00280008") ?? "1", 10) || 1;
  if (samples !== 1) throw new Error(`it has ${samples} samples per pixel: only grayscale images are read`);
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new Error(`it has ${bits} bits allocated: 8, 16 or 32 are read`);
  const count = rows * cols * frames;
  const bytesPer = bits / 8;
  const stored = storedPixels(ds, syntax, { rows, cols, frames, bits }, j2k);
  const view = new DataView(stored.bytes.buffer, stored.bytes.byteOffset, count * bytesPer);
  const little = stored.little;
  const slope = ds.floatString("x00281053") ?? 1;
  const inter = ds.floatString("x00281052") ?? 0;
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * bytesPer;
    const raw =
      bits === 8
        ? signed
          ? view.getInt8(at)
          : view.getUint8(at)
        : bits === 16
          ? signed
            ? view.getInt16(at, little)
            : view.getUint16(at, little)
          : signed
            ? view.getInt32(at, little)
            : view.getUint32(at, little);
    data[i] = raw * slope + inter;
  }
  const numbers = (tag: string, n: number) => {
    const values = Array.from({ length: n }, (_, i) => ds.floatString(tag, i));
    return values.every((v) => v !== undefined && Number.isFinite(v)) ? (values as number[]) : undefined;
  };
  const spacing = numbers("x00280030", 2);
  return {
    rows,
    cols,
    frames,
    data,
    position: numbers("x00200032", 3),
    orientation: numbers("x00200037", 6),
    instance: ds.intString("x00200013"),
    // PixelSpacing is [between rows, between columns].
    pixelSpacing: spacing ? [spacing[1], spacing[0]] : [1, 1],
    thickness: ds.floatString("x00180050"),
    datatype: `${signed ? "int" : "uint"}${bits}`,
  };
}

/**
 * A DICOM volume from a file or a series folder of .dcm files: slices sorted by position along the
 * normal of their orientation (else by InstanceNumber, else by name), x = column, y = row, z = slice.
 * The affine is in DICOM's patient coordinates (LPS), unlike NIfTI's RAS.
 */
export async function readDicomVolume(path: string): Promise<Volume> {
  const info = await stat(path);
  const names = info.isDirectory() ? (await readdir(path)).filter(isDicomName).sort() : [path];
  if (names.length === 0) throw new Error("its series folder holds no .dcm files");
  const images: DicomImage[] = [];
  let j2k: J2kDecoder | undefined;
  for (const name of names) {
    const file = info.isDirectory() ? join(path, name) : name;
    try {
      const bytes = await readFile(file);
      try {
        images.push(readDicomImage(bytes, j2k));
      } catch (error) {
        if (!(error instanceof J2kDecoderNeeded)) throw error;
        j2k = await loadJ2kDecoder();
        images.push(readDicomImage(bytes, j2k));
      }
    } catch (error) {
      throw info.isDirectory()
        ? new Error(`slice ${images.length + 1} of ${names.length}: ${(error as Error).message}`)
        : error;
    }
  }
  const first = images[0];
  if (images.some((im) => im.rows !== first.rows || im.cols !== first.cols)) {
    throw new Error("its slices differ in size");
  }
  if (images.length > 1 && images.some((im) => im.frames !== 1)) {
    throw new Error("its series mixes multi-frame files: give one multi-frame file or single-frame slices");
  }
  const normal = first.orientation ? cross(first.orientation.slice(0, 3), first.orientation.slice(3, 6)) : undefined;
  const along = (im: DicomImage) => (normal && im.position ? dot(normal, im.position) : undefined);
  const order = images.map((im, i) => ({ im, i, key: along(im) ?? im.instance ?? i }));
  order.sort((a, b) => a.key - b.key || a.i - b.i);
  const sorted = order.map((o) => o.im);
  const slices = sorted.reduce((n, im) => n + im.frames, 0);
  const data = new Float32Array(first.rows * first.cols * slices);
  let at = 0;
  for (const im of sorted) {
    data.set(im.data, at);
    at += im.data.length;
  }
  const firstKey = along(sorted[0]);
  const lastKey = along(sorted[sorted.length - 1]);
  const gap =
    firstKey !== undefined && lastKey !== undefined && sorted.length > 1
      ? Math.abs(lastKey - firstKey) / (sorted.length - 1)
      : (first.thickness ?? 1);
  const [dx, dy] = first.pixelSpacing;
  const dz = gap > 0 ? gap : 1;
  const o = first.orientation ?? [1, 0, 0, 0, 1, 0];
  const n = normal ?? [0, 0, 1];
  const p = sorted[0].position ?? [0, 0, 0];
  const affine = [0, 1, 2].map((r) => [o[r] * dx, o[3 + r] * dy, n[r] * dz, p[r]]);
  return {
    dims: [first.cols, first.rows, slices],
    spacing: [dx, dy, dz],
    affine: [...affine, [0, 0, 0, 1]],
    datatype: first.datatype,
    data,
  };
}

function cross(a: number[], b: number[]): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
