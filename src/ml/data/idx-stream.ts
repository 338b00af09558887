import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { InputError } from "../../common/errors.js";
import type { Dataset } from "../types.js";
import { checkIdxHeader, IDX_IMAGES_MAGIC, loadIdx, readLabels } from "./idx.js";
import { checkFile, readerContext } from "./reader-errors.js";

/**
 * An IDX pair for training without holding the images: labels are read (one byte each), images stay
 * on disk and each row is read when a batch needs it (one positioned read of height×width bytes).
 * Memory is the labels plus a batch, whatever the number of images. Gzip files cannot be read at an
 * offset, so they are loaded into memory as bytes (`loadIdx`).
 */
export async function openIdx(imagesPath: string, labelsPath: string): Promise<Dataset> {
  await checkFile(imagesPath, "load");
  const fd = openSync(imagesPath, "r");
  let handedOver = false;
  try {
    const head = new Uint8Array(16);
    const got = readSync(fd, head, 0, head.length, 0);
    if (got >= 2 && head[0] === 0x1f && head[1] === 0x8b) return await loadIdx(imagesPath, labelsPath);
    const context = readerContext("load", imagesPath);
    const { dims, headerBytes } = checkIdxHeader(head.subarray(0, got), fstatSync(fd).size, IDX_IMAGES_MAGIC, context);
    const [count, height, width] = dims;
    // Labels via the in-memory reader (small); it also checks that the counts agree.
    const labels = await readLabels(labelsPath, count, imagesPath);
    const rowBytes = height * width;
    const buffer = new Uint8Array(rowBytes);
    let open = true;
    handedOver = true;
    return {
      x: new Float32Array(0),
      sampleShape: [height, width, 1],
      y: labels.y,
      rows: count,
      classes: labels.classes,
      readRow(row, out, offset) {
        if (!open) throw new InputError(`${context}: the dataset was closed`);
        const n = readSync(fd, buffer, 0, rowBytes, headerBytes + row * rowBytes);
        if (n !== rowBytes)
          throw new InputError(`${context}: the file changed while training (short read at image ${row})`);
        for (let i = 0; i < rowBytes; i++) out[offset + i] = buffer[i] / 255;
      },
      close() {
        if (open) closeSync(fd);
        open = false;
      },
    };
  } finally {
    if (!handedOver) closeSync(fd);
  }
}
