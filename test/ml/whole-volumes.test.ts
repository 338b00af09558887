import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { niftiBytes } from "../../scripts/lib/nifti-writer.js";
import { writeSyntheticSubjects } from "../../scripts/lib/synthetic-volumes.js";
import { drawTransform } from "../../src/ml/augment-volume.js";
import { createWholeVolumeAugmenter } from "../../src/ml/augment-whole-volume.js";
import { selectBackend } from "../../src/ml/backend.js";
import { loadMedicalVolumes, resampleVolume } from "../../src/ml/data/medical-volumes.js";
import { dpPlanProblem } from "../../src/ml/dp-plan-check.js";
import { splitSamples } from "../../src/ml/group-split.js";
import { buildModel, outputUnits } from "../../src/ml/model.js";
import { parsePlan, planId } from "../../src/ml/plan.js";
import { planInput, sampleBound } from "../../src/ml/plan-input.js";
import { trainLocal } from "../../src/ml/train.js";
import { trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));
const root = mkdtempSync(join(tmpdir(), "fbm-vol-"));
after(() => rmSync(root, { recursive: true, force: true }));

const volumePlan = (extra: Record<string, unknown> = {}) =>
  parsePlan({
    data: { inputs: ["T1"], target: "label", slices: "none", resample: [8, 8, 8], intensity: "zscore", ...extra },
    model: [
      { conv3d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" } },
      { conv3d: { filters: 1, kernel_size: 3, padding: "same", activation: "sigmoid" } },
    ],
    loss: "dice",
    optimizer: { name: "adam", learning_rate: 0.05 },
  });

describe("whole volumes (slices: none)", () => {
  it("loads one [D, H, W, C] sample per subject in NIfTI voxel order, labels a [D, H, W, 1] mask", async () => {
    const dir = join(root, "order");
    mkdirSync(join(dir, "sub-001"), { recursive: true });
    const dims: [number, number, number] = [4, 3, 2];
    const values = Array.from({ length: 24 }, (_, i) => i);
    writeFileSync(join(dir, "sub-001", "T1.nii"), niftiBytes({ dims, values, datatype: "float32" }));
    writeFileSync(
      join(dir, "sub-001", "P.nii"),
      niftiBytes({ dims, values: values.map((v) => -v), datatype: "float32" }),
    );
    writeFileSync(
      join(dir, "sub-001", "label.nii"),
      niftiBytes({ dims, values: values.map((v) => (v % 5 === 0 ? 3 : 0)), datatype: "uint8" }),
    );
    const data = await loadMedicalVolumes(dir, { inputs: ["T1", "P"], target: "label" }, "test");
    assert.deepEqual(data.sampleShape, [2, 3, 4, 2]);
    assert.deepEqual(data.yShape, [2, 3, 4, 1]);
    assert.equal(data.rows, 1);
    // Voxel (x, y, z) = (1, 2, 1) is NIfTI index 1 + 2·4 + 1·12 = 21: row-major [z][y][x], channels last.
    const at = ((1 * 3 + 2) * 4 + 1) * 2;
    assert.deepEqual([data.x[at], data.x[at + 1]], [21, -21]);
    assert.deepEqual([...data.y.subarray(0, 6)], [1, 0, 0, 0, 0, 1]);
    // Label maps keep class indices; values outside the classes are refused.
    await assert.rejects(
      loadMedicalVolumes(dir, { inputs: ["T1"], target: "label", classes: 3 }, "test"),
      /holds the value 3, not a class 0..2/,
    );
    const map = await loadMedicalVolumes(dir, { inputs: ["T1"], target: "label", classes: 4 }, "test");
    assert.equal(map.y[5], 3);
  });

  it("resamples trilinearly (inputs) and by nearest voxel (labels), and asks for resample on mixed sizes", async () => {
    const ramp = Float32Array.from({ length: 2 * 2 * 2 }, (_, i) => i);
    const up: number[] = [];
    resampleVolume(ramp, [2, 2, 2], [4, 4, 4], "trilinear", (_, v) => up.push(v));
    assert.equal(up.length, 64);
    // Corners keep their values (clamped), the centre is the mean of all 8.
    assert.deepEqual([up[0], up[63]], [0, 7]);
    const near: number[] = [];
    resampleVolume(ramp, [2, 2, 2], [4, 4, 4], "nearest", (_, v) => near.push(v));
    assert.ok(near.every((v) => Number.isInteger(v)));
    assert.equal(near[(2 * 4 + 2) * 4 + 2], 7);
    const down: number[] = [];
    resampleVolume(
      Float32Array.from({ length: 64 }, () => 2),
      [4, 4, 4],
      [2, 2, 2],
      "trilinear",
      (_, v) => down.push(v),
    );
    assert.deepEqual(down, Array(8).fill(2));

    const dir = join(root, "mixed");
    writeSyntheticSubjects(join(dir, "a"), { subjects: 1, dims: [6, 6, 4], seed: 3 });
    writeSyntheticSubjects(join(dir, "b"), { subjects: 1, dims: [6, 6, 5], seed: 4 });
    const mixed = join(dir, "both");
    mkdirSync(join(mixed, "s1"), { recursive: true });
    mkdirSync(join(mixed, "s2"), { recursive: true });
    for (const [from, to] of [
      ["a", "s1"],
      ["b", "s2"],
    ])
      for (const f of ["T1.nii.gz", "label.nii.gz"])
        writeFileSync(join(mixed, to, f), readFileSync(join(dir, from, "sub-001", f)));
    await assert.rejects(
      loadMedicalVolumes(mixed, { inputs: ["T1"], target: "label" }, 'Dataset "mri"'),
      /^InputError: Dataset "mri": subject #2 has a volume of 5×6×6 \(depth×height×width\), others 4×6×6: set plan.data.resample/,
    );
    const fixed = await loadMedicalVolumes(mixed, { inputs: ["T1"], target: "label", resample: [4, 5, 6] }, "test");
    assert.deepEqual(fixed.sampleShape, [4, 5, 6, 1]);
    assert.equal(fixed.y.length, 2 * 4 * 5 * 6);
    assert.ok(fixed.y.every((v) => v === 0 || v === 1));
  });

  it("validates the plan: 3 resample sizes with none, 2 with slices; no crop or small rotate; old ids unchanged", () => {
    assert.deepEqual(volumePlan().data.resample, [8, 8, 8]);
    assert.throws(() => volumePlan({ resample: [8, 8] }), /give 3 sizes, e.g. \[16, 16, 16\]/);
    assert.throws(
      () => volumePlan({ slices: "axial" }),
      /slices take \[height, width\]: give 2 sizes, or slices: none/,
    );
    assert.throws(() => volumePlan({ resample: undefined, crop: [8, 8] }), /with slices: none use resample/);
    assert.throws(() => volumePlan({ augment3d: { rotate: 10 } }), /rotate turns slices in their plane, not yet whole/);
    assert.deepEqual(volumePlan({ augment3d: { flip: ["x"], rotate90: "xz" } }).data.augment3d?.flip, ["x"]);
    // A slice plan hashes as before: the id is that of integ's plan.ts before `none` (ad710aa).
    const slicePlan = parsePlan({
      data: { inputs: ["T1"], target: "label", slices: "axial", resample: [12, 12], intensity: "zscore" },
      model: [{ conv2d: { filters: 1, kernel_size: 3, padding: "same", activation: "sigmoid" } }],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.05 },
    });
    assert.equal(planId(slicePlan), SLICE_PLAN_ID);
  });

  it("sizes the model [D, H, W, C], bounds a node's samples by its subjects, checks the last conv3d", () => {
    const dataset = { type: "medical-folder", shape: [5, 12, 10, 6], columns: [], sampleCount: 5 };
    assert.deepEqual(planInput(volumePlan(), dataset).sampleShape, [8, 8, 8, 1]);
    assert.deepEqual(planInput(volumePlan({ resample: undefined }), dataset).sampleShape, [6, 10, 12, 1]);
    assert.equal(sampleBound(dataset, "none"), 5);
    const wide = parsePlan({
      ...volumePlan(),
      model: [{ conv3d: { filters: 2, kernel_size: 1, activation: "sigmoid" } }],
    });
    assert.throws(() => planInput(wide, dataset), /last conv3d has 2 filters: a 0\/1 mask needs 1/);
    assert.match(dpPlanProblem(volumePlan())?.message ?? "", /not yet tested on whole volumes/);
    const model = buildModel(volumePlan(), [8, 8, 8, 1], { seed: 1 });
    assert.equal(outputUnits(model), 512);
    model.dispose();
  });

  it("splits by subject and trains a conv3d model on whole volumes to a Dice well above all-background", async () => {
    const dir = join(root, "train");
    writeSyntheticSubjects(dir, { subjects: 8, dims: [10, 10, 8], seed: 11, scale: 300, offset: 50 });
    const data = await loadMedicalVolumes(
      dir,
      { inputs: ["T1"], target: "label", resample: [8, 8, 8], intensity: "zscore" },
      "test",
    );
    assert.equal(data.rows, 8);
    const { train, test } = splitSamples(data, 0.25, 1);
    assert.deepEqual([train.length, test.length], [6, 2]);
    const result = await trainLocal({
      plan: volumePlan(),
      data,
      args: trainingArgs({ epochs: 30, batchSize: 2, testRatio: 0.25, testOnLocal: true, metrics: ["dice", "iou"] }),
    });
    const local = result.localMetrics!;
    assert.ok((local.counts?.voxels?.tp ?? 0) + (local.counts?.voxels?.fn ?? 0) > 0, "the test volumes hold lesions");
    assert.ok(local.values.dice > 0.6, `dice ${local.values.dice} (engine ${result.engine})`);
  });

  it("augment3d moves a whole volume and its label alike: flips per axis, quarter turns, intensity", () => {
    const shape = [2, 3, 4, 1];
    const ramp = () => Float32Array.from({ length: 24 }, (_, i) => i);
    const at = (v: Float32Array, z: number, y: number, x: number) => v[(z * 3 + y) * 4 + x];
    // A subject whose draw flips along the axis (each flip has probability ½ per subject).
    const flipped = (axis: "x" | "y" | "z") => {
      for (let subject = 0; subject < 64; subject++)
        if (drawTransform({ flip: [axis] }, { seed: 5, round: 2 }, subject).flip[axis]) return subject;
      throw new Error("no subject drew a flip");
    };
    for (const [axis, check] of [
      ["x", (v: Float32Array) => at(v, 1, 2, 0) === at(ramp(), 1, 2, 3)],
      ["y", (v: Float32Array) => at(v, 1, 0, 1) === at(ramp(), 1, 2, 1)],
      ["z", (v: Float32Array) => at(v, 0, 1, 1) === at(ramp(), 1, 1, 1)],
    ] as const) {
      const augmenter = createWholeVolumeAugmenter({ flip: [axis] }, shape, { seed: 5, round: 2 });
      const subject = flipped(axis);
      const x = ramp();
      const y = ramp();
      augmenter.batch(x, 1, [subject]);
      augmenter.labels!(y, [subject]);
      assert.ok(check(x), `flip ${axis}: ${[...x]}`);
      assert.deepEqual([...y], [...x], "the label moves as the image");
      assert.deepEqual(
        [...x].sort((a, b) => a - b),
        [...ramp()],
        "a flip only moves voxels",
      );
    }
    assert.throws(
      () => createWholeVolumeAugmenter({ rotate90: "xy" }, shape, { seed: 1, round: 0 }),
      /xy quarter turns need a square height × width \(these volumes are 2×3×4\)/,
    );
    // A quarter turn in the yz plane (square depth × height) and an intensity scale: voxels move, values scale.
    const spec = { rotate90: "yz" as const, scale: 0.2 };
    const subject = [...Array(64).keys()].find((s) => drawTransform(spec, { seed: 1, round: 0 }, s).quarter === 1)!;
    const t = drawTransform(spec, { seed: 1, round: 0 }, subject);
    const v = Float32Array.from({ length: 18 }, (_, i) => i);
    createWholeVolumeAugmenter(spec, [3, 3, 2, 1], { seed: 1, round: 0 }).batch(v, 1, [subject]);
    const back = [...v].map((a) => Math.round((a - t.shift) / t.scale));
    // Output (z, y, x) reads (y, 2 − z, x): voxel (0, 0, 1) holds the source's (0, 2, 1) = 5.
    assert.deepEqual([back[0], back[1], back[6]], [4, 5, 2]);
    assert.deepEqual(
      back.sort((a, b) => a - b),
      Array.from({ length: 18 }, (_, i) => i),
    );
  });

  it("trains with augment3d on whole volumes (trainLocal picks the volume augmenter)", async () => {
    const dir = join(root, "augment");
    writeSyntheticSubjects(dir, { subjects: 4, dims: [6, 6, 6], seed: 21 });
    const data = await loadMedicalVolumes(dir, { inputs: ["T1"], target: "label", intensity: "zscore" }, "test");
    const plan = volumePlan({ resample: undefined, augment3d: { flip: ["x", "y", "z"], rotate90: "xy" } });
    const plain = volumePlan({ resample: undefined });
    const args = trainingArgs({ epochs: 1, batchSize: 2, testRatio: 0 });
    const a = await trainLocal({ plan, data, args });
    const b = await trainLocal({ plan: plain, data, args });
    // Same seed and batches: only the augmentation differs, so the trained parameters must too.
    assert.ok(
      a.params.some((t, i) => t.data.some((v, j) => v !== b.params[i].data[j])),
      "augmented training gave the unaugmented parameters",
    );
  });

  it("the 3D demo's experiment parses, validates and hashes", () => {
    const file = resolve(import.meta.dirname, "../../examples/demo/medical-3d.yaml");
    const plan = parsePlan(parse(readFileSync(file, "utf8")).plan);
    assert.equal(plan.data.slices, "none");
    assert.match(planId(plan), /^[0-9a-f]{64}$/);
    const dataset = { type: "medical-folder", shape: [10, 20, 20, 10], columns: [], sampleCount: 10 };
    assert.deepEqual(planInput(plan, dataset).sampleShape, [...(plan.data.resample ?? []), 1]);
  });
});

const SLICE_PLAN_ID = "2e984fa3342412f1520b4998a908547346d1b177977c1dc970023d61bcef9792";
