import { gunzipSync } from "node:zlib";
import * as nifti from "nifti-reader-js";

/**
 * NIfTI-1 / NIfTI-2 volumes (.nii, .nii.gz) read with nifti-reader-js (header, affine), voxels scaled as
 * nibabel's `get_fdata()` does: `value · scl_slope + scl_inter`, unless the slope is 0 or not finite.
 */

/** A 3D volume: `data` x-fastest (NIfTI order, i + j·X + k·X·Y), scaled, as float32. */
export interface Volume {
  /** [X, Y, Z] voxels (a 2D image has Z = 1). */
  dims: [number, number, number];
  /** Voxel size in the header's units (pixdim 1..3). */
  spacing: [number, number, number];
  /** 4×4 voxel → world matrix as the header gives it (sform when set, else qform, else the voxel sizes). */
  affine: number[][];
  /** NIfTI datatype name, e.g. "int16". */
  datatype: string;
  data: Float32Array;
}

/** Datatypes read, by NIfTI code: name, bytes per voxel, and the DataView getter. */
const datatypes: Record<
  number,
  { name: string; bytes: number; get: (v: DataView, at: number, le: boolean) => number }
> = {
  2: { name: "uint8", bytes: 1, get: (v, at) => v.getUint8(at) },
  4: { name: "int16", bytes: 2, get: (v, at, le) => v.getInt16(at, le) },
  8: { name: "int32", bytes: 4, get: (v, at, le) => v.getInt32(at, le) },
  16: { name: "float32", bytes: 4, get: (v, at, le) => v.getFloat32(at, le) },
  64: { name: "float64", bytes: 8, get: (v, at, le) => v.getFloat64(at, le) },
  256: { name: "int8", bytes: 1, get: (v, at) => v.getInt8(at) },
  512: { name: "uint16", bytes: 2, get: (v, at, le) => v.getUint16(at, le) },
  768: { name: "uint32", bytes: 4, get: (v, at, le) => v.getUint32(at, le) },
};

/** The datatype names read (others, e.g. complex or RGB, are refused). */
export const niftiDatatypes = Object.values(datatypes).map((d) => d.name);

/** Whether a file name is a NIfTI volume's (.nii or .nii.gz). */
export function isNiftiName(name: string): boolean {
  return /\.nii(\.gz)?$/i.test(name);
}

/** A file name without its NIfTI extension: `T1.nii.gz` → `T1`. */
export function niftiStem(name: string): string {
  return name.replace(/\.nii(\.gz)?$/i, "");
}

/**
 * Reads a NIfTI volume from its bytes (gzip'd or not). Throws a plain Error saying what is wrong (not a
 * NIfTI file, truncated, a datatype or dimension not read); callers name the subject.
 */
export function readNifti(bytes: Uint8Array): Volume {
  let raw: ArrayBuffer;
  try {
    const gzip = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
    const plain = gzip ? gunzipSync(bytes) : bytes;
    raw = plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.byteLength) as ArrayBuffer;
  } catch {
    throw new Error("its gzip stream is truncated or corrupt");
  }
  if (!nifti.isNIFTI(raw)) throw new Error("it is not a NIfTI-1 or NIfTI-2 file (no n+1/n+2 magic)");
  const header = nifti.readHeader(raw);
  const type = datatypes[header.datatypeCode];
  if (type === undefined) {
    throw new Error(`its datatype code ${header.datatypeCode} is not read (read: ${niftiDatatypes.join(", ")})`);
  }
  const rank = header.dims[0];
  const dims = header.dims.slice(1, 8);
  if (rank < 1 || rank > 7 || dims.slice(0, rank).some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`its dimensions [${header.dims.join(", ")}] are not valid`);
  }
  if (dims.slice(3, rank).some((d) => d !== 1)) {
    throw new Error(`it has ${rank} dimensions [${dims.slice(0, rank).join("×")}]: only 3D volumes are read`);
  }
  const [x, y, z] = [0, 1, 2].map((i) => (i < rank ? dims[i] : 1)) as [number, number, number];
  const count = x * y * z;
  const offset = Math.max(header.vox_offset, 0);
  if (offset + count * type.bytes > raw.byteLength) {
    throw new Error(
      `it is truncated: ${count} ${type.name} voxels need ${offset + count * type.bytes} bytes, it has ${raw.byteLength}`,
    );
  }
  const view = new DataView(raw, offset, count * type.bytes);
  // nibabel (Nifti1Header.get_slope_inter): a slope of 0 or NaN means "no scaling"; a valid slope with
  // an invalid intercept is an error.
  const scaled = Number.isFinite(header.scl_slope) && header.scl_slope !== 0;
  if (scaled && !Number.isFinite(header.scl_inter))
    throw new Error("its scl_slope is set but scl_inter is not a number");
  const slope = scaled ? header.scl_slope : 1;
  const inter = scaled ? header.scl_inter : 0;
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = type.get(view, i * type.bytes, header.littleEndian) * slope + inter;
  const spacing = [1, 2, 3].map((i) => Math.abs(header.pixDims[i] || 1)) as [number, number, number];
  return { dims: [x, y, z], spacing, affine: bestAffine(header, raw, [x, y, z], spacing), datatype: type.name, data };
}

/**
 * The voxel → world matrix nibabel's `get_best_affine` gives: the sform when sform_code > 0 (read here from
 * srow_x/y/z, since nifti-reader-js prefers the qform when its code is higher), else the qform
 * (nifti-reader-js's), else nibabel's base affine (x flipped, origin at the centre voxel).
 */
function bestAffine(
  header: ReturnType<typeof nifti.readHeader>,
  raw: ArrayBuffer,
  dims: [number, number, number],
  spacing: [number, number, number],
): number[][] {
  const v2 = header instanceof nifti.NIFTI2;
  if (header.sform_code > 0) {
    const view = new DataView(raw);
    const rows = [0, 1, 2].map((r) =>
      [0, 1, 2, 3].map((c) =>
        v2
          ? view.getFloat64(400 + (r * 4 + c) * 8, header.littleEndian)
          : view.getFloat32(280 + (r * 4 + c) * 4, header.littleEndian),
      ),
    );
    return [...rows, [0, 0, 0, 1]];
  }
  if (header.qform_code > 0) return header.affine.map((row) => [...row]);
  const flip = [-1, 1, 1];
  return [
    ...[0, 1, 2].map((r) =>
      [0, 1, 2].map((c) => (r === c ? flip[r] * spacing[r] : 0)).concat(-((dims[r] - 1) / 2) * flip[r] * spacing[r]),
    ),
    [0, 0, 0, 1],
  ];
}
