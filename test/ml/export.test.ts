import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/common/errors.js";
import { selectBackend } from "../../src/ml/backend.js";
import { evaluateParams, evaluateWithModel, predict, predictWithModel } from "../../src/ml/evaluate.js";
import { loadModel, saveModel } from "../../src/ml/export.js";
import { buildModel, getParams } from "../../src/ml/model.js";
import { parsePlan, planId } from "../../src/ml/plan.js";
import { imageData, logisticPlan, separableData } from "./synthetic.js";

let temp: string;
before(async () => {
  await selectBackend({ prefer: "cpu" });
  temp = fs.mkdtempSync(path.join(os.tmpdir(), "fbm-export-"));
});
after(() => fs.rmSync(temp, { recursive: true, force: true }));

const plan = parsePlan({ ...logisticPlan(), data: { target: "label", normalize: "standard" } });
const data = separableData(40);
const normalization = {
  method: "standard" as const,
  columns: data.features!,
  shift: [0.1, 0, 0, -0.1],
  scale: [0.5, 0.6, 0.7, 0.8],
};
const seededParams = () => {
  const model = buildModel(plan, [4], { seed: 5 });
  const params = getParams(model);
  model.dispose();
  return params;
};

describe("saveModel / loadModel", () => {
  it("writes a TensorFlow.js layers model, the plan and the preparation metadata", async () => {
    const dir = path.join(temp, "model-a");
    await saveModel(dir, { plan, params: seededParams(), sampleShape: [4], normalization, features: data.features });
    assert.deepEqual(fs.readdirSync(dir).sort(), [
      "fbm-model.json",
      "model.json",
      "model.safetensors",
      "plan.json",
      "weights.bin",
    ]);
    const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
    assert.equal(modelJson.format, "layers-model");
    assert.deepEqual(modelJson.weightsManifest[0].paths, ["weights.bin"]);
    assert.equal(fs.statSync(path.join(dir, "weights.bin")).size, (4 * 8 + 8 + 8 + 1) * 4);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "fbm-model.json"), "utf8"));
    assert.equal(meta.planId, planId(plan));
    assert.equal(meta.target, "label");
    assert.deepEqual(
      fs.readdirSync(temp).filter((n) => n.includes(".tmp-")),
      [],
    );
  });

  it("loads back a model that predicts exactly what the parameters predicted", async () => {
    const dir = path.join(temp, "model-b");
    const params = seededParams();
    await saveModel(dir, { plan, params, sampleShape: [4], normalization, features: data.features });
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.plan, plan);
    assert.deepEqual(loaded.normalization, normalization);
    assert.deepEqual(loaded.features, data.features);
    assert.deepEqual(loaded.sampleShape, [4]);
    assert.equal(loaded.target, "label");
    assert.deepEqual(getParams(loaded.model), params);
    const expected = await predict({ plan, data, params, normalization });
    const actual = await predictWithModel(loaded.model, data, loaded.normalization);
    assert.deepEqual(actual.values, expected.values);
    const metrics = ["accuracy", "auc", "loss"];
    assert.deepEqual(
      await evaluateWithModel(loaded.model, data, { plan: loaded.plan, metrics, normalization: loaded.normalization }),
      await evaluateParams({ plan, data, params, normalization, metrics }),
    );
    loaded.model.dispose();
  });

  it("round-trips a CNN with batch normalization and its class names", async () => {
    const cnn = parsePlan({
      data: { input: { height: 6, width: 6, channels: 1 } },
      model: [
        { conv2d: { filters: 2, kernelSize: 3 } },
        { batchNormalization: {} },
        { flatten: {} },
        { dense: { units: 2, activation: "softmax" } },
      ],
      loss: "sparseCategoricalCrossentropy",
      optimizer: { name: "adam", learning_rate: 0.01 },
    });
    const model = buildModel(cnn, [6, 6, 1], { seed: 2 });
    const params = getParams(model).map((p) => ({ ...p, data: p.data.map((v, i) => v + (i % 3) * 0.01) }));
    model.dispose();
    const images = imageData(5);
    const dir = path.join(temp, "cnn");
    await saveModel(dir, { plan: cnn, params, sampleShape: [6, 6, 1], classes: images.classes });
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.classes, ["right", "left"]);
    assert.equal(loaded.normalization, undefined);
    assert.deepEqual(
      (await predictWithModel(loaded.model, images)).values,
      (await predict({ plan: cnn, data: images, params })).values,
    );
    loaded.model.dispose();
  });

  it("replaces an existing export in one step", async () => {
    const dir = path.join(temp, "model-c");
    await saveModel(dir, { plan, params: seededParams(), sampleShape: [4] });
    fs.writeFileSync(path.join(dir, "stale.txt"), "old");
    const params = seededParams().map((p) => ({ ...p, data: p.data.map(() => 0.25) }));
    await saveModel(dir, { plan, params, sampleShape: [4] });
    assert.equal(fs.existsSync(path.join(dir, "stale.txt")), false);
    const loaded = await loadModel(dir);
    assert.deepEqual(getParams(loaded.model), params);
    loaded.model.dispose();
    assert.deepEqual(
      fs.readdirSync(temp).filter((n) => n.includes(".tmp-")),
      [],
    );
  });

  it("throws InputError naming what is missing or broken", async () => {
    await assert.rejects(
      loadModel(path.join(temp, "nope")),
      // model.json, plan.json and fbm-model.json are all missing: the first in order is named, every run.
      (e) => e instanceof InputError && /cannot read model\.json: it does not exist/.test(e.message),
    );
    const dir = path.join(temp, "model-d");
    await saveModel(dir, { plan, params: seededParams(), sampleShape: [4] });
    fs.writeFileSync(path.join(dir, "plan.json"), "{not json");
    await assert.rejects(loadModel(dir), /plan\.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, "plan.json"), JSON.stringify({ ...plan, loss: "hinge" }));
    await assert.rejects(loadModel(dir), /Invalid plan: plan\.json\.loss/);
  });

  it("leaves no tensors behind when saving", async () => {
    const params = seededParams();
    const before = tf.memory().numTensors;
    await saveModel(path.join(temp, "model-e"), { plan, params, sampleShape: [4] });
    assert.equal(tf.memory().numTensors, before);
  });
});
