import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AggregatorState, createScaffold } from "../../../src/researcher/aggregators/index.js";
import { assertTensors, f32, update } from "./helpers.js";

describe("scaffold", () => {
  const scaffold = createScaffold({ serverLr: 0.5 });
  const global = f32([1, 1], [2]);
  const a = update("a", 1, [[3, 1], [2]], [[1, 1], [0]]);
  const b = update("b", 3, [[1, 5], [6]], [[3, -1], [2]]);

  const named = (ts: Float32Array[]) =>
    ts.map((data, i) => ({ name: `t${i}`, shape: [data.length], dtype: "float32" as const, data }));
  const sentControl = (params: Float32Array[], state: AggregatorState) =>
    scaffold.exchange!.outgoing(named(params), state).slice(params.length);

  it("exchange sends a zero control variate named scaffold.c:<param> before the first round", () => {
    const control = sentControl(global, {});
    assert.deepEqual(
      control.map((t) => t.name),
      ["scaffold.c:t0", "scaffold.c:t1"],
    );
    assertTensors(
      control.map((t) => t.data as Float32Array),
      [[0, 0], [0]],
    );
  });

  it("exchange expects Δcᵢ after the trained model and reads it back as controlDelta", () => {
    const expected = scaffold.exchange!.expected(named(global));
    assert.deepEqual(
      expected.map((t) => t.name),
      ["t0", "t1", "scaffold.dc:t0", "scaffold.dc:t1"],
    );
    const read = scaffold.exchange!.read(
      { nodeId: "a", samples: 2, tensors: [...a.params, ...a.controlDelta!] },
      named(global),
    );
    assert.deepEqual(read, { nodeId: "a", samples: 2, params: a.params, controlDelta: a.controlDelta });
  });

  it("aggregate() moves x by server_lr times the weighted mean change and c by ΣΔcᵢ / N", () => {
    // Weighted mean (1/4, 3/4) = [[1.5,4],[5]], Δ = [[0.5,3],[3]]; c = ([[1,1],[0]] + [[3,-1],[2]]) / 4.
    const r1 = scaffold.aggregate({ round: 1, global, updates: [a, b], state: {}, totalNodes: 4 });
    assertTensors(r1.params, [[1.25, 2.5], [3.5]]);
    assert.deepEqual(r1.state, { control: [[1, 0], [0.5]] });
    assertTensors(
      sentControl(r1.params, r1.state).map((t) => t.data as Float32Array),
      [[1, 0], [0.5]],
    );

    // Round 2, one node of four answers: c += [[4,4],[4]] / 4.
    const only = update("a", 1, [[2.25, 2.5], [3.5]], [[4, 4], [4]]);
    const r2 = scaffold.aggregate({
      round: 2,
      global: r1.params,
      updates: [only],
      state: JSON.parse(JSON.stringify(r1.state)),
      totalNodes: 4,
    });
    assertTensors(r2.params, [[1.75, 2.5], [3.5]]);
    assert.deepEqual(r2.state, { control: [[2, 1], [1.5]] });
  });

  it("aggregate() takes N as the number of updates when totalNodes is not given", () => {
    const out = scaffold.aggregate({ round: 1, global, updates: [a, b], state: {} });
    assert.deepEqual(out.state, { control: [[2, 0], [1]] });
  });

  it("aggregate() refuses an update without a control variate change", () => {
    assert.throws(
      () => scaffold.aggregate({ round: 2, global, updates: [a, update("c", 1, [[1, 1], [1]])], state: {} }),
      {
        message:
          'Cannot aggregate round 2 with scaffold: node "c" sent no control variate change shaped like the model',
      },
    );
  });

  it("aggregate() refuses more updates than nodes in the federation", () => {
    assert.throws(
      () => scaffold.aggregate({ round: 2, global, updates: [a, b], state: {}, totalNodes: 1 }),
      /2 updates from a federation of 1 nodes/,
    );
  });
});
