import { gzipSync } from "node:zlib";

/**
 * Writes NIfTI-1 / NIfTI-2 files in code for tests and the images demo, byte by byte after the published header layouts
 * (nifti1.h, nifti2.h): a 348- or 540-byte header, 4 extension bytes, then the voxels x-fastest.
 */

export type FixtureDatatype = "uint8" | "int16" | "int32" | "float32" | "float64";

const codes: Record<FixtureDatatype, { code: number; bytes: number }> = {
  uint8: { code: 2, bytes: 1 },
  int16: { code: 4, bytes: 2 },
  int32: { code: 8, bytes: 4 },
  float32: { code: 16, bytes: 4 },
  float64: { code: 64, bytes: 8 },
};

export interface NiftiFixture {
  dims: [number, number, number];
  /** Stored values (before scaling), x-fastest. */
  values: ArrayLike<number>;
  datatype?: FixtureDatatype;
  spacing?: [number, number, number];
  slope?: number;
  inter?: number;
  /** Rows 0..2 of the sform (sform_code 1 when given). */
  sform?: number[][];
  version?: 1 | 2;
  gzip?: boolean;
  bigEndian?: boolean;
}

export function niftiBytes(f: NiftiFixture): Buffer {
  const type = codes[f.datatype ?? "float32"];
  const le = !f.bigEndian;
  const v2 = f.version === 2;
  const headerSize = v2 ? 540 : 348;
  const offset = headerSize + 4;
  const count = f.dims[0] * f.dims[1] * f.dims[2];
  const buf = Buffer.alloc(offset + count * type.bytes);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const spacing = f.spacing ?? [1, 1, 1];
  view.setInt32(0, headerSize, le);
  if (v2) {
    buf.write("n+2\0\r\n\x1a\n", 4, "latin1");
    view.setInt16(12, type.code, le);
    view.setInt16(14, type.bytes * 8, le);
    const dims = [3, ...f.dims, 1, 1, 1, 1];
    for (const [i, d] of dims.entries()) view.setBigInt64(16 + 8 * i, BigInt(d), le);
    const pix = [1, ...spacing, 1, 1, 1, 1];
    for (const [i, p] of pix.entries()) view.setFloat64(104 + 8 * i, p, le);
    view.setBigInt64(168, BigInt(offset), le);
    view.setFloat64(176, f.slope ?? 0, le);
    view.setFloat64(184, f.inter ?? 0, le);
    if (f.sform) {
      view.setInt32(348, 1, le);
      for (const [r, row] of f.sform.entries())
        for (const [c, a] of row.entries()) view.setFloat64(400 + (r * 4 + c) * 8, a, le);
    }
  } else {
    const dims = [3, ...f.dims, 1, 1, 1, 1];
    for (const [i, d] of dims.entries()) view.setInt16(40 + 2 * i, d, le);
    view.setInt16(70, type.code, le);
    view.setInt16(72, type.bytes * 8, le);
    const pix = [1, ...spacing, 1, 1, 1, 1];
    for (const [i, p] of pix.entries()) view.setFloat32(76 + 4 * i, p, le);
    view.setFloat32(108, offset, le);
    view.setFloat32(112, f.slope ?? 0, le);
    view.setFloat32(116, f.inter ?? 0, le);
    if (f.sform) {
      view.setInt16(254, 1, le);
      for (const [r, row] of f.sform.entries())
        for (const [c, a] of row.entries()) view.setFloat32(280 + (r * 4 + c) * 4, a, le);
    }
    buf.write("n+1\0", 344, "latin1");
  }
  for (let i = 0; i < count; i++) {
    const at = offset + i * type.bytes;
    const value = f.values[i];
    switch (f.datatype ?? "float32") {
      case "uint8":
        view.setUint8(at, value);
        break;
      case "int16":
        view.setInt16(at, value, le);
        break;
      case "int32":
        view.setInt32(at, value, le);
        break;
      case "float32":
        view.setFloat32(at, value, le);
        break;
      case "float64":
        view.setFloat64(at, value, le);
        break;
    }
  }
  return f.gzip ? gzipSync(buf) : buf;
}

/** A ball of value `inside` (else `outside`) centred at `centre` with radius `r`, in voxel units. */
export function ballValues(
  dims: [number, number, number],
  centre: [number, number, number],
  r: number,
  inside = 1,
  outside = 0,
): Float64Array {
  const out = new Float64Array(dims[0] * dims[1] * dims[2]);
  let i = 0;
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++)
      for (let x = 0; x < dims[0]; x++, i++) {
        const d2 = (x - centre[0]) ** 2 + (j - centre[1]) ** 2 + (k - centre[2]) ** 2;
        out[i] = d2 <= r * r ? inside : outside;
      }
  return out;
}
