import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFedAvgM } from "../../../src/researcher/aggregators/index.js";
import { assertTensors, f32, update } from "./helpers.js";

describe("fedavgm", () => {
  const fedavgm = createFedAvgM({ serverLr: 0.5, momentum: 0.5 });

  it("aggregate() steps along the server momentum across rounds", () => {
    // Round 1: mean (weights 1/4, 3/4) = [[5,1],[3]], Δ = [[5,1],[2]] = v, x = x + 0.5·v.
    const r1 = fedavgm.aggregate({
      round: 1,
      global: f32([0, 0], [1]),
      state: {},
      updates: [update("a", 1, [[2, 4], [3]]), update("b", 3, [[6, 0], [3]])],
    });
    assertTensors(r1.params, [[2.5, 0.5], [2]]);
    assert.deepEqual(r1.state, { velocity: [[5, 1], [2]] });

    // Round 2: mean = [[3.5,1.5],[3]], Δ = [[1,1],[1]], v = 0.5·[[5,1],[2]] + Δ = [[3.5,1.5],[2]].
    const r2 = fedavgm.aggregate({
      round: 2,
      global: r1.params,
      state: JSON.parse(JSON.stringify(r1.state)),
      updates: [update("a", 1, [[4.5, 0.5], [2]]), update("b", 1, [[2.5, 2.5], [4]])],
    });
    assertTensors(r2.params, [[4.25, 1.25], [3]]);
    assert.deepEqual(r2.state, { velocity: [[3.5, 1.5], [2]] });
  });

  it("aggregate() with momentum 0 and server_lr 1 equals fedavg", () => {
    const out = createFedAvgM({ serverLr: 1, momentum: 0 }).aggregate({
      round: 1,
      global: f32([7, 7], [7]),
      state: { velocity: [[100, 100], [100]] },
      updates: [update("a", 1, [[2, 4], [3]]), update("b", 3, [[6, 0], [3]])],
    });
    assertTensors(out.params, [[5, 1], [3]]);
  });

  it("aggregate() refuses a saved state shaped unlike the model", () => {
    assert.throws(
      () =>
        fedavgm.aggregate({
          round: 3,
          global: f32([0, 0], [1]),
          state: { velocity: [[1, 2, 3]] },
          updates: [update("a", 1, [[2, 4], [3]])],
        }),
      { message: 'Cannot aggregate with fedavgm: its saved state "velocity" does not match the model' },
    );
  });
});
