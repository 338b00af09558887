import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parsePlan } from "../../src/ml/plan.js";
import { contributionKey, createContributionRecord } from "../../src/node/contribution-record.js";
import type { TrainTaskBody } from "../../src/wire/index.js";

const plan = parsePlan({
  data: { target: "label" },
  model: [{ dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 },
});

function task(change: Partial<TrainTaskBody> = {}, args: Partial<TrainTaskBody["args"]> = {}): TrainTaskBody {
  return {
    kind: "train",
    datasetId: "ds_1",
    planId: "p",
    planJson: "{}",
    round: 1,
    params: [{ name: "w", shape: [2], dtype: "float32", data: Float32Array.of(0.5, -0.25) }],
    args: {
      epochs: 1,
      updates: 0,
      batchSize: 8,
      testRatio: 0.2,
      testOnGlobal: true,
      testOnLocal: true,
      metrics: ["accuracy"],
      seed: 1,
      fedproxMu: 0,
      ...args,
    },
    ...change,
  };
}

describe("contribution key", () => {
  const key = (t: TrainTaskBody, sha = "abc") => contributionKey(t, plan, sha);

  it("ignores what does not change the update: metrics, test_on, the stated DP sampling rate", () => {
    assert.equal(key(task({}, { metrics: ["f1"], testOnLocal: false })), key(task()));
    const dp = { mode: "central" as const, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };
    assert.equal(key(task({}, { dp: { ...dp, sampleRate: 0.5 } })), key(task({}, { dp: { ...dp, sampleRate: 1 } })));
  });

  it("changes with the dataset, the seed, the round and every bit of the global model", () => {
    const base = key(task());
    assert.notEqual(key(task(), "abd"), base);
    assert.notEqual(key(task({}, { seed: 2 })), base);
    assert.notEqual(key(task({ round: 2 })), base);
    const nudged = task();
    nudged.params[0].data[1] = Math.fround(-0.25 + 2 ** -26);
    assert.notEqual(key(nudged), base);
  });
});

describe("contribution record", () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-contributions-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "secagg-contributions.json");

  it("one key, one set of peers and one set of survivors, across restarts", async () => {
    const first = await createContributionRecord({ path });
    assert.equal(await first.train("s1", "k", ["b", "a", "c", "d"]), undefined);
    assert.equal(await first.reveal("s1", ["a", "b", "c"]), undefined);
    // The same peers and survivors again: the same sum, nothing new to learn.
    assert.equal(await first.train("s2", "k", ["a", "b", "c", "d"]), undefined);
    assert.equal(await first.reveal("s2", ["c", "b", "a"]), undefined);
    await first.close();

    const later = await createContributionRecord({ path });
    assert.match((await later.train("s3", "k", ["a", "b", "c"])) ?? "", /masked with 4 node\(s\) \(a, b, c, d\)/);
    assert.equal(await later.train("s4", "k", ["a", "b", "c", "d"]), undefined);
    assert.match((await later.reveal("s4", ["a", "b", "c", "d"])) ?? "", /over 3 node\(s\) \(a, b, c\)/);
    assert.equal(await later.train("s5", "other", ["a", "b"]), undefined);
    // A session this node did not train in holds nothing of its own.
    assert.equal(await later.reveal("unknown", ["a"]), undefined);
    await later.close();
  });
});
