import { InputError } from "../common/errors.js";
import type { Dataset } from "./types.js";

/** Values per row: the product of the sample shape. */
export function rowWidth(data: Dataset): number {
  return data.sampleShape.reduce((a, b) => a * b, 1);
}

/** Labels per row: the product of `yShape` (segmentation masks), else 1. */
export function labelWidth(data: Pick<Dataset, "yShape">): number {
  return data.yShape ? data.yShape.reduce((a, b) => a * b, 1) : 1;
}

/** Checks that a dataset's sizes agree (rows read from disk have no `x` to check). */
export function checkDataset(data: Dataset, options: { labels: "required" | "optional" }): void {
  const width = rowWidth(data);
  const valuesOk = data.readRow !== undefined || data.x.length === data.rows * width;
  const labelsOk =
    data.y.length === data.rows * labelWidth(data) || (options.labels === "optional" && data.y.length === 0);
  if (!valuesOk || !labelsOk) {
    throw new InputError(
      `Invalid dataset: ${data.readRow ? "rows on disk" : `${data.x.length} values`} and ${data.y.length} labels do not make ` +
        `${data.rows} rows of shape [${data.sampleShape.join(", ")}]`,
    );
  }
}

/**
 * Copies one row's values, as float32 in their final scale (`xScale` applied), into `out` at
 * `offset`, whether the dataset holds them in memory or reads them from disk.
 */
export function readRowInto(data: Dataset, row: number, out: Float32Array, offset: number): void {
  if (data.readRow) {
    data.readRow(row, out, offset);
    return;
  }
  const width = rowWidth(data);
  const from = row * width;
  const k = data.xScale ?? 1;
  if (k === 1 && data.x instanceof Float32Array) {
    out.set(data.x.subarray(from, from + width), offset);
    return;
  }
  if (data.x instanceof Uint8Array) bytesToFloats(data.x, from, width, k, out, offset);
  else for (let c = 0; c < width; c++) out[offset + c] = data.x[from + c] * k;
}

/**
 * `count` bytes from `from` times k into `out` at `offset`, as float32 (the byte times k in float64,
 * rounded once on the store): by words where they are 4-byte aligned (readBytesByWords), else byte by byte.
 */
export function bytesToFloats(
  bytes: Uint8Array,
  from: number,
  count: number,
  k: number,
  out: Float32Array,
  offset: number,
): void {
  const words = from % 4 === 0 && count % 4 === 0 ? wordsOf(bytes) : undefined;
  if (words) readBytesByWords(words, from >> 2, count >> 2, k, out, offset);
  else for (let c = 0; c < count; c++) out[offset + c] = bytes[from + c] * k;
}

/** Whether a Uint32Array over bytes holds byte i at bits 8·(i mod 4) (every platform but big-endian ones). */
const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
/** The 32-bit view of each byte array read by words (undefined: not 4-byte aligned, or big-endian). */
const wordViews = new WeakMap<Uint8Array, Uint32Array | undefined>();

function wordsOf(bytes: Uint8Array): Uint32Array | undefined {
  if (wordViews.has(bytes)) return wordViews.get(bytes);
  const view =
    littleEndian && bytes.byteOffset % 4 === 0
      ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2)
      : undefined;
  wordViews.set(bytes, view);
  return view;
}

/**
 * `count` words' bytes times k into `out` from `offset`, four bytes a load: V8 does not vectorize the
 * byte-by-byte loop, whose load per byte made the gather of a 64-row batch of 28×28 byte images take
 * ~110 µs (~2.2 ns a value, on the training thread's critical path at every step; issue 28); by words
 * it takes 58–73 µs. The values are the same float32s as `bytes[i] * k`: the byte times k in float64,
 * rounded once on the store.
 */
function readBytesByWords(
  words: Uint32Array,
  first: number,
  count: number,
  k: number,
  out: Float32Array,
  offset: number,
): void {
  for (let w = first, end = first + count, o = offset; w < end; w++, o += 4) {
    const v = words[w];
    out[o] = (v & 255) * k;
    out[o + 1] = ((v >>> 8) & 255) * k;
    out[o + 2] = ((v >>> 16) & 255) * k;
    out[o + 3] = (v >>> 24) * k;
  }
}
