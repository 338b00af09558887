import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RuntimeFailure } from "../../../src/common/errors.js";
import { createAggregator, createBulyan, minimumUpdates } from "../../../src/researcher/aggregators/index.js";
import { meanAroundMedian } from "../../../src/researcher/aggregators/kinds/bulyan.js";
import { assertTensors, f32, snapshot, update } from "./helpers.js";

const global = f32([0, 0]);

describe("bulyan", () => {
  // n = 7, f = 1: θ = 5 picked by Krum, then per coordinate the β = 3 values closest to their median.
  const honest = [
    update("h1", 1, [[1, 10]]),
    update("h2", 1, [[2, 11]]),
    update("h3", 1, [[3, 12]]),
    update("h4", 1, [[4, 13]]),
    update("h5", 1, [[5, 14]]),
    update("h6", 50, [[6, 15]]),
  ];
  const evil = update("evil", 1_000_000, [[1e6, -1e6]]);

  it("aggregate() leaves the far update out and averages around the median of the picked ones", () => {
    const updates = [...honest, evil];
    const before = snapshot(updates);
    const out = createAggregator({ name: "bulyan", f: 1 }).aggregate({ round: 1, global, updates, state: {} });
    // Krum picks h3, h4, h2, h5 and h1 or h6 (ties go to the first): 1..5 → median 3, β = 3 → mean(2, 3, 4).
    assertTensors(out.params, [[3, 12]]);
    assert.deepEqual(snapshot(updates), before, "inputs unchanged");
  });

  it("ignores sample counts, as Krum does", () => {
    const out = createBulyan({ f: 1 }).aggregate({ round: 1, global, updates: [...honest, evil], state: {} });
    const equal = [...honest, evil].map((u) => ({ ...u, samples: 1 }));
    const same = createBulyan({ f: 1 }).aggregate({ round: 1, global, updates: equal, state: {} });
    assertTensors(out.params, [Array.from(same.params[0])]);
  });

  it("refuses fewer than 4f + 3 updates, and says so at validation time", () => {
    assert.throws(
      () => createBulyan({ f: 1 }).aggregate({ round: 2, global, updates: honest, state: {} }),
      (e) =>
        e instanceof RuntimeFailure && /round 2 with bulyan: f = 1 needs at least 7 updates, got 6/.test(e.message),
    );
    assert.equal(minimumUpdates({ name: "bulyan", f: 2 }), 11);
  });

  it("meanAroundMedian() averages the values nearest the median", () => {
    assert.equal(meanAroundMedian(Float64Array.from([100, 1, 2, 3, -50]), 3), 2);
    assert.equal(meanAroundMedian(Float64Array.from([0, 10, 11, 11.5, 20]), 2), 11.25);
  });
});
