import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { InputError } from "../../../src/common/errors.js";
import { chooseBackend, selectBackend } from "../../../src/ml/backend.js";
import { saveModel } from "../../../src/ml/export.js";
import { trainedTensors, withFrozen } from "../../../src/ml/frozen.js";
import { weightsDigest } from "../../../src/ml/init-digest.js";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { parsePlan, planId } from "../../../src/ml/plan.js";
import { loadExperiment } from "../../../src/researcher/run/config.js";
import { RESEARCHER_BACKEND } from "../../../src/researcher/run/experiment.js";
import { initialParams } from "../../../src/researcher/run/plan-init.js";

before(() => selectBackend({ prefer: "cpu" }));
const dir = mkdtempSync(join(tmpdir(), "fbm-plan-init-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const layers = (filters: number, frozen = false) => [
  `    - {conv2d: {filters: ${filters}, kernelSize: 3, padding: same, activation: relu}, name: enc${frozen ? ", trainable: false" : ""}}`,
  "    - {conv2d: {filters: 1, kernelSize: 1, activation: sigmoid}}",
];
function experiment(file: string, model: string[], extra: string[] = []): string {
  const path = join(dir, file);
  writeFileSync(
    path,
    [
      "name: init",
      "tags: [t]",
      "rounds: 1",
      "plan:",
      "  data: {inputs: [T1], target: label, slices: axial}",
      "  model:",
      ...model,
      "  loss: dice",
      "  optimizer: {name: adam, learning_rate: 0.01}",
      "training: {metrics: [dice], seed: 4}",
      ...extra,
    ].join("\n"),
  );
  return path;
}

describe("plan.init and trainable: false", () => {
  let weights: ReturnType<typeof getParams>;
  before(async () => {
    const plan = parsePlan({
      data: { inputs: ["T1"], target: "label", slices: "axial" },
      model: [
        { conv2d: { filters: 2, kernelSize: 3, padding: "same", activation: "relu" }, name: "enc" },
        { conv2d: { filters: 1, kernelSize: 1, activation: "sigmoid" } },
      ],
      loss: "dice",
      optimizer: { name: "adam", learning_rate: 0.01 },
    });
    const model = buildModel(plan, [6, 6, 1], { seed: 99 });
    weights = getParams(model);
    model.dispose();
    await saveModel(join(dir, "pretrained"), { plan, params: weights, sampleShape: [6, 6, 1] });
  });

  it("starts round 1 from the model's weights, and the plan id covers their digest, not the path", async () => {
    const config = await loadExperiment(
      experiment(
        "a.yaml",
        [...layers(2, true), "  init: {model: pretrained}"].flatMap((l) => l.split("\n")),
      ),
    );
    assert.deepEqual(config.plan.init, { sha256: weightsDigest(weights) });
    assert.equal(JSON.stringify(config.plan).includes("pretrained"), false);
    const plain = await loadExperiment(experiment("b.yaml", layers(2, true)));
    assert.notEqual(planId(config.plan), planId(plain.plan));
    assert.deepEqual(initialParams(config, [6, 6, 1]), weights);
    // Without init the seed decides, as before.
    assert.notDeepEqual(initialParams(plain, [6, 6, 1]), weights);
  });

  it("refuses a model that does not fit the plan, by shape, in one line", async () => {
    const config = await loadExperiment(experiment("c.yaml", [...layers(3), "  init: {model: pretrained}"]));
    assert.throws(
      () => initialParams(config, [6, 6, 1]),
      (e) =>
        e instanceof InputError &&
        /^plan\.init\.model "pretrained" does not fit the plan's model: "0\.conv2d\.kernel" has shape \[3, 3, 1, 2\] \(18 values\), the model expects \[3, 3, 1, 3\]$/.test(
          e.message,
        ),
    );
    await assert.rejects(
      loadExperiment(experiment("d.yaml", [...layers(2), "  init: {model: missing}"])),
      /Cannot load model from ".*missing": cannot read model\.json: it does not exist/,
    );
  });

  it("leaves frozen layers out of what nodes send back, and keeps the researcher's", async () => {
    const config = await loadExperiment(experiment("e.yaml", layers(2, true)));
    const names = trainedTensors(config.plan, weights).map((t) => t.name);
    assert.deepEqual(names, ["1.conv2d.kernel", "1.conv2d.bias"]);
    const next = withFrozen(
      config.plan,
      weights,
      trainedTensors(config.plan, weights).map((t) => new Float32Array(t.data.length).fill(7)),
    );
    assert.deepEqual(next.slice(0, 2), weights.slice(0, 2));
    assert.deepEqual(Array.from(next[3].data), [7]);
    await assert.rejects(
      loadExperiment(experiment("f.yaml", layers(2, true), ["aggregator: {name: scaffold}"])),
      /plan\.model: frozen layers \(trainable: false\) do not combine with scaffold yet/,
    );
    // Under secure aggregation only the trained tensors' update is masked (test/e2e/secure-aggregation).
    await loadExperiment(experiment("g.yaml", layers(2, true), ["nodes: {min: 3}", "secagg: {}"]));
  });
});

// The researcher builds round 0 on the cpu backend (RESEARCHER_BACKEND) to keep no wasm memory for the
// run: the seeded initializers must give the same bits there as on the wasm backend nodes train on.
describe("round 0's weights on the researcher's backend", () => {
  after(() => chooseBackend({ prefer: "cpu" }));

  it("are the same bits on the cpu and the wasm backends, for every seeded initializer", async () => {
    assert.equal(RESEARCHER_BACKEND, "cpu");
    const initializers = ["glorotUniform", "glorotNormal", "heUniform", "heNormal", "leCunUniform", "leCunNormal"];
    const plan = parsePlan({
      data: { target: "y", normalize: "none" },
      model: [
        { conv2d: { filters: 3, kernelSize: 3, kernelInitializer: initializers[0] } },
        { flatten: {} },
        ...initializers.slice(1).map((name) => ({ dense: { units: 5, kernelInitializer: name } })),
      ],
      loss: "meanSquaredError",
      optimizer: { name: "sgd", learning_rate: 0.1 },
    });
    const built = (backend: string) =>
      chooseBackend({ prefer: backend }).then(() => {
        const model = buildModel(plan, [6, 6, 1], { seed: 7 });
        try {
          return getParams(model);
        } finally {
          model.dispose();
        }
      });
    const cpu = await built("cpu");
    const wasm = await built("wasm");
    assert.equal(cpu.length, 12); // one conv2d and five dense layers, kernel and bias each
    assert.equal(weightsDigest(cpu), weightsDigest(wasm));
    assert.ok(cpu.every((t) => t.data.some((v) => v !== 0) || t.name.endsWith("bias")));
  });
});
