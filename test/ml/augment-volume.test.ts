import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeSyntheticSubjects } from "../../scripts/lib/synthetic-volumes.js";
import { createVolumeAugmenter, drawTransform, type VolumeAugmentSpec } from "../../src/ml/augment-volume.js";
import { selectBackend } from "../../src/ml/backend.js";
import { allRows, createRowSource } from "../../src/ml/batches.js";
import { loadMedicalSlices, type SliceDataset } from "../../src/ml/data/medical-slices.js";
import { parsePlan } from "../../src/ml/plan.js";
import { trainLocal } from "../../src/ml/train.js";
import { trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));
const root = mkdtempSync(join(tmpdir(), "fbm-aug3d-"));
after(() => rmSync(root, { recursive: true, force: true }));

const scale = 100;
const offset = 20;
let data: SliceDataset;

before(async () => {
  // T1 = 20 + 100 · (ball + noise of ±0.15): a voxel is in the lesion exactly when T1 > 70.
  writeSyntheticSubjects(root, { subjects: 6, dims: [10, 10, 5], seed: 21, scale, offset });
  data = await loadMedicalSlices(root, { inputs: ["T1"], target: "label", slices: "axial" }, "test");
});

const spec: VolumeAugmentSpec = { flip: ["x", "y", "z"], rotate90: "xy", scale: 0.2, shift: 5 };

function augmentedRows(s: VolumeAugmentSpec, options: { seed: number; round: number }) {
  const source = createRowSource(
    data,
    undefined,
    createVolumeAugmenter(s, { sampleShape: data.sampleShape, groups: data.groups!, slices: "axial" }, options),
  );
  const rows = allRows(data.rows);
  const x = new Float32Array(data.rows * 100);
  source.xInto(rows, x);
  return { x, y: source.y(rows) };
}

describe("3D augmentation (augment3d)", () => {
  it("moves labels with the image: every augmented voxel above the lesion threshold is labelled, and only those", () => {
    const { x, y } = augmentedRows(spec, { seed: 3, round: 2 });
    let lesion = 0;
    for (let r = 0; r < data.rows; r++) {
      const t = drawTransform(spec, { seed: 3, round: 2 }, data.groups![r]);
      for (let i = 0; i < 100; i++) {
        const stored = (x[r * 100 + i] - t.shift) / t.scale;
        assert.equal(stored > offset + scale / 2 ? 1 : 0, y[r * 100 + i], `row ${r} voxel ${i}`);
        lesion += y[r * 100 + i];
      }
    }
    assert.ok(lesion > 50, "the volumes hold lesions");
    // The transform did move things: some rows differ from the plain slices, labels included.
    const plain = createRowSource(data).y(allRows(data.rows));
    assert.notDeepEqual([...y], [...plain]);
    assert.equal(
      y.reduce((a, b) => a + b, 0),
      plain.reduce((a, b) => a + b, 0),
      "flips and quarter turns keep every voxel",
    );
  });

  it("draws one transform per subject, seeded: same seed and round give the same batches, another round others", () => {
    const a = augmentedRows(spec, { seed: 3, round: 2 });
    const b = augmentedRows(spec, { seed: 3, round: 2 });
    const c = augmentedRows(spec, { seed: 3, round: 3 });
    assert.deepEqual([...a.x], [...b.x]);
    assert.deepEqual([...a.y], [...b.y]);
    assert.notDeepEqual([...a.x], [...c.x]);
    // A row's result does not depend on the batch it comes in.
    const source = createRowSource(
      data,
      undefined,
      createVolumeAugmenter(
        spec,
        { sampleShape: data.sampleShape, groups: data.groups!, slices: "axial" },
        { seed: 3, round: 2 },
      ),
    );
    assert.deepEqual([...source.y([7])], [...a.y.subarray(700, 800)]);
  });

  it("a flip along the slice axis reads the subject's mirrored slice; flips across it mirror each slice", () => {
    const options = { seed: 5, round: 1 };
    const { y } = augmentedRows({ flip: ["z"] }, options);
    const plain = createRowSource(data).y(allRows(data.rows));
    let flipped = 0;
    for (let r = 0; r < data.rows; r++) {
      const g = data.groups![r];
      const first = data.groups!.indexOf(g);
      const mirrored = drawTransform({ flip: ["z"] }, options, g).flip.z ? first + 4 - (r - first) : r;
      if (mirrored !== r) flipped++;
      assert.deepEqual(
        [...y.subarray(r * 100, (r + 1) * 100)],
        [...plain.subarray(mirrored * 100, (mirrored + 1) * 100)],
      );
    }
    assert.ok(flipped > 0);
    const cols = augmentedRows({ flip: ["x"] }, options).y;
    for (let r = 0; r < data.rows; r++) {
      if (!drawTransform({ flip: ["x"] }, options, data.groups![r]).flip.x) continue;
      for (let i = 0; i < 100; i++)
        assert.equal(cols[r * 100 + i], plain[r * 100 + Math.floor(i / 10) * 10 + 9 - (i % 10)]);
    }
  });

  it("turns each subject by a small seeded angle, labels by nearest voxel alongside the resampled image", () => {
    const options = { seed: 4, round: 1 };
    const turned = { ...spec, rotate: 20 };
    const { x, y } = augmentedRows(turned, options);
    const unturned = augmentedRows(spec, options);
    // The angle is drawn last: flips, quarter turns and intensity stay as without `rotate`.
    for (let g = 0; g < 6; g++) {
      const [a, b] = [drawTransform(turned, options, g), drawTransform(spec, options, g)];
      assert.deepEqual({ ...a, angle: 0 }, { ...b, angle: 0 });
      assert.ok(Math.abs(a.angle) <= (20 * Math.PI) / 180 && b.angle === 0);
    }
    assert.ok(drawTransform(turned, options, 0).angle !== 0);
    assert.notDeepEqual([...y], [...unturned.y], "no label moved");
    assert.ok(
      y.every((v) => v === 0 || v === 1),
      "labels stay labels",
    );
    // The image, thresholded, and the label agree voxel for voxel except along the lesion's edge.
    let agree = 0;
    let lesion = 0;
    for (let r = 0; r < data.rows; r++) {
      const t = drawTransform(turned, options, data.groups![r]);
      for (let i = 0; i < 100; i++) {
        const stored = (x[r * 100 + i] - t.shift) / t.scale;
        if ((stored > offset + scale / 2 ? 1 : 0) === y[r * 100 + i]) agree++;
        lesion += y[r * 100 + i];
      }
    }
    assert.ok(lesion > 50, "lesions left after turning");
    assert.ok(agree / (data.rows * 100) > 0.95, `image and label agree on ${agree} of ${data.rows * 100} voxels`);
  });

  it("refuses turns through the slice axis, quarter turns of non-square slices, and non-medical data", () => {
    const base = {
      model: [{ conv2d: { filters: 1, kernel_size: 3, padding: "same", activation: "sigmoid" } }],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.01 },
    };
    assert.throws(
      () =>
        parsePlan({
          ...base,
          data: { inputs: ["T1"], target: "label", slices: "coronal", augment3d: { rotate90: "xy" } },
        }),
      /coronal slices turn in the xz plane only/,
    );
    assert.throws(
      () => parsePlan({ ...base, data: { target: "y", augment3d: { flip: ["x"] } } }),
      /applies to medical/,
    );
    assert.throws(
      () =>
        createVolumeAugmenter(
          { rotate90: "xy" },
          { sampleShape: [4, 6, 1], groups: new Int32Array(1), slices: "axial" },
          { seed: 1, round: 0 },
        ),
      /needs square slices \(these are 4×6\)/,
    );
  });

  it("trains a segmentation plan with augment3d", async () => {
    const plan = parsePlan({
      data: { inputs: ["T1"], target: "label", slices: "axial", intensity: "zscore", augment3d: spec },
      model: [
        { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" } },
        { conv2d: { filters: 1, kernel_size: 3, padding: "same", activation: "sigmoid" } },
      ],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.05 },
    });
    const zscored = await loadMedicalSlices(
      root,
      { inputs: ["T1"], target: "label", slices: "axial", intensity: "zscore" },
      "test",
    );
    const result = await trainLocal({
      plan: { ...plan, data: { ...plan.data, augment3d: { ...spec, shift: 0.2, scale: 0.1 } } },
      data: zscored,
      args: trainingArgs({ epochs: 10, batchSize: 8, testRatio: 0.34, testOnLocal: true, metrics: ["dice"] }),
    });
    assert.ok(result.localMetrics!.values.dice > 0.5, JSON.stringify(result.localMetrics?.values));
  });
});
