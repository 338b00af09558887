import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { niftiBytes } from "../../../scripts/lib/nifti-writer.js";
import { readNifti } from "../../../src/ml/data/nifti.js";

/**
 * Expected values below were made once with Debian's python3-nibabel 5.0.0: the same fixtures written to
 * files and read with `nib.load(p).get_fdata().flatten(order="F")` and `.affine` (see the report of the
 * medical-images branch). They are pasted here so the tests run without Python.
 */
const dims: [number, number, number] = [3, 4, 2];
const stored = Array.from({ length: 24 }, (_, i) => ((i * 7) % 23) - 5);

describe("readNifti", () => {
  it("reads uint8 voxels x-fastest, with nibabel's base affine when no sform or qform is set", () => {
    const v = readNifti(niftiBytes({ dims, datatype: "uint8", values: stored.map((s) => s + 5) }));
    assert.deepEqual(v.dims, [3, 4, 2]);
    assert.equal(v.datatype, "uint8");
    // nibabel: [0, 7, 14, 21, 5, 12, 19, 3, 10, 17, 1, 8, 15, 22, 6, 13, 20, 4, 11, 18, 2, 9, 16, 0]
    assert.deepEqual(
      [...v.data],
      [0, 7, 14, 21, 5, 12, 19, 3, 10, 17, 1, 8, 15, 22, 6, 13, 20, 4, 11, 18, 2, 9, 16, 0],
    );
    assert.deepEqual(v.affine, [
      [-1, 0, 0, 1],
      [0, 1, 0, -1.5],
      [0, 0, 1, -0.5],
      [0, 0, 0, 1],
    ]);
  });

  it("applies scl_slope and scl_inter to gzip'd int16 voxels as nibabel does", () => {
    const bytes = niftiBytes({
      dims,
      datatype: "int16",
      values: stored.map((s) => s * 300),
      slope: 0.5,
      inter: -3,
      gzip: true,
    });
    assert.equal(bytes[0], 0x1f); // really gzip'd
    const v = readNifti(bytes);
    // nibabel get_fdata():
    const expected = [
      -753, 297, 1347, 2397, -3, 1047, 2097, -303, 747, 1797, -603, 447, 1497, 2547, 147, 1197, 2247, -153, 897, 1947,
      -453, 597, 1647, -753,
    ];
    assert.deepEqual([...v.data], expected);
  });

  it("reads big-endian int32 voxels", () => {
    const v = readNifti(
      niftiBytes({ dims, datatype: "int32", values: stored.map((s) => s * 100000), bigEndian: true }),
    );
    assert.deepEqual(v.data.slice(0, 5), Float32Array.from([-500000, 200000, 900000, 1600000, 0]));
    assert.equal(v.datatype, "int32");
  });

  it("keeps float32 voxels, the voxel size and the sform", () => {
    const sform = [
      [-2, 0, 0, 10],
      [0, 2, 0, -5],
      [0, 0, 3, 1],
    ];
    const v = readNifti(niftiBytes({ dims, values: stored.map((s) => s / 3), sform, spacing: [2, 2, 3] }));
    assert.deepEqual(v.spacing, [2, 2, 3]);
    assert.deepEqual(v.affine, [...sform, [0, 0, 0, 1]]);
    assert.deepEqual(v.data, Float32Array.from(stored.map((s) => s / 3)));
  });

  it("reads NIfTI-2 float64 gzip'd with scaling and an sform, equal to nibabel within float32 rounding", () => {
    const sform = [
      [1, 0, 0, 1],
      [0, 1, 0, 2],
      [0, 0, 1, 3],
    ];
    const bytes = niftiBytes({
      dims,
      datatype: "float64",
      values: stored.map((s) => s / 7),
      version: 2,
      slope: 2,
      inter: 1,
      gzip: true,
      sform,
    });
    const v = readNifti(bytes);
    // nibabel get_fdata(), first six voxels:
    const expected = [-0.4285714285714286, 1.5714285714285714, 3.5714285714285716, 5.571428571428571, 1.0, 3.0];
    for (const [i, e] of expected.entries())
      assert.ok(Math.abs(v.data[i] - e) < 1e-6, `voxel ${i}: ${v.data[i]} vs ${e}`);
    assert.deepEqual(v.affine, [...sform, [0, 0, 0, 1]]);
  });

  it("refuses a truncated volume, a truncated gzip stream and a file that is not NIfTI", () => {
    const whole = niftiBytes({ dims, values: stored });
    assert.throws(
      () => readNifti(whole.subarray(0, whole.length - 10)),
      /it is truncated: 24 float32 voxels need 448 bytes, it has 438/,
    );
    const gz = niftiBytes({ dims, values: stored, gzip: true });
    assert.throws(() => readNifti(gz.subarray(0, gz.length - 12)), /gzip stream is truncated or corrupt/);
    assert.throws(() => readNifti(Buffer.alloc(400)), /not a NIfTI-1 or NIfTI-2 file/);
  });

  it("refuses 4D volumes with more than one frame", () => {
    const bytes = niftiBytes({ dims, values: stored });
    bytes.writeInt16LE(4, 40); // dim[0] = 4
    bytes.writeInt16LE(2, 48); // dim[4] = 2
    assert.throws(() => readNifti(bytes), /only 3D volumes are read/);
  });
});
