import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { writeSyntheticTumours as writeTumours } from "../../scripts/lib/synthetic-volumes.js";
import { selectBackend } from "../../src/ml/backend.js";
import { labelVolume, loadMedicalSlices } from "../../src/ml/data/medical-slices.js";
import { readNifti } from "../../src/ml/data/nifti.js";
import { writeLabelVolumes } from "../../src/ml/data/nifti-label.js";
import { predict } from "../../src/ml/evaluate.js";
import { checkLabels, computeLoss, labelTensor } from "../../src/ml/losses.js";
import { countMetrics, countsProblem, metricsFromCounts, poolCounts } from "../../src/ml/metric-counts.js";
import { computeMetrics } from "../../src/ml/metrics.js";
import { parsePlan } from "../../src/ml/plan.js";
import { planInput } from "../../src/ml/plan-input.js";
import { trainLocal } from "../../src/ml/train.js";
import { pooledMetrics } from "../../src/researcher/run/pooled-metrics.js";
import { trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));
const root = mkdtempSync(join(tmpdir(), "fbm-seg-k-"));
after(() => rmSync(root, { recursive: true, force: true }));

const plan = (extra: Record<string, unknown> = {}) =>
  parsePlan({
    data: { inputs: ["T1"], target: "label", slices: "axial", intensity: "zscore", classes: 3, ...extra },
    model: [
      { conv2d: { filters: 8, kernel_size: 3, padding: "same", activation: "relu" } },
      { conv2d: { filters: 3, kernel_size: 1, padding: "same", activation: "softmax" } },
    ],
    loss: "diceCrossentropy",
    optimizer: { name: "adam", learning_rate: 0.05 },
  });

describe("multi-class segmentation (label maps)", () => {
  it("soft Dice per class averaged over classes, plus the per-voxel categorical crossentropy", () => {
    // 1 row of 2 voxels, 3 classes: labels [2, 0].
    const y = labelTensor("diceCrossentropy", Float32Array.from([2, 0]), 6, 3);
    assert.deepEqual(y.shape, [1, 2, 3]);
    const p = tf.tensor4d([0.1, 0.2, 0.7, 0.6, 0.3, 0.1], [1, 1, 2, 3]);
    // Per class c: (2 Σ p·y + 1) / (Σ p + Σ y + 1).
    const d0 = (2 * 0.6 + 1) / (0.7 + 1 + 1);
    const d1 = (0 + 1) / (0.5 + 0 + 1);
    const d2 = (2 * 0.7 + 1) / (0.8 + 1 + 1);
    const dice = 1 - (d0 + d1 + d2) / 3;
    const ce = -(Math.log(0.7) + Math.log(0.6)) / 2;
    assert.ok(Math.abs(computeLoss("dice", y, p).dataSync()[0] - dice) < 1e-6);
    assert.ok(Math.abs(computeLoss("diceCrossentropy", y, p).dataSync()[0] - (dice + ce)) < 1e-6);
    tf.dispose([y, p]);
  });

  it("per-class and mean Dice / IoU from the argmax, pooled exactly from voxel confusion counts", () => {
    // 4 voxels per slice, 3 classes; outputs class-fastest.
    const a = {
      y: Float32Array.from([0, 1, 2, 2]),
      p: Float32Array.from([0.8, 0.1, 0.1, 0.2, 0.7, 0.1, 0.1, 0.6, 0.3, 0.1, 0.1, 0.8]),
    };
    const b = { y: Float32Array.from([1, 1, 0, 0]), p: Float32Array.from([0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0]) };
    // a: argmax [0, 1, 1, 2]: class 1 tp 1 fp 1 fn 0 → dice 2/3; class 2 tp 1 fp 0 fn 1 → dice 2/3.
    const m = computeMetrics(["dice", "iou"], a.y, a.p, "segmentation");
    assert.deepEqual(m, { dice: 2 / 3, dice_1: 2 / 3, dice_2: 2 / 3, iou: 0.5, iou_1: 0.5, iou_2: 0.5 });
    const ca = countMetrics(a.y, a.p, "segmentation", 1);
    const cb = countMetrics(b.y, b.p, "segmentation", 1);
    assert.deepEqual(ca, { rows: 1, classes: 3, confusion: [1, 0, 0, 0, 1, 0, 0, 1, 1] });
    assert.equal(countsProblem(ca, 1), undefined);
    assert.match(
      countsProblem({ ...ca, rows: 2, confusion: [1, 0, 0, 0, 1, 0, 0, 1, 0] }, 2) ?? "",
      /do not fill 2 slices/,
    );
    // Such counts offered as a classification's (no scores, 4 voxels a row) give no figures, not skewed ones.
    assert.ok(Number.isNaN(metricsFromCounts(["accuracy"], ca, "multiclass").values.accuracy));
    const all = computeMetrics(
      ["dice", "iou"],
      Float32Array.from([...a.y, ...b.y]),
      Float32Array.from([...a.p, ...b.p]),
      "segmentation",
    );
    assert.deepEqual(metricsFromCounts(["dice", "iou"], poolCounts([ca, cb])!, "segmentation").values, all);
    const researcher = pooledMetrics(
      [
        { values: computeMetrics(["dice"], a.y, a.p, "segmentation"), samples: 1, counts: ca },
        { values: computeMetrics(["dice"], b.y, b.p, "segmentation"), samples: 1, counts: cb },
      ],
      "segmentation",
    );
    assert.deepEqual(researcher.values, { dice: all.dice, dice_1: all.dice_1, dice_2: all.dice_2 });
  });

  it("refuses label values outside the declared classes, on load and at training", async () => {
    const dir = join(root, "bad");
    writeTumours(dir, 1, [8, 8, 2], 5);
    await assert.rejects(
      loadMedicalSlices(dir, { inputs: ["T1"], target: "label", slices: "axial", classes: 2 }, 'Dataset "x"'),
      /^InputError: Dataset "x": subject #1 label volume holds the value 2, not a class 0\.\.1 \(plan\.data\.classes 2\)$/,
    );
    assert.throws(() => checkLabels("dice", Float32Array.from([0, 3]), 6, 3), /label voxel 2 is 3, not a class 0\.\.2/);
    assert.throws(() => checkLabels("dice", Float32Array.from([0, 1]), 4, 3), /needs 3 outputs per label voxel/);
    assert.throws(() => parsePlan({ ...plan(), data: { target: "y", classes: 3 } }), /applies to medical images/);
    assert.throws(() => parsePlan(plan({ classes: 1 })), /classes/);
    const dataset = { type: "medical-folder", shape: [5, 12, 12, 4], columns: [], sampleCount: 5 };
    assert.deepEqual(planInput(plan(), dataset).sampleShape, [12, 12, 1]);
    assert.throws(
      () => planInput(plan({ classes: 4 }), dataset),
      /last conv2d has 3 filters: plan\.data\.classes 4 needs 4 \(softmax over the classes\)/,
    );
    assert.throws(() => planInput(plan({ classes: undefined }), dataset), /a 0\/1 mask needs 1 \(sigmoid\)/);
  });

  it("trains a softmax conv2d on label maps to a mean Dice well above chance, and predict writes argmax label volumes", async (t) => {
    const dir = join(root, "train");
    const dims: [number, number, number] = [12, 12, 4];
    writeTumours(dir, 8, dims, 17);
    const p = plan();
    const prep = {
      inputs: ["T1"],
      target: "label",
      slices: "axial" as const,
      intensity: "zscore" as const,
      classes: 3,
    };
    const data = await loadMedicalSlices(dir, prep, "test");
    assert.deepEqual(data.yShape, [12, 12, 1]);
    assert.deepEqual([...new Set(data.y)].sort(), [0, 1, 2]);
    const result = await trainLocal({
      plan: p,
      data,
      args: trainingArgs({ epochs: 20, batchSize: 8, testRatio: 0.25, testOnLocal: true, metrics: ["dice", "loss"] }),
    });
    const local = result.localMetrics!;
    assert.equal(local.counts?.classes, 3);
    // An all-background prediction has Dice 0 for both foreground classes (the test slices hold both).
    const m = local.counts!.confusion!;
    assert.ok(m[3 + 0] + m[3 + 1] + m[3 + 2] > 0 && m[6] + m[7] + m[8] > 0, "test slices hold both classes");
    assert.ok(local.values.dice_1 > 0.5 && local.values.dice_2 > 0.5, JSON.stringify(local.values));
    t.diagnostic(`multi-class test Dice: ${JSON.stringify(local.values)}`);
    assert.ok(Math.abs(local.values.dice - (local.values.dice_1 + local.values.dice_2) / 2) < 1e-12);

    const out = join(root, "predicted");
    const predictions = await predict({ plan: p, data, params: result.params });
    assert.equal(predictions.outputs, 12 * 12 * 3);
    const files = await writeLabelVolumes(out, data.sources, predictions.values, prep, [12, 12]);
    assert.deepEqual(readdirSync(out).sort(), data.sources.map((s) => `${s.id}.nii.gz`).sort());
    const written = readNifti(readFileSync(files[0]));
    assert.deepEqual(written.dims, dims);
    const truth = readNifti(readFileSync(join(dir, "sub-01", "label.nii.gz"))).data;
    // The written volume is the argmax of the first subject's outputs, and mostly right.
    const expected = labelVolume(predictions.values.subarray(0, 4 * 144 * 3), dims, prep, [12, 12], 3);
    assert.deepEqual([...written.data], [...expected]);
    const agree = written.data.reduce((n, v, i) => n + (v === truth[i] ? 1 : 0), 0);
    assert.ok(agree / truth.length > 0.9, `voxel agreement ${agree / truth.length}`);
    assert.ok(written.data.includes(1) && written.data.includes(2));
  });
});
