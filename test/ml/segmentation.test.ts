import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { ballValues, niftiBytes } from "../../scripts/lib/nifti-writer.js";
import { writeSyntheticSubjects } from "../../scripts/lib/synthetic-volumes.js";
import { selectBackend } from "../../src/ml/backend.js";
import { loadMedicalSlices } from "../../src/ml/data/medical-slices.js";
import { dpPlanProblem } from "../../src/ml/dp-plan-check.js";
import { splitSamples } from "../../src/ml/group-split.js";
import { computeLoss } from "../../src/ml/losses.js";
import { countMetrics, countsProblem, metricsFromCounts, poolCounts } from "../../src/ml/metric-counts.js";
import { computeMetrics, taskKind } from "../../src/ml/metrics.js";
import { buildModel, outputUnits } from "../../src/ml/model.js";
import { isClassification, parsePlan, planId } from "../../src/ml/plan.js";
import { planInput, sampleBound } from "../../src/ml/plan-input.js";
import { trainLocal } from "../../src/ml/train.js";
import { dpPlanRefusal } from "../../src/node/executors/dp-release.js";
import { pooledMetrics } from "../../src/researcher/run/pooled-metrics.js";
import { trainingArgs } from "./synthetic.js";

before(() => selectBackend({ prefer: "cpu" }));
const root = mkdtempSync(join(tmpdir(), "fbm-seg-"));
after(() => rmSync(root, { recursive: true, force: true }));

const segPlan = (extra: Record<string, unknown> = {}) =>
  parsePlan({
    data: { inputs: ["T1"], target: "label", slices: "axial", resample: [12, 12], intensity: "zscore", ...extra },
    model: [
      { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" } },
      { conv2d: { filters: 1, kernel_size: 3, padding: "same", activation: "sigmoid" } },
    ],
    loss: "dice",
    optimizer: { name: "adam", learning_rate: 0.05 },
  });

describe("segmentation", () => {
  it("soft Dice loss is 1 − (2 Σ p·y + 1) / (Σ p + Σ y + 1) over the batch", () => {
    const y = tf.tensor2d([1, 0, 1, 0, 0, 0], [2, 3]);
    const p = tf.tensor4d([0.9, 0.2, 0.6, 0.1, 0.0, 0.3], [2, 1, 3, 1]);
    const loss = computeLoss("dice", y, p).dataSync()[0];
    // Σ p·y = 1.5, Σ p = 2.1, Σ y = 2: 1 − 4 / 5.1
    assert.ok(Math.abs(loss - (1 - 4 / 5.1)) < 1e-6, String(loss));
    tf.dispose([y, p]);
  });

  it("diceCrossentropy adds the mean per-voxel binary crossentropy to the soft Dice", () => {
    const y = tf.tensor2d([1, 0, 1, 0, 0, 0], [2, 3]);
    const p = tf.tensor4d([0.9, 0.2, 0.6, 0.1, 0.5, 0.3], [2, 1, 3, 1]);
    const ce = -(Math.log(0.9) + Math.log(0.8) + Math.log(0.6) + Math.log(0.9) + Math.log(0.5) + Math.log(0.7)) / 6;
    const dice = 1 - (2 * 1.5 + 1) / (2.6 + 2 + 1);
    const loss = computeLoss("diceCrossentropy", y, p).dataSync()[0];
    assert.ok(Math.abs(loss - (dice + ce)) < 1e-5, `${loss} vs ${dice + ce}`);
    assert.equal(isClassification(parsePlan({ ...segPlan(), loss: "diceCrossentropy" })), false);
    assert.equal(taskKind({ loss: "diceCrossentropy" }), "segmentation");
    tf.dispose([y, p]);
  });

  it("dice and iou from voxel counts at 0.5, and pooled counts equal the metrics of all voxels together", () => {
    const a = { y: Float32Array.from([1, 1, 0, 0, 1, 0]), p: Float32Array.from([0.9, 0.4, 0.6, 0.1, 0.7, 0.2]) };
    const b = { y: Float32Array.from([0, 0, 0, 1]), p: Float32Array.from([0.1, 0.1, 0.9, 0.8]) };
    // a: tp 2, fp 1, fn 1 → dice 4/6, iou 2/4
    assert.deepEqual(computeMetrics(["dice", "iou"], a.y, a.p, "segmentation"), { dice: 4 / 6, iou: 0.5 });
    const ca = countMetrics(a.y, a.p, "segmentation", 2);
    const cb = countMetrics(b.y, b.p, "segmentation", 1);
    assert.deepEqual(ca, { rows: 2, voxels: { tp: 2, fp: 1, fn: 1, tn: 2 } });
    assert.equal(countsProblem(ca, 2), undefined);
    assert.match(countsProblem({ rows: 2, voxels: { tp: 1.5, fp: 0, fn: 0, tn: 0 } }, 2) ?? "", /not whole/);
    const pooled = poolCounts([ca, cb])!;
    const all = computeMetrics(
      ["dice", "iou"],
      Float32Array.from([...a.y, ...b.y]),
      Float32Array.from([...a.p, ...b.p]),
      "segmentation",
    );
    assert.deepEqual(metricsFromCounts(["dice", "iou"], pooled, "segmentation").values, all);
    const researcher = pooledMetrics(
      [
        { values: computeMetrics(["dice"], a.y, a.p, "segmentation"), samples: 2, counts: ca },
        { values: computeMetrics(["dice"], b.y, b.p, "segmentation"), samples: 1, counts: cb },
      ],
      "segmentation",
    );
    assert.deepEqual(researcher.values, { dice: all.dice });
    // An empty mask predicted empty is a perfect overlap, not 0/0.
    assert.deepEqual(
      computeMetrics(["dice"], Float32Array.from([0, 0]), Float32Array.from([0.1, 0.2]), "segmentation"),
      { dice: 1 },
    );
  });

  it("builds per-voxel outputs only for the dice loss; existing plans keep their ids", () => {
    const model = buildModel(segPlan(), [12, 12, 1], { seed: 1 });
    assert.equal(outputUnits(model), 144);
    model.dispose();
    const classifier = parsePlan({ ...segPlan(), loss: "binaryCrossentropy", data: {} });
    assert.throws(
      () => buildModel(classifier, [12, 12, 1], { seed: 1 }),
      /its output has shape \[12, 12, 1\] per sample/,
    );
    // The new keys are optional without defaults: a plan without them hashes as before (id computed with plan.ts of a8ff18d, before these keys).
    const old = parsePlan({
      data: { target: "y" },
      model: [{ dense: { units: 1 } }],
      loss: "meanSquaredError",
      optimizer: { name: "sgd", learning_rate: 0.1 },
    });
    assert.deepEqual(Object.keys(old.data).sort(), ["normalize", "target"]);
    assert.equal(planId(old), "ade6a2be6c2a4365a0b4eeb4059ba7d04bf9c80ffc101b66d9979a5abc45ec8c");
    assert.throws(
      () => parsePlan({ ...segPlan(), data: { inputs: ["T1"], target: "label" } }),
      /medical images need inputs and slices/,
    );
    assert.throws(
      () => parsePlan({ ...segPlan(), data: { target: "y", resample: [4, 4] } }),
      /applies to medical images/,
    );
    assert.throws(() => parsePlan({ ...segPlan({ crop: [8, 8] }) }), /give resample or crop, not both/);
    assert.throws(() => parsePlan({ ...segPlan({ clip: [99, 1] }) }), /low below high/);
    assert.deepEqual(parsePlan({ ...segPlan({ resample: undefined, crop: [8, 8], clip: [1, 99] }) }).data.crop, [8, 8]);
  });

  it("sizes the model from the slices and bounds a node's sample count by subjects × slices along the axis", () => {
    const dataset = { type: "medical-folder", shape: [5, 12, 10, 6], columns: [], sampleCount: 5 };
    assert.deepEqual(planInput(segPlan({ resample: undefined }), dataset).sampleShape, [10, 12, 1]);
    assert.deepEqual(planInput(segPlan({ resample: undefined, slices: "sagittal" }), dataset).sampleShape, [6, 10, 1]);
    assert.deepEqual(planInput(segPlan(), dataset).sampleShape, [12, 12, 1]);
    assert.deepEqual(
      [sampleBound(dataset, "axial"), sampleBound(dataset, "coronal"), sampleBound(dataset, "sagittal")],
      [30, 50, 60],
    );
    assert.equal(sampleBound({ ...dataset, type: "csv" }, "axial"), 5);
    assert.throws(
      () => planInput(parsePlan({ ...segPlan(), data: { target: "label" } }), dataset),
      /plan.data.inputs, plan.data.target and plan.data.slices are required/,
    );
  });

  it("splits slices by whole subjects: none sits on both sides of the test split", async () => {
    const dir = join(root, "split");
    writeSyntheticSubjects(dir, { subjects: 8, dims: [4, 4, 5], seed: 13 });
    const data = await loadMedicalSlices(dir, { inputs: ["T1"], target: "label", slices: "axial" }, "test");
    assert.deepEqual([...data.groups!.subarray(0, 6)], [0, 0, 0, 0, 0, 1]);
    const { train, test } = splitSamples(data, 0.25, 3);
    const trainSubjects = new Set([...train].map((r) => data.groups![r]));
    const testSubjects = new Set([...test].map((r) => data.groups![r]));
    assert.equal(testSubjects.size, 2);
    assert.equal(trainSubjects.size, 6);
    assert.ok([...testSubjects].every((s) => !trainSubjects.has(s)));
    assert.equal(train.length + test.length, 40);
    // Without groups, the split is splitRows' as before.
    assert.deepEqual(splitSamples({ rows: 40 }, 0.25, 3).test.length, 10);
  });

  it("holds the node's least test size (min_count) in subjects, not slices", () => {
    // 10 subjects of 5 slices: a tiny ratio still tests 4 whole subjects (20 slices), never 4 slices.
    const groups = Int32Array.from({ length: 50 }, (_, r) => Math.floor(r / 5));
    const { test } = splitSamples({ rows: 50, groups }, 0.001, 3, 4);
    assert.equal(new Set([...test].map((r) => groups[r])).size, 4);
    assert.equal(test.length, 20);
    // With no more subjects than min_count, all but one are tested.
    const three = Int32Array.from({ length: 15 }, (_, r) => Math.floor(r / 5));
    assert.equal(splitSamples({ rows: 15, groups: three }, 0.001, 3, 4).test.length, 10);
  });

  it("trains a same-padded conv2d sigmoid model on axial slices to a Dice well above all-background", async () => {
    const dir = join(root, "train");
    writeSyntheticSubjects(dir, { subjects: 4, dims: [12, 12, 6], seed: 11, scale: 300, offset: 50 });
    const plan = segPlan();
    const data = await loadMedicalSlices(
      dir,
      { inputs: ["T1"], target: "label", slices: "axial", resample: [12, 12], intensity: "zscore" },
      "test",
    );
    const result = await trainLocal({
      plan,
      data,
      args: trainingArgs({
        epochs: 15,
        batchSize: 8,
        testRatio: 0.25,
        testOnLocal: true,
        metrics: ["dice", "iou", "loss"],
      }),
    });
    // Binary segmentation trains on the kernels (on one thread: a step of 8 slices of 12×12 is too small to share).
    assert.equal(result.engine, "kernels, 1 thread");
    const local = result.localMetrics!;
    // All-background predictions have Dice 0 whenever the test slices hold any lesion voxel.
    assert.ok((local.counts?.voxels?.tp ?? 0) + (local.counts?.voxels?.fn ?? 0) > 0, "the test slices hold lesions");
    assert.ok(local.values.dice > 0.6, `dice ${local.values.dice}`);
    assert.ok(local.values.iou <= local.values.dice);
  });

  it("classifies slices by a demographics column with a conv2d, pooling and dense sigmoid model", async () => {
    const dir = join(root, "classify");
    const rows = ["subject,lesion"];
    for (let i = 0; i < 12; i++) {
      const id = `s${String(i).padStart(2, "0")}`;
      mkdirSync(join(dir, id), { recursive: true });
      // Subjects with lesion = 1 hold a bright disc on every axial slice; all hold noise.
      const disc = ballValues([8, 8, 3], [3.5, 3.5, 1], 3, i % 2, 0);
      const t1 = disc.map((v, k) => 100 * v + ((k * 7919 + i * 104729) % 31));
      writeFileSync(join(dir, id, "T1.nii"), niftiBytes({ dims: [8, 8, 3], values: t1 }));
      rows.push(`${id},${i % 2}`);
    }
    const csv = join(root, "classify.csv");
    writeFileSync(csv, `${rows.join("\n")}\n`);
    const data = await loadMedicalSlices(
      dir,
      { inputs: ["T1"], target: "lesion", slices: "axial", demographics: { path: csv, indexCol: "subject" } },
      "test",
    );
    const plan = parsePlan({
      data: { inputs: ["T1"], target: "lesion", slices: "axial" },
      model: [
        { conv2d: { filters: 4, kernel_size: 3, padding: "same", activation: "relu" } },
        { globalAveragePooling2d: {} },
        { dense: { units: 1, activation: "sigmoid" } },
      ],
      loss: "binaryCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.05 },
    });
    const result = await trainLocal({
      plan,
      data,
      args: trainingArgs({ epochs: 30, batchSize: 8, testRatio: 0.34, testOnLocal: true, metrics: ["accuracy"] }),
    });
    assert.equal(result.localMetrics?.samples, 12, "4 held-back subjects × 3 slices");
    assert.ok(result.localMetrics!.values.accuracy >= 0.9, JSON.stringify(result.localMetrics?.values));
  });

  it("refuses dp on slices: ε would protect one slice, not one patient", () => {
    assert.deepEqual(dpPlanProblem(segPlan())?.path, ["plan", "data", "slices"]);
    const refusal = dpPlanRefusal(segPlan(), { mode: "local", noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 });
    assert.equal(refusal?.code, "dp_unsupported");
    assert.match(refusal?.message ?? "", /each subject gives many slices .*\(plan\.data in experiment\.yaml\)$/);
  });

  it("refuses per-voxel labels with another loss, and the dice loss on one label per row", async () => {
    const dir = join(root, "refuse");
    writeSyntheticSubjects(dir, { subjects: 1, dims: [4, 4, 2], seed: 12 });
    const data = await loadMedicalSlices(dir, { inputs: ["T1"], target: "label", slices: "axial" }, "test");
    const bce = parsePlan({ ...segPlan({ resample: undefined }), loss: "binaryCrossentropy" });
    await assert.rejects(
      trainLocal({ plan: bce, data, args: trainingArgs() }),
      /per-voxel labels \(segmentation\) need plan.loss dice or diceCrossentropy, not binaryCrossentropy/,
    );
    await assert.rejects(
      trainLocal({
        plan: segPlan(),
        data: { ...data, yShape: undefined, y: new Float32Array(data.rows) },
        args: trainingArgs(),
      }),
      /the dice loss needs per-voxel labels/,
    );
  });
});
