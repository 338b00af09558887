import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { parsePlan, planId, planJson } from "../../../src/ml/plan.js";
import type { TrainingArgs } from "../../../src/ml/types.js";
import type { DatasetEntry } from "../../../src/node/catalogue/catalogue.js";
import { validationRefusal } from "../../../src/node/privacy/validation-policy.js";
import type { ReplyBody } from "../../../src/wire/index.js";
import { csvText, curiousNode } from "./curious-node.js";

// The curious researcher validates a model of its choice on a node's test split. It controls
// test_ratio and the seed. 60 patients; the label y is a value only the node holds.
const rows = Array.from({ length: 60 }, (_, i) => [((i * 7) % 13) / 13, 40 + ((i * 37) % 60) + i / 100]);
const labels = new Set(rows.map((r) => r[1]));
const plan = parsePlan({
  data: { target: "y" },
  model: [{ dense: { units: 1 } }],
  loss: "meanSquaredError",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});
const params = (() => {
  const model = buildModel(plan, [1], { seed: 1 });
  const p = getParams(model);
  model.dispose();
  return p;
})();

/** A validation-only task: the final evaluation of the exported model, as the researcher sends it. */
function validate(datasetId: string, args: Partial<TrainingArgs>) {
  return {
    kind: "train" as const,
    datasetId,
    planId: planId(plan),
    planJson: planJson(plan),
    args: {
      epochs: 0,
      updates: 0,
      batchSize: 8,
      testRatio: 0.001,
      testOnGlobal: true,
      testOnLocal: false,
      metrics: [],
      seed: 1,
      fedproxMu: 0,
      ...args,
    },
    round: 1,
    params,
  };
}

function metricsOf(reply: ReplyBody) {
  assert.equal(reply.kind, "train", JSON.stringify(reply).slice(0, 300));
  return reply.kind === "train" ? reply.result.globalMetrics : undefined;
}

describe("attack: a tiny validation split reads a patient's label through the metrics", async () => {
  const node = await curiousNode(csvText(["x", "y"], rows), { minCount: 10, target: "y" });
  after(node.close);

  it("test_ratio 0.001 gives no 1-row split: the test rows are at least min_count, so Σy is no one's label", async () => {
    const metrics = metricsOf(await node.run(validate(node.entry.id, { testRatio: 0.001 })));
    assert.ok(metrics?.counts?.sums, "the node validates on its test split");
    assert.ok(metrics.counts.rows >= 10, `the split holds ${metrics.counts.rows} row(s), fewer than min_count 10`);
    assert.ok(!labels.has(metrics.counts.sums.y), `Σy ${metrics.counts.sums.y} is one patient's label`);
  });

  it("changing the seed does not move which rows are tested: Σy is the same for every seed", async () => {
    const sums = new Set<number>();
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      sums.add(metricsOf(await node.run(validate(node.entry.id, { seed })))?.counts?.sums?.y ?? Number.NaN);
    }
    assert.equal(sums.size, 1, `the seed moved the test rows: Σy took ${sums.size} values (${[...sums].join(", ")})`);
  });
});

describe("attack: validation on a dataset with a privacy budget is not accounted", async () => {
  const node = await curiousNode(csvText(["x", "y"], rows), { minCount: 10, target: "y", maxEpsilon: 1 });
  after(node.close);

  it("a validation-only task (the final evaluation) is refused with validation_refused, naming the setting", async () => {
    const reply = await node.run(validate(node.entry.id, { testRatio: 0.2 }));
    assert.equal(reply.kind, "error", "the node validated a model on a budgeted dataset");
    assert.equal(reply.kind === "error" && reply.code, "validation_refused");
    assert.match(reply.kind === "error" ? reply.message : "", /test_ratio: 0.*max_epsilon none/);
  });

  it("test_on during a DP training round is refused too; with test_ratio 0 nothing is validated and nothing refused", async () => {
    const dp = { mode: "local" as const, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
    const training = { epochs: 1, testRatio: 0.2, testOnLocal: true, dp };
    const refused = await node.run(validate(node.entry.id, training));
    assert.equal(refused.kind === "error" && refused.code, "validation_refused");
    // Without DP the round is refused as privacy_budget first (the node trains on it only under local DP).
    const plain = await node.run(validate(node.entry.id, { ...training, dp: undefined }));
    assert.equal(plain.kind === "error" && plain.code, "privacy_budget");
    const approval = await node.run(validate(node.entry.id, { testRatio: 0 }));
    assert.equal(approval.kind, "train", "a task that validates nothing is not refused for validation");
  });
});

describe("attack: test_on under distributed DP (central dp with secagg) on a budgeted dataset", () => {
  it("is refused as validation_refused: the masked sum of test metrics is no more covered by ε than plain ones", () => {
    const entry = { id: "ds_1", name: "ward", sha256: "ab", maxEpsilon: 1 } as DatasetEntry;
    const dp = { mode: "central" as const, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
    const args = { ...validate("ds_1", {}).args, epochs: 1, testRatio: 0.2, testOnGlobal: true, dp };
    assert.equal(validationRefusal(entry, args, "none", { secagg: true })?.code, "validation_refused");
    // Central DP without secure aggregation: training itself is refused first (privacy_budget).
    assert.equal(validationRefusal(entry, args, "none", { secagg: false }), undefined);
  });
});
