import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { splitRows } from "../../../src/ml/batches.js";
import { createRng, deriveSeed } from "../../../src/ml/rng.js";
import { sgmEpsilon } from "../../../src/privacy/dp/rdp.js";
import { attackPlan, createTrainingNode, type TrainingNode } from "../../support/training-node.js";

// 40 patients, row i has feature i set (one-hot): after one step of a zero-initialised linear model,
// weight i is non-zero exactly when patient i was in the batch. The researcher reads the batch off the update.
const N = 40;
const B = 4;
const rows = Array.from({ length: N }, (_, i) => [...Array.from({ length: N }, (_, j) => (i === j ? 1 : 0)), 1]);
const header = [...Array.from({ length: N }, (_, j) => `f${j}`), "label"];
const plan = attackPlan([{ dense: { units: 1, useBias: false, kernelInitializer: "zeros" } }], "meanSquaredError");
// Tiny noise so that membership is legible from the weights (the ledger charges it: no budget on this node).
const dp = { mode: "local" as const, noiseMultiplier: 1e-3, clipNorm: 1, delta: 1e-5 };
const seed = 42;
const round = 3;

/** The batch the researcher predicts from the seed and round, as the node's seeded shuffle would draw it. */
function predictedBatch(): string {
  const order = Int32Array.from(splitRows(N, 0, seed).train);
  createRng(deriveSeed(seed, "batches", round)).shuffle(order);
  return [...order.subarray(0, B)].sort((a, b) => a - b).join(",");
}

describe("attack: a batch schedule the researcher can predict", () => {
  let node: TrainingNode;
  const observed: string[] = [];
  before(async () => {
    node = await createTrainingNode({ header, rows });
    // The same seed and round every time: the researcher's best chance to know the batch.
    for (let run = 0; run < 60; run++) {
      const { reply } = await node.train({ plan, args: { batchSize: B, updates: 1, seed, dp }, round });
      assert.ok(reply.kind === "train", reply.kind === "error" ? reply.message : "");
      const kernel = reply.result.params.find((p) => p.name === "0.dense.kernel")!;
      // Each chosen row's clipped gradient moves its weight by lr·C / B = 0.25; the noise by ~2.5e-4.
      observed.push([...kernel.data].flatMap((w, i) => (Math.abs(w) > 0.1 ? [i] : [])).join(","));
    }
  });
  after(() => node.close());

  it("the seed and round do not tell which rows a step used", () => {
    const predicted = predictedBatch();
    const hits = observed.filter((batch) => batch === predicted).length;
    // A Poisson sample equals a given 4-row set with probability q⁴(1−q)³⁶ ≈ 2e-6.
    assert.ok(hits <= 1, `the researcher predicted ${hits} of ${observed.length} batches`);
  });

  it("two runs with the same seed and round use different rows", () => {
    const distinct = new Set(observed).size;
    assert.ok(distinct > 50, `${distinct} different batches in ${observed.length} runs`);
  });

  it("each row is in a batch with probability q = B / N, and batch sizes vary (Poisson sampling)", () => {
    const sizes = observed.map((batch) => (batch === "" ? 0 : batch.split(",").length));
    const trials = observed.length * N;
    const frequency = sizes.reduce((a, b) => a + b, 0) / trials;
    const q = B / N;
    const sd = Math.sqrt((q * (1 - q)) / trials);
    assert.ok(Math.abs(frequency - q) < 5 * sd, `inclusion frequency ${frequency}, q ${q}`);
    assert.ok(new Set(sizes).size > 2, `batch sizes ${[...new Set(sizes)]}`);
  });

  it("the ledger charges exactly the mechanism run: SGM at q = B / training rows, epochs × ⌈N / B⌉ steps", async () => {
    const args = { epochs: 2, updates: 0, batchSize: 6, testRatio: 0.25, seed: 7, dp: { ...dp, noiseMultiplier: 1.3 } };
    const { reply } = await node.train({ plan, args, round: 1, experiment: "charge" });
    assert.ok(reply.kind === "train", reply.kind === "error" ? reply.message : "");
    const trainRows = reply.result.sampleCount;
    assert.equal(trainRows, N - Math.round(N * 0.25));
    const steps = 2 * Math.ceil(trainRows / 6);
    const expected = sgmEpsilon({ q: 6 / trainRows, noiseMultiplier: 1.3, steps, delta: dp.delta });
    // A fresh experiment row on the node's ledger: this round is all it has spent.
    assert.ok(Math.abs((reply.result.privacy?.epsilon ?? 0) - expected) < 1e-12, `ε ${reply.result.privacy?.epsilon}`);
  });
});
