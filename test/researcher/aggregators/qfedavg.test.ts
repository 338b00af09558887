import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RuntimeFailure } from "../../../src/common/errors.js";
import { createAggregator, createQFedAvg, parseAggregatorConfig } from "../../../src/researcher/aggregators/index.js";
import { assertTensors, f32, update } from "./helpers.js";

const global = f32([1, 1], [0]);
const withLoss = (nodeId: string, loss: number, params: number[][]) => ({ ...update(nodeId, 1, params), loss });

describe("qfedavg", () => {
  const a = withLoss("a", 1, [[3, 1], [2]]);
  const b = withLoss("b", 4, [[1, 5], [-2]]);

  it("q = 0 is the unweighted mean of the updates, whatever the losses and samples", () => {
    const out = createQFedAvg({ q: 0, lr: 0.5 }).aggregate({
      round: 1,
      global,
      updates: [a, { ...b, samples: 99 }],
      state: {},
    });
    assertTensors(out.params, [[2, 3], [0]]);
  });

  it("q > 0 follows Algorithm 2: the node with the higher loss pulls harder", () => {
    const q = 1;
    const lr = 0.5;
    const L = 1 / lr;
    // By hand: Δwₖ = L(x − wₖ), Δₖ = Fₖ^q Δwₖ, hₖ = q Fₖ^(q−1) ‖Δwₖ‖² + L Fₖ^q.
    const dwA = [L * (1 - 3), L * (1 - 1), L * (0 - 2)];
    const dwB = [L * (1 - 1), L * (1 - 5), L * (0 + 2)];
    const norm2 = (v: number[]) => v.reduce((s, x) => s + x * x, 0);
    const h = q * norm2(dwA) + L * 1 + q * 4 ** (q - 1) * norm2(dwB) + L * 4;
    const step = dwA.map((d, i) => (1 * d + 4 * dwB[i]) / h);
    const out = createAggregator({ name: "qfedavg", q, lr }).aggregate({
      round: 1,
      global,
      updates: [a, b],
      state: {},
    });
    assertTensors(out.params, [[1 - step[0], 1 - step[1]], [0 - step[2]]], 1e-5);
    // Towards b more than a plain mean would go: b's loss is 4 times a's.
    assert.ok(out.params[0][1] - 1 > 0 && out.params[1][0] < 0);
  });

  it("refuses an update without the loss of the global model", () => {
    assert.throws(
      () =>
        createQFedAvg({ q: 1, lr: 0.1 }).aggregate({
          round: 3,
          global,
          updates: [a, update("old", 1, [[0, 0], [0]])],
          state: {},
        }),
      (e) =>
        e instanceof RuntimeFailure &&
        /round 3 with qfedavg: node "old" sent no loss of the global model/.test(e.message),
    );
  });

  it("asks the nodes for the loss of the global model, and has Flower's defaults", () => {
    const config = parseAggregatorConfig({ name: "qfedavg" });
    assert.deepEqual(config, { name: "qfedavg", q: 0.2, lr: 0.1 });
    assert.deepEqual(createAggregator(config).nodeArgs({ global, state: {} }), { globalLoss: true });
  });
});
