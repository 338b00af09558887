import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFedOpt, type FedOptVariant } from "../../../src/researcher/aggregators/fedopt.js";
import type { AggregatorState } from "../../../src/researcher/aggregators/index.js";
import { assertTensors, f32, update } from "./helpers.js";

// η = 0.375, β1 = 0.5, β2 = 0.75, τ = 0.5. Round 1: Δ = [[2,-1],[0.5]]; round 2: Δ = [[-2,1],[0.125]].
// Expected values worked out by hand (m, v, then x + η·m/(√v + τ)) and written as literals.
const options = { serverLr: 0.375, beta1: 0.5, beta2: 0.75, tau: 0.5 };
const global = f32([0, 0], [1]);
const round1 = [update("a", 1, [[4, -1], [1]]), update("b", 1, [[0, -1], [2]])]; // mean [[2,-1],[1.5]]
const delta2 = [[-2, 1], [0.125]];
const round2 = (x: Float32Array[]) => [
  update(
    "a",
    5,
    x.map((t, i) => Array.from(t, (v, k) => v + delta2[i][k])),
  ),
];

const cases: { variant: FedOptVariant; x1: number[][]; v1: number[][]; x2: number[][]; v2: number[][] }[] = [
  {
    variant: "fedadam",
    x1: [[0.25, -0.1875], [1.125]],
    v1: [[1, 0.25], [0.0625]],
    x2: [[0.14714054, -0.10678109], [1.22193637]],
    v2: [[1.75, 0.4375], [0.05078125]],
  },
  // Yogi: v grows by (1−β2)Δ² where Δ² > v, shrinks where Δ² < v (the last coordinate of round 2).
  {
    variant: "fedyogi",
    x1: [[0.25, -0.1875], [1.125]],
    v1: [[1, 0.25], [0.0625]],
    x2: [[0.15204855, -0.10983496], [1.21975293]],
    v2: [[2, 0.5], [0.05859375]],
  },
  {
    variant: "fedadagrad",
    x1: [[0.15, -0.125], [1.09375]],
    v1: [[4, 1], [0.25]],
    x2: [[0.09366709, -0.07602427], [1.16299691]],
    v2: [[8, 2], [0.265625]],
  },
];

describe("fedadam, fedyogi, fedadagrad", () => {
  for (const { variant, x1, v1, x2, v2 } of cases) {
    it(`${variant} aggregate() carries m and v from round to round`, () => {
      const opt = createFedOpt(variant, options);
      const r1 = opt.aggregate({ round: 1, global, updates: round1, state: {} });
      assertTensors(r1.params, x1);
      assert.deepEqual(r1.state, { m: [[1, -0.5], [0.25]], v: v1 });

      const r2 = opt.aggregate({ round: 2, global: r1.params, updates: round2(r1.params), state: r1.state });
      assertTensors(r2.params, x2);
      assertTensors(f32(...(r2.state.m as number[][])), [[-0.5, 0.25], [0.1875]]);
      assertTensors(f32(...(r2.state.v as number[][])), v2);
    });

    it(`${variant} resumes from a JSON round-trip of its state with the same result`, () => {
      const opt = createFedOpt(variant, options);
      const r1 = opt.aggregate({ round: 1, global, updates: round1, state: {} });
      const saved: AggregatorState = JSON.parse(JSON.stringify(r1.state));
      const direct = opt.aggregate({ round: 2, global: r1.params, updates: round2(r1.params), state: r1.state });
      const resumed = createFedOpt(variant, options).aggregate({
        round: 2,
        global: r1.params,
        updates: round2(r1.params),
        state: saved,
      });
      assert.deepEqual(resumed.params, direct.params);
      assert.deepEqual(resumed.state, direct.state);
    });
  }

  it("aggregate() leaves the state it was given untouched", () => {
    const opt = createFedOpt("fedadam", options);
    const state = { m: [[1, 1], [1]], v: [[1, 1], [1]] };
    opt.aggregate({ round: 2, global, updates: round1, state });
    assert.deepEqual(state, { m: [[1, 1], [1]], v: [[1, 1], [1]] });
  });
});
