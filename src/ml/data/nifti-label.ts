import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { writeFileAtomic } from "../../common/atomic-write.js";
import { InputError } from "../../common/errors.js";
import { labelVolume, type SliceOrientation, type SliceSource, slicePlane } from "./medical-slices.js";
import { wholeLabelVolume } from "./medical-volumes.js";
import { isNiftiName } from "./nifti.js";

/**
 * Label volumes written as NIfTI (`predict` on a medical folder): uint8 voxels after the input volume's own
 * header, kept byte for byte (affine, qform/sform codes, orientation, units, description) but for what a
 * uint8 volume changes: datatype, bitpix, vox_offset, scaling (1, 0) and the display range (0, 1 or the largest class).
 * Extensions are not copied. A DICOM input has no NIfTI header: a NIfTI-1 one is made from its affine
 * (sform_code 1) and voxel size. Offsets after nifti1.h / nifti2.h.
 */

export interface LabelGrid {
  dims: [number, number, number];
  spacing: [number, number, number];
  /** 4×4 voxel → world matrix. */
  affine: number[][];
}

/** The gzip'd .nii bytes of `labels` (x-fastest) with the header of `template` (a .nii or .nii.gz file's bytes). */
export function labelNifti(labels: Uint8Array, grid: LabelGrid, template?: Uint8Array): Buffer {
  const plain = template && template[0] === 0x1f && template[1] === 0x8b ? gunzipSync(template) : template;
  // The display range covers the classes: 0..1 for a mask, 0..K−1 for a label map.
  const top = Math.max(
    1,
    labels.reduce((m, v) => Math.max(m, v), 0),
  );
  const header = plain ? copiedHeader(plain, grid.dims, top) : madeHeader(grid, top);
  return gzipSync(
    Buffer.concat([header, Buffer.alloc(4), Buffer.from(labels.buffer, labels.byteOffset, labels.length)]),
  );
}

function copiedHeader(bytes: Uint8Array, dims: [number, number, number], top: number): Buffer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = view.getInt32(0, true) === 348 || view.getInt32(0, true) === 540;
  const size = view.getInt32(0, le);
  const header = Buffer.from(bytes.subarray(0, size));
  const out = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (size === 540) {
    out.setInt16(12, 2, le); // datatype uint8
    out.setInt16(14, 8, le); // bitpix
    for (const [i, d] of [3, ...dims, 1, 1, 1, 1].entries()) out.setBigInt64(16 + 8 * i, BigInt(d), le);
    out.setBigInt64(168, BigInt(size + 4), le);
    out.setFloat64(176, 1, le);
    out.setFloat64(184, 0, le);
    out.setFloat64(192, top, le); // cal_max
    out.setFloat64(200, 0, le); // cal_min
  } else {
    for (const [i, d] of [3, ...dims, 1, 1, 1, 1].entries()) out.setInt16(40 + 2 * i, d, le);
    out.setInt16(70, 2, le);
    out.setInt16(72, 8, le);
    out.setFloat32(108, size + 4, le);
    out.setFloat32(112, 1, le);
    out.setFloat32(116, 0, le);
    out.setFloat32(124, top, le);
    out.setFloat32(128, 0, le);
  }
  return header;
}

function madeHeader(grid: LabelGrid, top: number): Buffer {
  const header = Buffer.alloc(348);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  view.setInt32(0, 348, true);
  for (const [i, d] of [3, ...grid.dims, 1, 1, 1, 1].entries()) view.setInt16(40 + 2 * i, d, true);
  view.setInt16(70, 2, true);
  view.setInt16(72, 8, true);
  for (const [i, p] of [1, ...grid.spacing, 1, 1, 1, 1].entries()) view.setFloat32(76 + 4 * i, p, true);
  view.setFloat32(108, 352, true);
  view.setFloat32(112, 1, true);
  view.setFloat32(124, top, true);
  header[123] = 2; // xyzt_units: millimetres
  view.setInt16(254, 1, true); // sform_code: scanner
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) view.setFloat32(280 + (r * 4 + c) * 4, grid.affine[r][c], true);
  header.write("n+1\0", 344, "latin1");
  return header;
}

/**
 * Writes one predicted label volume per subject, `<out>/<subject>.nii.gz`, each atomically, from the
 * model's outputs on every slice of `sources` in order (`size` [h, w] per slice), or with `slices: none`
 * on each whole volume (`size` [d, h, w]): one output per voxel (a mask) or K (a label map, argmax).
 * Returns the files.
 */
export async function writeLabelVolumes(
  out: string,
  sources: SliceSource[],
  outputs: Float32Array,
  prep: { slices: SliceOrientation | "none"; crop?: [number, number] },
  size: number[],
): Promise<string[]> {
  const info = await stat(out).catch(() => undefined);
  if (info && !info.isDirectory())
    throw new InputError(`Cannot write label volumes to "${out}": it is a file, not a folder`);
  await mkdir(out, { recursive: true });
  const { slices, crop } = prep;
  const [h, w] = size;
  // Values per subject and output channel: its slices' pixels, or the whole volume's voxels.
  const per = (source: SliceSource) =>
    slices === "none" ? size[0] * size[1] * size[2] : slicePlane(source.dims, slices).count * h * w;
  const pixels = sources.reduce((n, source) => n + per(source), 0);
  const classes = pixels === 0 ? 1 : outputs.length / pixels;
  if (!Number.isInteger(classes) || classes < 1) {
    throw new InputError(`Cannot write label volumes: ${outputs.length} outputs do not fit ${pixels} slice pixels`);
  }
  const files: string[] = [];
  let at = 0;
  for (const source of sources) {
    const count = per(source) * classes;
    const part = outputs.subarray(at, at + count);
    const labels =
      slices === "none"
        ? wholeLabelVolume(part, source.dims, size as [number, number, number], classes)
        : labelVolume(part, source.dims, { slices, crop }, size, classes);
    at += count;
    const template = isNiftiName(source.path) ? await readFile(source.path) : undefined;
    const file = join(out, `${source.id}.nii.gz`);
    await writeFileAtomic(file, labelNifti(labels, source, template));
    files.push(file);
  }
  return files;
}
