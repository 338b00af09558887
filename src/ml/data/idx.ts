import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { createGunzip } from "node:zlib";
import { errorMessage, InputError } from "../../common/errors.js";
import type { Dataset } from "../types.js";
import { fingerprintFiles } from "./fingerprint.js";
import { checkFile, type ReadAction, readerContext } from "./reader-errors.js";

/** IDX magic numbers (unsigned bytes, 3 resp. 1 dimensions), as in the MNIST files. */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

/** What registering an IDX pair learns: image size, per-label counts, fingerprint of both files. */
export interface IdxInfo {
  count: number;
  height: number;
  width: number;
  /** One entry per label value 0..max, named by the value ("0", "1", …). */
  classes: { name: string; count: number }[];
  /** sha256 over both files (fingerprintFiles, images first). */
  sha256: string;
}

interface IdxFile {
  dims: number[];
  data: Uint8Array;
}

/** Checks an IDX images/labels pair (plain or gzip): magic numbers, sizes, equal counts. */
export async function inspectIdx(imagesPath: string, labelsPath: string): Promise<IdxInfo> {
  const { images, labels } = await readPair(imagesPath, labelsPath, "register");
  const [count, height, width] = images.dims;
  if (count === 0) throw new InputError(`${readerContext("register", imagesPath)}: it holds no images`);
  const counts: number[] = [];
  for (const label of labels.data) counts[label] = (counts[label] ?? 0) + 1;
  const classes = Array.from(counts, (n, label) => ({ name: String(label), count: n ?? 0 }));
  return { count, height, width, classes, sha256: await idxFingerprint(imagesPath, labelsPath) };
}

/** The fingerprint of an IDX pair: both files' sha256 and absolute names (so it does not depend on the cwd). */
export function idxFingerprint(imagesPath: string, labelsPath: string): Promise<string> {
  return fingerprintFiles([resolve(imagesPath), resolve(labelsPath)]);
}

/**
 * Reads an IDX pair into a Dataset: `x` the raw pixel bytes read as [0, 1] (`xScale` 1/255, a quarter
 * of the memory of float32), sample shape [height, width, 1];
 * `y` the label; classes "0".."max label".
 */
export async function loadIdx(imagesPath: string, labelsPath: string): Promise<Dataset> {
  const images = await loadIdxImages(imagesPath);
  const { y, classes } = await readLabels(labelsPath, images.rows, imagesPath);
  return { ...images, y, classes };
}

/** The images of an IDX file alone, as `loadIdx` reads them, for predictions: `y` all zero. */
export async function loadIdxImages(imagesPath: string): Promise<Dataset> {
  const images = await readIdx(imagesPath, IDX_IMAGES_MAGIC, "load");
  const [count, height, width] = images.dims;
  return { x: images.data, xScale: 1 / 255, sampleShape: [height, width, 1], y: new Float32Array(count), rows: count };
}

/** The labels of an IDX pair whose images file holds `count` images; y as float labels, classes "0".."max". */
export async function readLabels(
  labelsPath: string,
  count: number,
  imagesPath: string,
): Promise<{ y: Float32Array; classes: string[] }> {
  const labels = await readIdx(labelsPath, IDX_LABELS_MAGIC, "load");
  if (labels.dims[0] !== count) {
    throw new InputError(
      `${readerContext("load", imagesPath)}: it holds ${count} images but labels file "${labelsPath}" holds ${labels.dims[0]} labels`,
    );
  }
  const maxLabel = labels.data.reduce((a, b) => Math.max(a, b), 0);
  return { y: Float32Array.from(labels.data), classes: Array.from({ length: maxLabel + 1 }, (_, i) => String(i)) };
}

async function readPair(imagesPath: string, labelsPath: string, action: ReadAction) {
  const images = await readIdx(imagesPath, IDX_IMAGES_MAGIC, action);
  const labels = await readIdx(labelsPath, IDX_LABELS_MAGIC, action);
  if (images.dims[0] !== labels.dims[0]) {
    throw new InputError(
      `${readerContext(action, imagesPath)}: it holds ${images.dims[0]} images but labels file "${labelsPath}" holds ${labels.dims[0]} labels`,
    );
  }
  return { images, labels };
}

/** Reads one IDX file of unsigned bytes, gunzipping when it starts with the gzip signature. */
async function readIdx(path: string, magic: number, action: ReadAction): Promise<IdxFile> {
  await checkFile(path, action);
  const context = readerContext(action, path);
  const { bytes, length } = (await isGzip(path)) ? await gunzipIdx(path, magic, context) : await readWhole(path);
  const { dims, headerBytes } = checkIdxHeader(bytes, length, magic, context);
  return { dims, data: bytes.subarray(headerBytes) };
}

async function readWhole(path: string): Promise<{ bytes: Uint8Array; length: number }> {
  const bytes = await readFile(path);
  return { bytes, length: bytes.length };
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Gunzips an IDX file straight into a buffer sized from its header, so memory holds the data once
 * (not the compressed file, the inflated pieces and their concatenation). `length` is how many
 * bytes the stream really had, for checkIdxHeader's truncated / too-long messages.
 */
async function gunzipIdx(path: string, magic: number, context: string): Promise<{ bytes: Uint8Array; length: number }> {
  let head = new Uint8Array(0);
  let out: Uint8Array | undefined;
  let length = 0;
  try {
    for await (const piece of createReadStream(path).pipe(createGunzip())) {
      let chunk = piece as Uint8Array;
      if (!out) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 4) continue;
        const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
        if (view.getUint32(0) !== magic) checkIdxHeader(head, head.length, magic, context); // throws: wrong magic
        const rank = magic & 0xff;
        const headerBytes = 4 + 4 * rank;
        if (head.length < headerBytes) continue;
        const values = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i)).reduce((a, b) => a * b, 1);
        if (headerBytes + values > 2 ** 31)
          throw new InputError(
            `${context}: its header announces ${values} bytes of data, more than this reader accepts (2 GiB)`,
          );
        out = new Uint8Array(headerBytes + values);
        chunk = head;
      }
      if (length < out.length) out.set(chunk.subarray(0, out.length - length), length);
      length += chunk.length;
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${context}: the gzip data is corrupt or truncated (${errorMessage(error)})`);
  }
  return out ? { bytes: out, length } : { bytes: head, length: head.length };
}

/**
 * Checks an IDX header (magic number, rank, sizes) against the length of the whole (uncompressed)
 * file; `head` needs only the header's bytes. Returns the dimensions and the header size.
 */
export function checkIdxHeader(
  head: Uint8Array,
  fileLength: number,
  magic: number,
  context: string,
): { dims: number[]; headerBytes: number } {
  const kind = magic === IDX_IMAGES_MAGIC ? "images" : "labels";
  const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
  if (fileLength < 4)
    throw new InputError(`${context}: the file is truncated (${fileLength} bytes, not even an IDX header)`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const found = view.getUint32(0);
  if (found !== magic) {
    const swapped = found === (magic === IDX_IMAGES_MAGIC ? IDX_LABELS_MAGIC : IDX_IMAGES_MAGIC);
    const hint = swapped
      ? `; it looks like an IDX ${kind === "images" ? "labels" : "images"} file, are --path and --labels swapped?`
      : "";
    throw new InputError(
      `${context}: not an IDX ${kind} file (magic number ${hex(found)}, expected ${hex(magic)})${hint}`,
    );
  }
  const rank = magic & 0xff;
  const headerBytes = 4 + 4 * rank;
  if (fileLength < headerBytes || head.length < headerBytes)
    throw new InputError(`${context}: the file is truncated inside its ${headerBytes}-byte header`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (fileLength !== expected) {
    const what = kind === "images" ? `${dims[0]} images of ${dims[1]}×${dims[2]}` : `${dims[0]} labels`;
    const problem = fileLength < expected ? "is truncated" : "is too long";
    throw new InputError(
      `${context}: the file ${problem}: its header announces ${what} (${expected} bytes) but it has ${fileLength} bytes`,
    );
  }
  return { dims, headerBytes };
}
