import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dicomBytes } from "../../../scripts/lib/dicom-writer.js";
import { readDicomImage, readDicomVolume } from "../../../src/ml/data/dicom.js";
import { inspectMedicalFolder, medicalFolderFingerprint } from "../../../src/ml/data/medical-folder.js";

const root = mkdtempSync(join(tmpdir(), "fbm-dicom-"));
after(() => rmSync(root, { recursive: true, force: true }));

const rows = 3;
const cols = 4;
/** Three slices at z 2.5, 0 and 5, written as b.dcm, c.dcm (implicit VR) and a.dcm: names do not give the order. */
function writeSeries(dir: string): void {
  mkdirSync(dir, { recursive: true });
  [2.5, 0, 5].forEach((z, f) => {
    const values = Array.from({ length: rows * cols }, (_, i) => ((i * 37 + f * 11) % 50) - 20);
    writeFileSync(
      join(dir, `${["b", "c", "a"][f]}.dcm`),
      dicomBytes({
        rows,
        cols,
        values,
        signed: true,
        slope: 0.5,
        intercept: -7,
        position: [1, 2, z],
        orientation: [1, 0, 0, 0, 1, 0],
        pixelSpacing: [0.8, 0.6],
        instance: f + 1,
        syntax: f === 1 ? "implicit" : "explicit",
      }),
    );
  });
}

describe("DICOM", () => {
  it("reads a series sorted by position with the modality LUT, equal to pydicom", async () => {
    const dir = join(root, "series");
    writeSeries(dir);
    const v = await readDicomVolume(dir);
    assert.deepEqual(v.dims, [4, 3, 3]);
    assert.deepEqual(v.spacing, [0.6, 0.8, 2.5]);
    assert.equal(v.datatype, "int16");
    // Made once with python3-pydicom 2.3.1: the files sorted by ImagePositionPatient[2],
    // np.stack([apply_modality_lut(d.pixel_array, d) for d in files]).flatten().
    const pydicom = [
      -11.5, 7.0, 0.5, -6.0, -12.5, 6.0, -0.5, -7.0, -13.5, 5.0, -1.5, -8.0, -17.0, 1.5, -5.0, -11.5, 7.0, 0.5, -6.0,
      -12.5, 6.0, -0.5, -7.0, -13.5, -6.0, -12.5, 6.0, -0.5, -7.0, -13.5, 5.0, -1.5, -8.0, -14.5, 4.0, -2.5,
    ];
    assert.deepEqual([...v.data], pydicom);
    assert.deepEqual(v.affine[2], [0, 0, 2.5, 0]);
  });

  it("reads a multi-frame 8-bit file as one volume", async () => {
    const path = join(root, "multi.dcm");
    writeFileSync(
      path,
      dicomBytes({ rows, cols, frames: 2, bits: 8, values: Array.from({ length: 24 }, (_, i) => i * 3) }),
    );
    const v = await readDicomVolume(path);
    assert.deepEqual(v.dims, [4, 3, 2]);
    // pydicom: apply_modality_lut(pixel_array) of shape (2, 3, 4) is 0, 3, …, 69.
    assert.deepEqual(
      [...v.data],
      Array.from({ length: 24 }, (_, i) => i * 3),
    );
  });

  it("refuses compressed transfer syntaxes by name, truncated pixel data and non-DICOM bytes", () => {
    const jpeg = dicomBytes({ rows, cols, values: new Array(12).fill(0), syntax: "1.2.840.10008.1.2.4.50" });
    assert.throws(
      () => readDicomImage(jpeg),
      /^Error: its transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50 \(JPEG baseline\) is compressed; only uncompressed DICOM is read/,
    );
    const j2k = dicomBytes({ rows, cols, values: new Array(12).fill(0), syntax: "1.2.840.10008.1.2.4.90" });
    assert.throws(() => readDicomImage(j2k), /\(JPEG 2000 lossless\) is compressed/);
    const whole = dicomBytes({ rows, cols, values: new Array(12).fill(1) });
    assert.throws(() => readDicomImage(whole.subarray(0, whole.length - 6)), /truncated|not a readable DICOM/);
    assert.throws(() => readDicomImage(Buffer.alloc(300)), /not a readable DICOM Part 10 file/);
  });

  it("takes DICOM series folders and files as modalities of a medical folder, fingerprinting every slice", async () => {
    const dir = join(root, "folder");
    writeSeries(join(dir, "sub-001", "CT"));
    writeSeries(join(dir, "sub-002", "CT"));
    const info = await inspectMedicalFolder(dir);
    assert.deepEqual(
      info.modalities.map((m) => [m.name, m.subjects, m.shapes, m.spacing]),
      [["CT", 2, [[4, 3, 3]], [0.6, 0.8, 2.5]]],
    );
    writeFileSync(
      join(dir, "sub-002", "CT", "b.dcm"),
      dicomBytes({ rows, cols, values: new Array(12).fill(3), position: [1, 2, 2.5], orientation: [1, 0, 0, 0, 1, 0] }),
    );
    assert.notEqual(await medicalFolderFingerprint(dir), info.sha256, "a changed slice changes the fingerprint");
    writeFileSync(join(dir, "sub-002", "CT", "c.dcm"), Buffer.alloc(200));
    await assert.rejects(
      inspectMedicalFolder(dir),
      /subject "sub-002" CT volume cannot be read: slice 3 of 3: it is not a readable DICOM Part 10 file/,
    );
  });
});
