import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAggregator, createFedAvg } from "../../../src/researcher/aggregators/index.js";
import { assertTensors, f32, update } from "./helpers.js";

// Three tensors of lengths 3, 2 and 1; node b has three times the samples of node a (weights 1/4, 3/4).
const global = f32([0, 0, 0], [0, 0], [0]);
const a = update("a", 10, [[1, 2, 3], [4, 5], [6]]);
const b = update("b", 30, [[5, 6, 7], [0, 1], [10]]);

describe("fedavg", () => {
  it("aggregate() weights updates by sample count", () => {
    const out = createFedAvg().aggregate({ round: 1, global, updates: [a, b], state: {} });
    assertTensors(out.params, [[4, 5, 6], [1, 2], [9]]);
    assert.deepEqual(out.state, {});
  });

  it("aggregate() of a single node returns a copy of its parameters", () => {
    const out = createFedAvg().aggregate({ round: 1, global, updates: [a], state: {} });
    assertTensors(out.params, [[1, 2, 3], [4, 5], [6]]);
    assert.notEqual(out.params[0], a.params[0]);
  });

  it("aggregate() gives no weight to an update with zero samples", () => {
    const out = createFedAvg().aggregate({
      round: 1,
      global,
      updates: [a, update("z", 0, [[9, 9, 9], [9, 9], [9]])],
      state: {},
    });
    assertTensors(out.params, [[1, 2, 3], [4, 5], [6]]);
  });

  it("aggregate() refuses updates that carry no samples at all", () => {
    const zero = update("z", 0, [[9, 9, 9], [9, 9], [9]]);
    assert.throws(() => createFedAvg().aggregate({ round: 4, global, updates: [zero], state: {} }), {
      message: "Cannot aggregate round 4 with fedavg: the updates carry no samples",
    });
  });

  it("nodeArgs() asks nothing of the nodes", () => {
    assert.deepEqual(createFedAvg().nodeArgs({ global, state: {} }), {});
  });
});

describe("fedprox", () => {
  const fedprox = createAggregator({ name: "fedprox", mu: 0.1 });

  it("nodeArgs() hands mu and the extension's name to the train tasks", () => {
    assert.deepEqual(fedprox.nodeArgs({ global, state: {} }), { fedproxMu: 0.1, extension: "fedprox" });
  });

  it("aggregate() averages like fedavg on the server", () => {
    const out = fedprox.aggregate({ round: 1, global, updates: [a, b], state: {} });
    assertTensors(out.params, [[4, 5, 6], [1, 2], [9]]);
    assert.equal(fedprox.name, "fedprox");
  });
});
