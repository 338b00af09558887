import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { niftiBytes } from "../../../scripts/lib/nifti-writer.js";
import { writeSyntheticSubjects } from "../../../scripts/lib/synthetic-volumes.js";
import { inspectMedicalFolder, medicalFolderFingerprint } from "../../../src/ml/data/medical-folder.js";
import { loadMedicalSlices, slicePlane } from "../../../src/ml/data/medical-slices.js";
import { clipPercentiles, zscore } from "../../../src/ml/data/medical-subjects.js";

const root = mkdtempSync(join(tmpdir(), "fbm-medical-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A ramp volume: voxel (i, j, k) holds i + 10 j + 100 k. */
function ramp(dims: [number, number, number]): number[] {
  const out: number[] = [];
  for (let k = 0; k < dims[2]; k++)
    for (let j = 0; j < dims[1]; j++) for (let i = 0; i < dims[0]; i++) out.push(i + 10 * j + 100 * k);
  return out;
}

describe("medical folders", () => {
  it("records subjects, modalities (files or sub-folders), shapes, spacing and subjects missing a modality", async () => {
    const dir = join(root, "site");
    writeSyntheticSubjects(dir, { subjects: 3, dims: [8, 8, 4], seed: 1, withoutLabel: [2] });
    // A modality as a sub-folder holding one NIfTI file.
    mkdirSync(join(dir, "sub-001", "T2"));
    writeFileSync(join(dir, "sub-001", "T2", "scan.nii"), niftiBytes({ dims: [8, 8, 4], values: ramp([8, 8, 4]) }));
    const info = await inspectMedicalFolder(dir);
    assert.equal(info.subjects, 3);
    assert.deepEqual(
      info.modalities.map((m) => [m.name, m.subjects, m.missing, m.shapes, m.spacing, m.datatypes]),
      [
        ["T1", 3, 0, [[8, 8, 4]], [1, 1, 2], ["int16"]],
        ["T2", 1, 2, [[8, 8, 4]], [1, 1, 1], ["float32"]],
        ["label", 2, 1, [[8, 8, 4]], [1, 1, 2], ["uint8"]],
      ],
    );
    assert.equal(info.sha256, await medicalFolderFingerprint(dir));
    writeFileSync(join(dir, "sub-002", "extra.nii"), niftiBytes({ dims: [8, 8, 4], values: ramp([8, 8, 4]) }));
    assert.notEqual(info.sha256, await medicalFolderFingerprint(dir), "a new volume changes the fingerprint");
  });

  it("names the subject of a truncated volume and refuses modalities of different shapes", async () => {
    const dir = join(root, "bad");
    writeSyntheticSubjects(dir, { subjects: 2, dims: [6, 6, 3], seed: 2 });
    const t1 = join(dir, "sub-002", "T1.nii.gz");
    const bytes = readFileSync(t1);
    writeFileSync(t1, bytes.subarray(0, bytes.length - 20));
    await assert.rejects(inspectMedicalFolder(dir), (e: Error) => {
      assert.match(e.message, /subject "sub-002" T1 volume cannot be read: its gzip stream is truncated or corrupt$/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    writeFileSync(t1, niftiBytes({ dims: [6, 6, 4], values: ramp([6, 6, 4]) }));
    await assert.rejects(
      inspectMedicalFolder(dir),
      /subject "sub-002" label volume is 6×6×3 but its T1 volume is 6×6×4/,
    );
  });

  it("checks the demographics table's index column and counts subjects without a row", async () => {
    const dir = join(root, "demo");
    writeSyntheticSubjects(dir, { subjects: 3, dims: [4, 4, 2], seed: 3 });
    const csv = join(root, "demo.csv");
    writeFileSync(csv, "subject,age,sex\nsub-001,54,F\nsub-003,61,M\n");
    const info = await inspectMedicalFolder(dir, { demographics: csv, indexCol: "subject" });
    assert.deepEqual(
      info.columns.map((c) => c.name),
      ["age", "sex"],
    );
    assert.equal(info.withoutDemographics, 1);
    await assert.rejects(
      inspectMedicalFolder(dir, { demographics: csv, indexCol: "id" }),
      /has no column "id" \(columns: subject, age, sex\)/,
    );
  });
});

describe("medical slices", () => {
  it("cuts axial, coronal and sagittal slices in NIfTI voxel order", () => {
    const data = Float32Array.from(ramp([3, 4, 2]));
    const out = new Float32Array(12);
    const axial = slicePlane([3, 4, 2], "axial");
    axial.read(data, 1, out);
    assert.deepEqual([axial.count, axial.rows, axial.cols], [2, 4, 3]);
    assert.deepEqual([...out.subarray(0, 4)], [100, 101, 102, 110]); // k = 1: rows j, columns i
    const coronal = slicePlane([3, 4, 2], "coronal");
    coronal.read(data, 2, out);
    assert.deepEqual([...out.subarray(0, 6)], [20, 21, 22, 120, 121, 122]); // j = 2: rows k, columns i
    const sagittal = slicePlane([3, 4, 2], "sagittal");
    sagittal.read(data, 1, out);
    assert.deepEqual([...out.subarray(0, 8)], [1, 11, 21, 31, 101, 111, 121, 131]); // i = 1: rows k, columns j
  });

  it("z-scores each volume", () => {
    const z = zscore(Float32Array.from([2, 4, 4, 4, 5, 5, 7, 9]));
    assert.deepEqual([...z], [-1.5, -0.5, -0.5, -0.5, 0, 0, 1, 2]);
    assert.deepEqual([...zscore(Float32Array.from([3, 3]))], [0, 0]);
  });

  it("loads axial slices resampled, z-scored, with 0/1 masks, skipping and counting subjects without the target", async () => {
    const dir = join(root, "slices");
    writeSyntheticSubjects(dir, { subjects: 3, dims: [8, 8, 4], seed: 4, withoutLabel: [1] });
    const data = await loadMedicalSlices(
      dir,
      { inputs: ["T1"], target: "label", slices: "axial", resample: [16, 16], intensity: "zscore" },
      'Dataset "mri"',
    );
    assert.equal(data.rows, 8); // 2 usable subjects × 4 axial slices
    assert.equal(data.skippedSubjects, 1);
    assert.deepEqual(data.sampleShape, [16, 16, 1]);
    assert.deepEqual(data.yShape, [16, 16, 1]);
    assert.equal(data.x.length, 8 * 256);
    assert.equal(data.y.length, 8 * 256);
    assert.ok(data.y.every((v) => v === 0 || v === 1));
    assert.ok(
      data.y.some((v) => v === 1),
      "the lesions are in the masks",
    );
    // z-scored per volume: subject 1's 4 slices hold mean ≈ 0 (resampling by 2 keeps the mean of each slice's pixels).
    const first = data.x.subarray(0, 4 * 256) as Float32Array;
    const mean = first.reduce((a, b) => a + b, 0) / first.length;
    assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
    // Foreground voxels are brighter than background ones.
    let fg = 0,
      fgN = 0,
      bg = 0,
      bgN = 0;
    for (let i = 0; i < data.y.length; i++) {
      if (data.y[i] === 1) {
        fg += data.x[i];
        fgN++;
      } else {
        bg += data.x[i];
        bgN++;
      }
    }
    assert.ok(fg / fgN > bg / bgN + 1);
  });

  it("clips to percentiles as numpy.percentile (linear)", () => {
    // numpy.percentile(np.arange(1, 11), [10, 90]) = [1.9, 9.1]
    const clipped = clipPercentiles(
      Float32Array.from({ length: 10 }, (_, i) => i + 1),
      [10, 90],
    );
    assert.deepEqual([...clipped], [...Float32Array.from([1.9, 2, 3, 4, 5, 6, 7, 8, 9, 9.1])]);
  });

  it("centre-crops and pads slices without interpolation: inputs with the volume's minimum, masks with 0", async () => {
    const dir = join(root, "crop");
    mkdirSync(join(dir, "sub-001"), { recursive: true });
    writeFileSync(join(dir, "sub-001", "T1.nii"), niftiBytes({ dims: [3, 4, 2], values: ramp([3, 4, 2]) }));
    writeFileSync(join(dir, "sub-001", "label.nii"), niftiBytes({ dims: [3, 4, 2], values: new Array(24).fill(1) }));
    const data = await loadMedicalSlices(
      dir,
      { inputs: ["T1"], target: "label", slices: "axial", crop: [2, 5] },
      "test",
    );
    assert.deepEqual(data.sampleShape, [2, 5, 1]);
    // Axial slice k = 0 is rows j 0..3 × columns i 0..2: rows 1–2 kept, one column of padding each side (value 0 = min).
    assert.deepEqual([...data.x.subarray(0, 10)], [0, 10, 11, 12, 0, 0, 20, 21, 22, 0]);
    assert.deepEqual([...data.y.subarray(0, 10)], [0, 1, 1, 1, 0, 0, 1, 1, 1, 0]);
  });

  it("labels every slice with its subject's demographics value when the target is a column, skipping subjects without one", async () => {
    const dir = join(root, "classify");
    writeSyntheticSubjects(dir, { subjects: 3, dims: [4, 4, 3], seed: 9 });
    const csv = join(root, "classify.csv");
    writeFileSync(csv, "subject,grade\nsub-001,1\nsub-002,NA\nsub-003,0\n");
    const data = await loadMedicalSlices(
      dir,
      { inputs: ["T1"], target: "grade", slices: "axial", demographics: { path: csv, indexCol: "subject" } },
      'Dataset "mri"',
    );
    assert.equal(data.yShape, undefined);
    assert.deepEqual([...data.y], [1, 1, 1, 0, 0, 0]);
    assert.deepEqual([...data.groups!], [0, 0, 0, 1, 1, 1]);
    assert.equal(data.skippedSubjects, 1);
    await assert.rejects(
      loadMedicalSlices(
        dir,
        { inputs: ["T1"], target: "age", slices: "axial", demographics: { path: csv, indexCol: "subject" } },
        'Dataset "mri"',
      ),
      /^InputError: Dataset "mri": plan.data.target "age" is neither a modality nor a demographics column \(columns: subject, grade\)/,
    );
  });

  it("refuses a resample size that would exhaust the node's memory, before allocating it", async () => {
    const dir = join(root, "huge");
    writeSyntheticSubjects(dir, { subjects: 1, dims: [4, 4, 20], seed: 6 });
    await assert.rejects(
      loadMedicalSlices(
        dir,
        { inputs: ["T1"], target: "label", slices: "axial", resample: [4096, 4096] },
        'Dataset "mri"',
      ),
      /^InputError: Dataset "mri": the plan's slices would hold more than 268435456 values \(1 GiB\) on this node: lower plan.data.resample or crop \(now 4096×4096 with 1 input\(s\)\)$/,
    );
  });

  it("names a subject by its position, never its folder name, in errors a plan can provoke", async () => {
    const dir = join(root, "sizes");
    writeSyntheticSubjects(dir, { subjects: 2, dims: [4, 4, 2], seed: 14 });
    writeSyntheticSubjects(join(dir, "extra"), { subjects: 1, dims: [6, 4, 2], seed: 15 });
    renameSync(join(dir, "extra", "sub-001"), join(dir, "patient-MRN-12345"));
    rmSync(join(dir, "extra"), { recursive: true });
    await assert.rejects(
      loadMedicalSlices(dir, { inputs: ["T1"], target: "label", slices: "axial" }, 'Dataset "mri"'),
      (e: Error) => {
        assert.equal(
          e.message,
          // patient-MRN-12345 sorts first (4×6); sub-001, the second, is 4×4.
          'Dataset "mri": subject #2 has axial slices of 4×4, others 4×6: set plan.data.resample or crop to one [height, width]',
        );
        assert.doesNotMatch(e.message, /MRN|sub-0/);
        return true;
      },
    );
  });

  it("refuses when no subject holds the modalities the plan names", async () => {
    const dir = join(root, "slices-missing");
    writeSyntheticSubjects(dir, { subjects: 1, dims: [4, 4, 2], seed: 5 });
    await assert.rejects(
      loadMedicalSlices(dir, { inputs: ["T2"], target: "label", slices: "axial" }, 'Dataset "mri"'),
      /^InputError: Dataset "mri": no subject holds every modality the plan names \(T2, label\)/,
    );
  });
});
