import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ValidationError } from "../../../src/common/validation.js";
import { changedAggregator, changedTraining, parseExperiment } from "../../../src/researcher/run/config.js";
import { createExperiment } from "../../../src/researcher/run/experiment.js";
import { createHub } from "../../../src/researcher/server/hub.js";

const config = parseExperiment(
  [
    "name: settings",
    "tags: [t]",
    "rounds: 2",
    "nodes: {min: 2}",
    "plan:",
    "  data: {target: y}",
    "  model: [{dense: {units: 1, activation: sigmoid}}]",
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.1}",
    "training: {epochs: 3, batch_size: 16, metrics: [accuracy]}",
  ].join("\n"),
  "settings.yaml",
);

const problems = (change: () => unknown) => {
  try {
    change();
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail("expected a ValidationError");
};

describe("changing settings between rounds", () => {
  it("changedTraining() applies experiment.yaml keys over the current settings, keeping the rest", () => {
    assert.deepEqual(changedTraining(config, { batch_size: 8, test_ratio: 0.5 }), {
      ...config.training,
      batchSize: 8,
      testRatio: 0.5,
    });
  });

  it("changedTraining() swaps epochs for updates and back", () => {
    const byUpdates = changedTraining(config, { updates: 40 });
    assert.deepEqual([byUpdates.epochs, byUpdates.updates], [1, 40]);
    const back = changedTraining({ ...config, training: byUpdates }, { epochs: 2 });
    assert.deepEqual([back.epochs, back.updates], [2, 0]);
  });

  it("refuses a misspelt key, a bad value and a metric of the wrong kind, naming training.<key>", () => {
    assert.deepEqual(
      problems(() => changedTraining(config, { batchsize: 8, test_ratio: 2 })),
      [
        'training: unknown key "batchsize" (did you mean "batch_size"?)',
        "training.test_ratio: Too big: expected number to be <1",
      ],
    );
    assert.deepEqual(
      problems(() => changedTraining(config, { metrics: ["mse"] })),
      ['training.metrics[0]: "mse" is a regression metric but plan.loss is binaryCrossentropy'],
    );
  });

  it("changedAggregator() validates as experiment.yaml does, with Krum's node count against nodes.min", () => {
    assert.deepEqual(changedAggregator(config, { name: "fedavgm", momentum: 0.5 }), {
      name: "fedavgm",
      serverLr: 1,
      momentum: 0.5,
    });
    assert.deepEqual(
      problems(() => changedAggregator(config, { name: "krum", f: 1 })),
      ["nodes.min: krum with these options needs at least 5 nodes a round, got 2"],
    );
    assert.deepEqual(
      problems(() => changedAggregator(config, { name: "fedavgm", momentun: 0.5 })),
      ['aggregator: unknown key "momentun" (did you mean "momentum"?)'],
    );
  });

  it("an experiment object takes changes before it starts, refuses bad ones unchanged, and has no params yet", () => {
    const experiment = createExperiment(config, { outDir: "unused" });
    experiment.setTraining({ epochs: 5 });
    assert.equal(experiment.config.training.epochs, 5);
    assert.throws(() => experiment.setAggregator({ name: "fedsgd" }), ValidationError);
    assert.equal(experiment.config.aggregator.name, "fedavg");
    assert.equal(experiment.round, 0);
    assert.deepEqual(experiment.history, []);
    assert.throws(() => experiment.params(), /has not started: call start\(\) or runRound\(\) first/);
  });
});

describe("an experiment object that fails to start", () => {
  it("tries afresh on the next call, once the cause is fixed", async () => {
    const out = mkdtempSync(join(tmpdir(), "fbm-exp-start-"));
    try {
      mkdirSync(join(out, "settings"));
      writeFileSync(join(out, "settings", "state.json"), "{}");
      const quick = { ...config, nodes: { ...config.nodes, min: 1, waitMs: 50 } };
      const hub = createHub();
      after(() => hub.close()); // its sweep timer would keep the test process alive
      const experiment = createExperiment(quick, { outDir: out, hub });
      await assert.rejects(experiment.runRound(), /already holds a run/);
      rmSync(join(out, "settings"), { recursive: true });
      await assert.rejects(experiment.runRound(), (e: Error) => !/already holds a run/.test(e.message));
      await experiment.close();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
