import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { ballValues, niftiBytes } from "../../../scripts/lib/nifti-writer.js";
import { loadMedicalSlices } from "../../../src/ml/data/medical-slices.js";
import { loadMedicalVolumes } from "../../../src/ml/data/medical-volumes.js";
import { readNifti } from "../../../src/ml/data/nifti.js";
import { writeLabelVolumes } from "../../../src/ml/data/nifti-label.js";

const root = mkdtempSync(join(tmpdir(), "fbm-nifti-label-"));
after(() => rmSync(root, { recursive: true, force: true }));

const dims: [number, number, number] = [8, 6, 4];
const sform = [
  [0, -1.5, 0, 30],
  [2, 0, 0, -12],
  [0, 0, 3, 7],
];

/** One subject: a T1 with an sform (big-endian NIfTI-2, to keep a header that is not the default) and a ball label. */
function subject(dir: string, version: 1 | 2): number[] {
  mkdirSync(dir, { recursive: true });
  const label = Array.from(ballValues(dims, [3.5, 2.5, 1.5], 2));
  const t1 = label.map((v, i) => 50 + 100 * v + (i % 5));
  writeFileSync(
    join(dir, "T1.nii.gz"),
    niftiBytes({ dims, values: t1, sform, spacing: [2, 1.5, 3], version, bigEndian: version === 2, gzip: true }),
  );
  writeFileSync(join(dir, "label.nii.gz"), niftiBytes({ dims, values: label, datatype: "uint8", gzip: true }));
  return label;
}

describe("predicted label volumes as NIfTI", () => {
  const cases: ["axial" | "sagittal", [number, number] | undefined, [number, number] | undefined][] = [
    ["axial", [12, 16], undefined],
    ["sagittal", undefined, [4, 5]],
  ];
  for (const [slices, resample, crop] of cases) {
    it(`puts ${slices} slice outputs back on the subject's grid with its T1 header (${crop ? "crop" : "resample"})`, async () => {
      const dir = join(root, slices);
      const labels = [subject(join(dir, "sub-a"), 1), subject(join(dir, "sub-b"), 2)];
      const data = await loadMedicalSlices(dir, { inputs: ["T1"], target: "label", slices, resample, crop }, "t");
      const size = data.sampleShape.slice(0, 2);
      // The label slices themselves as the model's outputs: written back they must give the label volumes.
      const files = await writeLabelVolumes(join(root, `${slices}-out`), data.sources, data.y, { slices, crop }, size);
      assert.deepEqual(
        files.map((f) => f.split("/").at(-1)),
        ["sub-a.nii.gz", "sub-b.nii.gz"],
      );
      for (const [s, file] of files.entries()) {
        const written = readNifti(readFileSync(file));
        const t1 = readNifti(readFileSync(join(dir, data.sources[s].id, "T1.nii.gz")));
        assert.equal(written.datatype, "uint8");
        assert.deepEqual([written.dims, written.spacing, written.affine], [t1.dims, t1.spacing, t1.affine]);
        // A crop of [4, 5] on sagittal slices (Z × Y = 4 × 6) keeps rows 0–3 and columns 0–4: y = 5 is cut off.
        const want = Array.from(labels[s]).map((v, i) => (crop && Math.floor(i / dims[0]) % dims[1] === 5 ? 0 : v));
        assert.deepEqual(Array.from(written.data), want);
        assert.ok(
          want.some((v) => v === 1),
          "the label is not empty",
        );
      }
      // The header is the T1's but for the fields a uint8 volume changes (NIfTI-1: description, qform, units...).
      const t1Header = gunzipSync(readFileSync(join(dir, "sub-a", "T1.nii.gz"))).subarray(0, 348);
      const outHeader = gunzipSync(readFileSync(files[0])).subarray(0, 348);
      const changed = [...outHeader.keys()].filter((i) => outHeader[i] !== t1Header[i]);
      assert.ok(
        changed.every((i) => (i >= 70 && i < 74) || (i >= 108 && i < 132)),
        `changed bytes ${changed}`,
      );
    });
  }

  for (const resample of [undefined, [8, 12, 16] as [number, number, number]]) {
    it(`puts whole-volume outputs (slices: none) back on the subject's grid (${resample ? "resampled 2×" : "own size"})`, async () => {
      const dir = join(root, `volumes-${resample ? "resampled" : "own"}`);
      const labels = [subject(join(dir, "sub-a"), 1), subject(join(dir, "sub-b"), 2)];
      const data = await loadMedicalVolumes(dir, { inputs: ["T1"], target: "label", resample }, "t");
      assert.deepEqual(data.sampleShape, [...(resample ?? [4, 6, 8]), 1]);
      const files = await writeLabelVolumes(
        join(dir, "out"),
        data.sources,
        data.y,
        { slices: "none" },
        data.sampleShape.slice(0, 3),
      );
      for (const [s, file] of files.entries()) {
        const written = readNifti(readFileSync(file));
        assert.deepEqual(written.dims, dims);
        assert.deepEqual(Array.from(written.data), labels[s]);
      }
      // A label map: the argmax of K outputs per voxel.
      const twoClass = Float32Array.from(Array.from(data.y.subarray(0, data.y.length / 2)).flatMap((v) => [1 - v, v]));
      const [map] = await writeLabelVolumes(
        join(dir, "out-map"),
        data.sources.slice(0, 1),
        twoClass,
        { slices: "none" },
        data.sampleShape.slice(0, 3),
      );
      assert.deepEqual(Array.from(readNifti(readFileSync(map)).data), labels[0]);
    });
  }

  it("refuses an output path that is a file", async () => {
    const file = join(root, "a-file");
    writeFileSync(file, "x");
    await assert.rejects(
      writeLabelVolumes(file, [], new Float32Array(0), { slices: "axial" }, [1, 1]),
      /is a file, not a folder/,
    );
  });
});
